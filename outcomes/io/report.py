"""The validation report: text for the terminal, JSON for machines, HTML and CSV files for people."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..progress import status
from .dataset import Dataset
from .schema import load_schemas
from .writers import atomic_open, atomic_write_text, output_path, prepare_out_dir, write_frame_csv

__all__ = ["describe_detected", "validation_document", "validation_text", "validation_html", "write_validation"]

_STATUS_WORDS = {
    "ok": "all rows accepted",
    "problems": "rows quarantined",
    "rejected": "file rejected",
    "absent_optional": "not supplied (optional)",
}


def validation_document(dataset: Dataset, *, max_errors: int | None = 1000,
                        outputs: dict[str, str] | None = None,
                        provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document printed by ``outcomes validate --format json``.

    ``provenance``: :meth:`Dataset.provenance` when already computed (it hashes every input).
    """
    return {
        "dataset": str(dataset.folder),
        "ok": dataset.ok,
        "exit_code": dataset.exit_code,
        "exports": dataset.records(max_errors=max_errors),
        "notes": dataset.notes,
        "outputs": outputs or {},
        "provenance": provenance or dataset.provenance(),
    }


def describe_detected(detected: dict[str, Any]) -> str:
    """What a reader found, in words: ``CSV, UTF-8, delimiter ';' with decimal commas, dates day-first``."""
    bits = [str(detected.get("format", "")).upper()]
    for key in ("encoding", "sheet"):
        if detected.get(key):
            bits.append(("sheet " if key == "sheet" else "") + str(detected[key]))
    if detected.get("delimiter"):
        bits.append(f"delimiter {detected['delimiter']!r}"
                    + (" with decimal commas" if detected.get("decimal") == "," else ""))
    if detected.get("date_order_note"):
        bits.append(f"dates {detected['date_order_note']}")
    if detected.get("excel_serials"):
        bits.append(f"{detected['excel_serials']} Excel date serial(s)")
    return ", ".join(b for b in bits if b)


def _filtered(dataset: Dataset) -> list[str]:
    """Rows dropped by a description's [[filter]] tables, which the reconciliation also counts."""
    return [f"{name}: rows read also include {sum(r.filtered.values()):,} dropped by the filters ("
            + "; ".join(f"{text}: {n:,}" for text, n in r.filtered.items()) + ")."
            for name, r in dataset.exports.items() if getattr(r, "filtered", None)]


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def validation_text(dataset: Dataset, *, max_errors: int | None = 20) -> str:
    """A readable summary for the terminal: reconciliation, what was detected, first problems.

    ``max_errors`` failures are listed in all (None: every one).
    """
    lines = [f"Validated {dataset.folder}", ""]
    head = f"{'export':<14}{'file':<22}{'rows read':>11}{'accepted':>11}{'quarantined':>13}{'blank':>8}  status"
    lines += [head, "-" * len(head)]
    for name, r in dataset.exports.items():
        fname = r.path.name if r.path else "-"
        lines.append(f"{name:<14}{fname[:21]:<22}{r.rows_read:>11,}{r.accepted:>11,}"
                     f"{r.quarantined:>13,}{r.blank_skipped:>8,}  {_STATUS_WORDS[r.status]}")
    lines.append("")
    lines.append("Every file: rows read = accepted + quarantined + blank rows skipped.")
    lines += _filtered(dataset)
    for name, r in dataset.exports.items():
        if r.rejection is not None:
            lines += ["", f"REJECTED {r.rejection.message}"]
            continue
        if r.path is None:
            continue
        lines.append(f"{r.path.name}: read as {describe_detected(r.detected)}")
        for note in r.notes:
            lines.append(f"  - {note}")
        if r.renamed:
            lines.append("  - columns renamed: " + ", ".join(f"{a!r} → {b!r}" for a, b in r.renamed.items()))
    for note in dataset.notes:
        lines += ["", f"Note: {note}"]
    problems = [(r.path.name, row) for r in dataset.exports.values() if r.path is not None
                for row in (r.errors if max_errors is None else r.errors.head(max_errors)).itertuples(index=False)]
    total = sum(len(r.errors) for r in dataset.exports.values())
    if total:
        lines += ["", f"Problems ({_plural(total, 'failure')}; first {min(total, len(problems))} shown, "
                      "every one is in the quarantine files):"]
        for fname, e in problems[:max_errors or len(problems)]:
            lines.append(f"  {fname} line {e.line}, column {e.column} [{e.rule}]: {e.reason}")
    verdict = ("All rows accepted." if dataset.ok else
               "Some rows were quarantined or files rejected: fix them at the source and run again.")
    lines += ["", verdict]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:70rem;
