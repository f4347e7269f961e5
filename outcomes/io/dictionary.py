"""The data dictionary (``docs/data-dictionary.md``), generated from the schema files.

Regenerate with ``make docs`` (``python -m outcomes.io.dictionary > docs/data-dictionary.md``);
a test fails when the committed file differs from what the schemas say.
"""

from __future__ import annotations

from .schema import EXPORTS, REQUIRED_EXPORTS, Field, TableSchema, load_schemas

__all__ = ["render_dictionary"]


def _constraints(f: Field, schema: TableSchema) -> str:
    bits = []
    if f.required:
        bits.append("required")
    if f.unique or schema.primary_key == (f.name,):
        bits.append("unique")
    if f.minimum is not None or f.maximum is not None:
        bits.append(f.range_text)
    if f.enum:
        bits.append("one of " + ", ".join(f"`{e}`" for e in f.enum))
    if f.pattern:
        bits.append(f"pattern `{f.pattern}`")
    if f.max_length:
        bits.append(f"at most {f.max_length} characters")
    return "; ".join(bits) or "—"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_dictionary(schemas: dict[str, TableSchema] | None = None) -> str:
    """Markdown describing every export, field by field."""
    schemas = schemas or load_schemas()
    out = [
        "# Data dictionary",
        "",
        "Generated from `data/schemas/*.schema.json` by `make docs`; do not edit by hand.",
        "",
        "A dataset is a folder with up to four exports, each as `.csv`, `.xlsx` or `.parquet`.",
        f"Required: {', '.join(REQUIRED_EXPORTS)}. Types: `date` is a calendar date "
        "(`YYYY-MM-DD`, or day/month order settled per file), `datetime` a date with an optional "
        "time, `boolean` true/false (also yes/no, y/n, 1/0).",
        "",
    ]
    for name in EXPORTS:
        s = schemas[name]
        out += [f"## {s.title or name} (`{name}`)", "", s.description, ""]
        out.append(f"- Primary key: {', '.join(f'`{k}`' for k in s.primary_key) or '—'}")
        for fk in s.foreign_keys:
            out.append(f"- Foreign key: `{', '.join(fk.fields)}` → `{fk.resource}.{', '.join(fk.reference_fields)}`")
        if s.at_least_one_of:
            out.append(f"- Each row needs at least one of: {', '.join(f'`{c}`' for c in s.at_least_one_of)}")
        out.append("- Read as missing: " + ", ".join(f"`{v}`" if v else "(empty)" for v in s.missing_values))
        out += ["", "| column | type | unit | constraints | description |", "|---|---|---|---|---|"]
        for f in s.fields:
            out.append(f"| `{f.name}` | {f.type} | {_cell(f.unit or '—')} | {_cell(_constraints(f, s))} "
                       f"| {_cell(f.description)} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(render_dictionary(), end="")
