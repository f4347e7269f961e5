"""Loading a dataset folder: find, read and validate every export, then link them."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..progress import status
from .dates import DateOrder, DatePolicy
from .description import DatasetDescription, TimeAxis, find_description, load_description
from .errors import FileRejected, UsageError
from .readers import SUFFIXES, ColumnMap, find_export, load_column_map, read_export
from .schema import EXPORTS, REQUIRED_EXPORTS, TableSchema, load_schemas
from ._chunks import give_back_memory, recover_original_text, validate_in_slices
from .validate import ExportResult, check_links, validate_read

__all__ = ["Dataset", "load_dataset"]


@dataclass
class Dataset:
    """Every export of a folder, validated: accepted rows, quarantined rows and reports.

    Attributes
    ----------
    folder : Path
        The dataset folder as given.
    exports : dict
        :class:`~outcomes.io.validate.ExportResult` by export name, in
        :data:`~outcomes.io.schema.EXPORTS` order (absent optional exports included).
    options : dict
        The options used (date order, grace days, column map).
    notes : list of str
        Dataset-level remarks (e.g. links not checked because patients was rejected).
    description : DatasetDescription or None
        The ``dataset.toml`` read (None: the folder was read as the four exports).
    outcomes : OutcomeRegistry
        The outcomes this dataset can hold (built-ins and declared), with labels and directions.
    time : TimeAxis
        The time axis (unit "date" unless the description says otherwise).
    covariates : dict
        Declared covariates: column → "numeric" or "categorical".
    """

    folder: Path
    exports: dict[str, ExportResult]
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    description: DatasetDescription | None = None
    outcomes: Any = None
    time: TimeAxis = field(default_factory=TimeAxis)
    covariates: dict[str, str] = field(default_factory=dict)
    #: SHA-256 of each input file by path, computed once (in a background thread while the files are
    #: parsed: hashlib releases the GIL) and shared by every output's provenance.
    hashes: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.outcomes is None:
            from ..measures.instruments import BUILTIN_OUTCOMES

            self.outcomes = BUILTIN_OUTCOMES

    @property
    def ok(self) -> bool:
        """True when every present export was read and every row accepted."""
        return all(r.status in ("ok", "absent_optional") for r in self.exports.values())

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def frames(self) -> dict[str, pd.DataFrame]:
        """Accepted, typed rows of each export that has any (index = original line)."""
        return {k: r.data for k, r in self.exports.items() if r.data is not None}

    def __getitem__(self, export: str) -> pd.DataFrame | None:
        return self.exports[export].data

    def records(self, *, max_errors: int | None = 1000) -> list[dict[str, Any]]:
        """One JSON-ready record per export (the ``--format json`` contract)."""
        out = []
        for name, r in self.exports.items():
            errors = r.errors
            rec: dict[str, Any] = {
                "export": name,
                "path": str(r.path) if r.path else None,
                "status": r.status,
                "rows_read": r.rows_read,
                "accepted": r.accepted,
                "quarantined": r.quarantined,
                "blank_skipped": r.blank_skipped,
                "filtered": dict(getattr(r, "filtered", {})),
                "reconciles": r.reconciles,
                "detected": r.detected,
                "renamed_columns": r.renamed,
                "extra_columns": [str(c) for c in r.extra_columns],
                "absent_columns": r.absent_columns,
                "notes": r.notes,
                "rejection": None if r.rejection is None else {
                    "line": r.rejection.line, "column": r.rejection.column,
                    "rule": r.rejection.rule, "reason": r.rejection.reason, "hint": r.rejection.hint,
                },
                "errors_total": len(errors),
            }
            shown = errors if not max_errors else errors.head(max_errors)
            rec["errors"] = [
                {"line": int(ln), "column": c, "value": v, "rule": ru, "reason": re_}
                for ln, c, v, ru, re_ in zip(shown["line"], shown["column"], shown["value"],
                                             shown["rule"], shown["reason"])
            ]
            rec["errors_truncated"] = len(shown) < len(errors)
            out.append(rec)
        return out

    def provenance(self) -> dict[str, Any]:
        from .._version import __version__

        files = {name: {"path": str(r.path), "sha256": self._digest(r.path)}
                 for name, r in self.exports.items() if r.path is not None and r.path.is_file()}
        return {
            "package": "outcomes", "version": __version__,
            "created": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
            "options": self.options, "inputs": files,
        }

    def _digest(self, path: Path) -> str:
        """The input's SHA-256: from the hashing thread when it ran, else computed now."""
        known = self.hashes.get(str(path))
        if isinstance(known, Future):
            known = self.hashes[str(path)] = known.result()
        if known is None:
            known = self.hashes[str(path)] = _sha256(path)
        return known


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def load_dataset(
    folder: str | os.PathLike[str],
    *,
    columns: str | os.PathLike[str] | ColumnMap | None = None,
    date_order: DateOrder | None = None,
    grace_days: int = 14,
    schemas: dict[str, TableSchema] | None = None,
    description: str | os.PathLike[str] | DatasetDescription | None = None,
    dates: DatePolicy | None = None,
) -> Dataset:
    """Read and validate the exports in ``folder``.

    Parameters
    ----------
    folder : path
        A folder holding ``patients``, ``assessments`` and optionally
        ``prescriptions`` and ``sessions``, each as ``.csv``, ``.xlsx`` or ``.parquet``.
    columns : path or ColumnMap, optional
        Column-name (and value) mapping, see :class:`~outcomes.io.readers.ColumnMap`.
    date_order : {"dayfirst", "monthfirst"}, optional
        Force the order of day and month for dates like ``03/04/2026``; by
        default it is inferred per file from the data, and values it cannot
        settle are quarantined.
    grace_days : int
        Days after ``discharged_on`` still accepted for sessions and assessments.
    description : path or DatasetDescription, optional
        A ``dataset.toml`` (see ``outcomes describe``) saying how to read the data: layout
        ``exports``, ``long`` or ``wide``, names, recodes, filters, time axis,
        declared outcomes and covariates. Default: ``folder/dataset.toml`` when it
        exists, else the four exports as they are.
    dates : DatePolicy, optional
        Plausible dates (default 1900-01-01 to the day after the run) and the clinic's time
        zone for timestamps written with a UTC offset (default: the machine's zone).

    Returns
    -------
    Dataset
        Input files are never modified.

    Raises
    ------
    UsageError
        When the folder does not exist, the mapping file is wrong or an option is invalid.
    """
    root = Path(folder)
    if not root.exists():
        raise UsageError(f"{root}: no such folder. Give the folder that holds the exports.")
    if not root.is_dir():
        raise UsageError(f"{root} is a file; give the folder that holds the exports "
                         f"({', '.join(EXPORTS)}).")
    if date_order not in (None, "dayfirst", "monthfirst"):
        raise UsageError(f"date_order must be 'dayfirst' or 'monthfirst', not {date_order!r}.")
    if not isinstance(grace_days, int) or grace_days < 0:
        raise UsageError(f"grace_days must be a whole number of days ≥ 0, not {grace_days!r}.")
    schemas = schemas or load_schemas()
    desc = _description(root, description, schemas)
    if desc is not None and columns is not None:
        raise UsageError(f"{desc.label} describes this dataset, so --columns is not used with it: put the "
                         "mapping in its [columns] and [values] tables (or give no description).")
    if desc is not None:
        from .layouts import extend_schemas

        schemas = extend_schemas(schemas, desc)
        if desc.layout == "exports" and (desc.columns or desc.values):
            columns = ColumnMap(columns={"*": {src: dst for dst, src in desc.columns.items()}},
                                values={"*": desc.values}, path=str(desc.path))
    cmap = columns if isinstance(columns, ColumnMap) or columns is None else load_column_map(columns, schemas)
    options = {"date_order": date_order or "infer", "grace_days": grace_days,
               "columns": None if cmap is None else cmap.path,
               "description": None if desc is None else desc.to_dict()}
    dates = dates or DatePolicy()
    options.update(dates.as_dict())
    results: dict[str, ExportResult] = {}
    notes: list[str] = []
    hashes: dict[str, Any] = {}
    hasher = ThreadPoolExecutor(1, thread_name_prefix="outcomes-sha256")
    try:
        if desc is not None and desc.layout != "exports":
            from .layouts import read_declared

            status(f"reading the {desc.layout} layout that {desc.label} describes")
            results, notes = read_declared(desc, schemas, date_order=date_order, dates=dates)
            check_links(results, grace_days=grace_days)
            for r in results.values():
                _keep_quarantined_originals(r)
        else:
            _read_exports(root, schemas, cmap, results, hashes, hasher, date_order=date_order, dates=dates,
                          grace_days=grace_days)
    finally:
        hasher.shutdown(wait=False)
    if results["patients"].data is None:
        notes.append("Links to patients (patient codes, enrolment windows) were not checked "
                     "because the patients export could not be used.")
    extra: dict[str, Any] = {}
    if desc is not None:
        from ..measures.instruments import BUILTIN_OUTCOMES

        extra = {"description": desc, "outcomes": BUILTIN_OUTCOMES.declare(desc.outcomes), "time": desc.time,
                 "covariates": dict(desc.covariates)}
    return Dataset(folder=root, exports=results, options=options, notes=notes, hashes=hashes, **extra)


