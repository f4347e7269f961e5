"""Reading, validating and writing glide-program exports.

Every public name is importable from here (``from outcomes.io import load_dataset``).
The modules behind them need pandas and pyarrow, so they are imported on first use:
``import outcomes.io`` alone (or ``outcomes.io.errors``) costs nothing, and a command's
``--help`` does not pay for the readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach
from .errors import EXIT_DATA_PROBLEMS, EXIT_OK, EXIT_USAGE, FileRejected, OutcomesError, UsageError

if TYPE_CHECKING:
    from .dataset import Dataset, load_dataset
    from .description import DatasetDescription, DeclaredOutcome, RowFilter, TimeAxis, load_description
    from .readers import ColumnMap, ReadResult, load_column_map, read_export
    from .report import validation_document, validation_html, validation_text, write_validation
    from .schema import EXPORTS, REQUIRED_EXPORTS, SCHEMA_DIR, Field, TableSchema, load_schema, load_schemas
    from .validate import ExportResult, check_links, validate_read

_LAZY = {
    **dict.fromkeys(("Dataset", "load_dataset"), ".dataset"),
    **dict.fromkeys(("DatasetDescription", "DeclaredOutcome", "RowFilter", "TimeAxis", "load_description"),
                    ".description"),
    **dict.fromkeys(("ColumnMap", "ReadResult", "load_column_map", "read_export"), ".readers"),
    **dict.fromkeys(("validation_document", "validation_html", "validation_text", "write_validation"), ".report"),
    **dict.fromkeys(("EXPORTS", "REQUIRED_EXPORTS", "SCHEMA_DIR", "Field", "TableSchema", "load_schema",
                     "load_schemas"), ".schema"),
    **dict.fromkeys(("ExportResult", "check_links", "validate_read"), ".validate"),
}

__all__ = [
    "ColumnMap",
    "Dataset",
    "DatasetDescription",
    "DeclaredOutcome",
    "EXIT_DATA_PROBLEMS",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXPORTS",
    "ExportResult",
    "Field",
    "FileRejected",
    "OutcomesError",
    "REQUIRED_EXPORTS",
    "ReadResult",
    "RowFilter",
    "SCHEMA_DIR",
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

__getattr__, __dir__ = attach(__name__, _LAZY)
