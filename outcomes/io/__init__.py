"""Reading, validating and writing glide-program exports."""

from .dataset import Dataset, load_dataset
from .description import DatasetDescription, DeclaredOutcome, RowFilter, TimeAxis, load_description
from .errors import EXIT_DATA_PROBLEMS, EXIT_OK, EXIT_USAGE, FileRejected, OutcomesError, UsageError
from .readers import ColumnMap, ReadResult, load_column_map, read_export
from .report import validation_document, validation_html, validation_text, write_validation
from .schema import EXPORTS, REQUIRED_EXPORTS, SCHEMA_DIR, Field, TableSchema, load_schema, load_schemas
from .validate import ExportResult, check_links, validate_read

__all__ = [
    "EXIT_DATA_PROBLEMS",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXPORTS",
    "REQUIRED_EXPORTS",
    "SCHEMA_DIR",
    "ColumnMap",
    "Dataset",
    "DatasetDescription",
    "DeclaredOutcome",
    "ExportResult",
    "Field",
    "FileRejected",
    "OutcomesError",
    "ReadResult",
    "RowFilter",
    "TableSchema",
    "TimeAxis",
    "UsageError",
    "check_links",
    "load_column_map",
    "load_dataset",
    "load_description",
    "load_schema",
    "load_schemas",
    "read_export",
    "validate_read",
    "validation_document",
    "validation_html",
    "validation_text",
    "write_validation",
]