def _keep_quarantined_originals(result: ExportResult) -> None:
    """Drop the file's text of accepted rows once every rule has run: only quarantined rows are shown
    as written (the accepted rows live on, typed, in ``data``). Halves what a large export holds."""
    if result.original is None:
        return
    lines = result.errors["line"].unique() if not result.errors.empty else []
    result.original = result.original.loc[result.original.index.isin(lines)]
    give_back_memory()


def _read_exports(root: Path, schemas: dict[str, TableSchema], cmap: ColumnMap | None,
                  results: dict[str, ExportResult], hashes: dict[str, Any], hasher: ThreadPoolExecutor, *,
                  date_order: DateOrder | None, dates: DatePolicy, grace_days: int) -> None:
    """Read, validate and link the four exports one by one (patients first).

    Each export's cross-file rules run as soon as it is validated and its accepted rows' text is
    then let go, so at most one export's text is held beside the typed rows.
    """
    for name in EXPORTS:
        path = find_export(root, name)
        if path is None:
            odd = sorted(p.name for p in root.iterdir()
                         if p.is_file() and p.stem.lower() == name and p.suffix.lower() not in SUFFIXES)
            if odd:
                path = root / odd[0]
            elif name in REQUIRED_EXPORTS:
                exc = FileRejected(str(root / f"{name}.csv"), f"the {name} export is missing.",
                                   f"Put {name}.csv (or .xlsx or .parquet) in {root}; it is required.",
                                   rule="required_export")
                results[name] = ExportResult(export=name, path=None, status="rejected", rejection=exc)
                continue
            else:
                results[name] = ExportResult(export=name, path=None, status="absent_optional",
                                             notes=[f"no {name} export: it is optional"])
                continue
        if path.is_file():
            hashes[str(path)] = hasher.submit(_sha256, path)
        status(f"reading and checking {path.name}")
        sliced = None
        try:
            sliced = validate_in_slices(path, schemas[name], column_map=cmap, date_order=date_order, dates=dates)
            if sliced is not None:
                results[name] = sliced
            else:
                read = read_export(path, schemas[name], column_map=cmap)
                results[name] = validate_read(read, schemas[name], date_order=date_order, dates=dates)
                del read
        except FileRejected as exc:
            results[name] = ExportResult(export=name, path=path, status="rejected", rejection=exc)
        if name != "patients" and "patients" in results:  # patients come first (EXPORTS order)
            status(f"{path.name}: checking every row's patient and enrolment window")
            check_links({"patients": results["patients"], name: results[name]}, grace_days=grace_days)
        if sliced is not None:  # rows quarantined by the key and link rules: their text, read back in one pass
            recover_original_text(sliced, schemas[name])
        if name != "patients":
            _keep_quarantined_originals(results[name])
    _keep_quarantined_originals(results["patients"])


def _description(root: Path, given: str | os.PathLike[str] | DatasetDescription | None,
                 schemas: dict[str, TableSchema]) -> DatasetDescription | None:
    """The description given, else ``root/dataset.toml`` when it exists, else None."""
    if isinstance(given, DatasetDescription):
        return given
    if given is not None:
        return load_description(given, schemas=schemas)
    found = find_description(root)
    return None if found is None else load_description(found, schemas=schemas)