color:#1a1a1a;line-height:1.4;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem} th,td{border:1px solid #bbb;padding:.25rem .5rem;
text-align:left;vertical-align:top;overflow-wrap:anywhere} th{background:#f0f0f0} td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{padding:.6rem 1rem;border-left:6px solid;margin:1rem 0;font-weight:600}
.ok{border-color:#1b7837;background:#eef7ef} .bad{border-color:#b2182b;background:#fbeeee}
.muted{color:#555;font-size:.85rem} code{background:#f4f4f4;padding:0 .2rem}
"""


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    esc = html.escape
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(
            f'<td class="n">{esc(f"{v:,}" if isinstance(v, int) else str(v))}</td>' if i in numeric
            else f"<td>{esc(str(v))}</td>" for i, v in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def validation_html(dataset: Dataset, *, max_rows: int = 200, provenance: dict[str, Any] | None = None) -> str:
    """A self-contained HTML report; every value from the data is escaped.

    ``provenance``: :meth:`Dataset.provenance` when already computed (it hashes every input).
    """
    esc = html.escape
    prov = provenance or dataset.provenance()
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Validation of {esc(str(dataset.folder))}</title><style>{_CSS}</style></head><body>",
        "<h1>Data validation report</h1>",
        f"<p class='muted'>Dataset <code>{esc(str(dataset.folder))}</code> · made {esc(prov['created'])} "
        f"· outcomes {esc(prov['version'])}</p>",
    ]
    if dataset.ok:
        parts.append("<div class='verdict ok'>Every row of every file was accepted.</div>")
    else:
        parts.append("<div class='verdict bad'>Some rows were quarantined or files rejected. Each problem "
                     "below names the file, line, column, value and rule; fix it at the source and run "
                     "the validation again.</div>")
    parts.append("<h2>Reconciliation</h2><p>For every file: rows read = accepted + quarantined + "
                 "blank rows skipped. Nothing is dropped silently.</p>")
    rows = []
    for name, r in dataset.exports.items():
        rows.append([name, r.path.name if r.path else "—", r.rows_read, r.accepted, r.quarantined,
                     r.blank_skipped, _STATUS_WORDS[r.status]])
    parts.append(_table(["export", "file", "rows read", "accepted", "quarantined", "blank rows skipped",
                         "status"], rows, numeric={2, 3, 4, 5}))
    parts += [f"<p>{esc(line)}</p>" for line in _filtered(dataset)]
    for note in dataset.notes:
        parts.append(f"<p><strong>Note:</strong> {esc(note)}</p>")
    for name, r in dataset.exports.items():
        if r.path is None and r.rejection is None:
            continue
        parts.append(f"<h2>{esc(name)}: {esc(r.path.name if r.path else '(missing)')}</h2>")
        if r.rejection is not None:
            parts.append(f"<div class='verdict bad'>Rejected: {esc(r.rejection.reason)} "
                         f"{esc(r.rejection.hint)}</div>")
            continue
        parts.append(f"<p class='muted'>Read as {esc(describe_detected(r.detected))}.</p>")
        items = list(r.notes)
        if r.renamed:
            items.append("columns renamed: " + ", ".join(f"{a} → {b}" for a, b in r.renamed.items()))
        if r.absent_columns:
            items.append("optional columns not in the file: " + ", ".join(r.absent_columns))
        if items:
            parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")
        if r.errors.empty:
            parts.append("<p>No problems.</p>")
            continue
        summary = (r.errors.groupby(["column", "rule"], sort=False)
                   .agg(failures=("line", "size"), example=("reason", "first")).reset_index()
                   .sort_values("failures", ascending=False))
        parts.append("<h3>Problems by column and rule</h3>")
        parts.append(_table(["column", "rule", "failures", "example"],
                            summary[["column", "rule", "failures", "example"]].values.tolist(),
                            numeric={2}))
        shown = r.errors.head(max_rows)
        parts.append(f"<h3>Problems, line by line ({len(shown):,} of {len(r.errors):,} shown; all are in "
                     f"<code>{esc(name)}.quarantine.csv</code>)</h3>")
        parts.append(_table(["line", "column", "value", "rule", "reason"],
                            shown[["line", "column", "value", "rule", "reason"]].values.tolist()))
    parts.append("<h2>Provenance</h2>")
    parts.append(_table(["input", "file", "SHA-256"],
                        [[k, v["path"], v["sha256"]] for k, v in prov["inputs"].items()]))
    parts.append(f"<p class='muted'>Options: {esc(json.dumps(prov['options']))}</p></body></html>")
    return "".join(parts)


#: Formats of the accepted rows' files.
OUT_FORMATS = ("csv", "parquet")


def write_validation(dataset: Dataset, out_dir: str | Path, *, out_format: str = "csv") -> dict[str, str]:
    """Write accepted rows, quarantined rows, ``validation.json`` and ``validation.html``.

    ``validation.json`` lists the files written (``outputs``) by name: they are beside it.

    Parameters
    ----------
    dataset : Dataset
        What :func:`~outcomes.io.load_dataset` returned.
    out_dir : path
        The folder to write into (created when missing).
    out_format : {"csv", "parquet"}
        The accepted rows' files: CSV (ISO dates, formulas neutralised; for people and
        spreadsheets) or Parquet (typed columns: categories, nullable integers, timestamps;
        values exactly as accepted, with no apostrophe before formula-like text, which only a
        spreadsheet opening a CSV needs; about a tenth of the size and twice as fast to write).
        Quarantined rows are always CSV: they hold the text as written, with the reasons, for
        people to correct.

    Returns the written paths by name. Every file is written atomically.
    """
    if out_format not in OUT_FORMATS:
        raise UsageError(f"out_format must be one of {', '.join(OUT_FORMATS)}, not {out_format!r}.")
    out = prepare_out_dir(out_dir)
    schemas = load_schemas()
    written: dict[str, str] = {}
    for name, r in dataset.exports.items():
        p = output_path(out, f"{name}.{out_format}")
        other = output_path(out, f"{name}.{'parquet' if out_format == 'csv' else 'csv'}")
        q = output_path(out, f"{name}.quarantine.csv")
        other.unlink(missing_ok=True)  # an earlier run's accepted rows in the other format would mislead
        if r.data is not None:
            status(f"writing {p.name} ({len(r.data):,} accepted rows)")
            s = schemas[name]
            dates = tuple(f.name for f in s.fields if f.type == "date")
            stamps = tuple(f.name for f in s.fields if f.type == "datetime")
            with atomic_open(p) as fh:
                if out_format == "parquet":
                    _write_parquet(fh, r.data)
                else:
                    write_frame_csv(fh, r.data, date_columns=dates, datetime_columns=stamps)
            written[name] = str(p)
        else:  # files left by an earlier run would mislead
            p.unlink(missing_ok=True)
        if r.quarantined:
            with atomic_open(q) as fh:
                write_frame_csv(fh, r.quarantine())
            written[f"{name}.quarantine"] = str(q)
        else:
            q.unlink(missing_ok=True)
    jpath = output_path(out, "validation.json")
    hpath = output_path(out, "validation.html")
    written["validation.json"] = str(jpath)
    written["validation.html"] = str(hpath)
    status("writing validation.json and validation.html")
    prov = dataset.provenance()  # hashes every input: once for both reports
    # the file lists its companions by name, beside it: absolute paths would name the folder it was written
    # in (the command line writes a whole set in a staging folder, then moves it into --out)
    doc = validation_document(dataset, max_errors=None, outputs={k: Path(v).name for k, v in written.items()},
                              provenance=prov)
    atomic_write_text(jpath, json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    atomic_write_text(hpath, validation_html(dataset, provenance=prov))
    return written


def _write_parquet(fh: Any, frame: Any) -> None:
    """The accepted rows as Parquet with their types (the line numbers are not a column, as in the CSV)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), fh)
