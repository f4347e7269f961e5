"""Builders that break files and paths: CSV structure, encodings, xlsx and Parquet, special files,
mapping, plan and description files, and output folders.
"""

from __future__ import annotations

import codecs
import os
import shutil
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .core import Env, run_in_process, csv_record_count
from .data import text_lines, base_env, edit, header_only, read_csv_rows, write_base

__all__ = [
    "DEEP_JSON",
    "DEEP_TOML",
    "DEEP_TOML_DESC",
    "PLAN_HEAD",
    "PLAN_INJECTION",
    "after_previous_run",
    "after_validate_then",
    "b_beside",
    "b_blank_rows",
    "b_both_formats",
    "b_bytes",
    "b_chmod000",
    "b_data_inside_out",
    "b_demo_inside",
    "b_devices",
    "b_header_only",
    "b_long_out",
    "b_map",
    "b_nul",
    "b_out_data_dotdot",
    "b_out_foreign",
    "b_out_inside_data",
    "b_out_is_data",
    "b_out_symlink_to_data",
    "b_parquet_edit",
    "b_parquet_list",
    "b_plan",
    "b_quoted_newline",
    "b_sessions_special",
    "b_simulate_over_exports",
    "b_special",
    "b_toml",
    "b_unclosed_quote",
    "b_utf16",
    "b_write_target",
    "b_xlsx_formula",
    "b_xlsx_million_rows",
    "b_xlsx_serials",
    "b_xlsx_wide",
    "make_output_name_a_folder",
    "make_output_name_a_symlink_out",
    "many_responders",
    "pq_binary_note",
    "pq_decimal",
    "pq_duplicate_column",
    "pq_inf",
    "pq_set",
    "pq_struct",
    "pq_tz",
    "pq_uint64",
    "pq_year_3000",
    "raw_bom_middle",
    "raw_cp1252",
    "raw_header_newline",
    "raw_huge_note",
    "raw_repeated_header",
    "raw_too_many_fields",
    "raw_unclosed_last",
    "skip_if_root",
    "skip_without_mknod",
]


def b_out_is_data(tmp: Path) -> Env:
    env = base_env(tmp)
    env.out = env.data
    return env


def b_out_inside_data(tmp: Path) -> Env:
    env = base_env(tmp)
    env.out = env.data / "sub"
    return env


def b_data_inside_out(tmp: Path) -> Env:
    outer = tmp / "outer"
    data = write_base(outer / "data")
    return Env(tmp=tmp, data=data, out=outer, inputs=[outer])


def b_out_symlink_to_data(tmp: Path) -> Env:
    env = base_env(tmp)
    link = tmp / "link"
    link.symlink_to(env.data, target_is_directory=True)
    env.out = link
    env.inputs.append(link)
    return env


def b_out_data_dotdot(tmp: Path) -> Env:
    """--out spelled as a path that resolves to the data folder through '..'."""
    env = base_env(tmp)
    (tmp / "elsewhere").mkdir()
    env.out = tmp / "elsewhere" / ".." / "data"
    return env


def b_out_foreign(tmp: Path) -> Env:
    env = base_env(tmp)
    env.out.mkdir()
    (env.out / "my_notes.txt").write_text("not written by outcomes\n")
    env.info["foreign"] = (env.out / "my_notes.txt").read_bytes()
    return env


def after_previous_run(command: str, extra: Sequence[str] = ()) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        first = run_in_process([command, str(env.data), "--out", str(env.out), *extra])
        assert first.code in (0, 1) and not first.crash, f"first run failed: {first.head()}"
        env.info["first"] = sorted(str(p.relative_to(env.out)) for p in env.out.rglob("*"))
        return env
    return build


def after_validate_then(mutate: Callable[[Env], None]) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = after_previous_run("validate")(tmp)
        mutate(env)
        return env
    return build


def make_output_name_a_folder(env: Env) -> None:
    target = env.out / "validation.json"
    target.unlink()
    target.mkdir()
    (target / "keep.txt").write_text("x")


def make_output_name_a_symlink_out(env: Env) -> None:
    outside = env.tmp / "outside.txt"
    outside.write_text("precious, outside the output folder\n")
    (env.out / "patients.csv").unlink()
    (env.out / "patients.csv").symlink_to(outside)
    env.inputs.append(outside)


def b_long_out(length: int) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        env.out = tmp / ("o" * length)
        return env
    return build


def b_simulate_over_exports(tmp: Path) -> Env:
    env = base_env(tmp)
    env.out = env.data
    return env


def b_quoted_newline(terminator: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            i = h.index("note")
            b[4][i] = "first line\nsecond line"
            b[9][i] = "tight,\r\nthen \"better\"\n\nafter a blank line"
        edit(env.data, "sessions", fn, terminator=terminator)
        raw = (env.data / "sessions.csv").read_bytes()
        env.info["physical_lines"] = raw.count(b"\n")
        env.info["records"] = csv_record_count(env.data / "sessions.csv")
        assert env.info["records"] < env.info["physical_lines"] - 1
        return env
    return build


def b_unclosed_quote(tmp: Path) -> Env:
    env = base_env(tmp)
    path = env.data / "sessions.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    line = len(lines) - 30  # 1-based line number of the broken record, ~29 records before the end
    assert lines[line - 1].endswith(",")  # empty note: the quote opens the last field
    lines[line - 1] += '"felt a pull behind the knee'
    path.write_text("\n".join(lines), encoding="utf-8", newline="")
    env.info["line"] = line
    return env


def b_blank_rows(tmp: Path) -> Env:
    env = base_env(tmp)
    path = env.data / "sessions.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    ncol = lines[0].count(",")
    lines.insert(10, "")
    lines.insert(20, "," * ncol)
    lines.insert(30, " " + "," * ncol)
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8", newline="")
    return env


def b_header_only(export: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        header_only(env.data, export)
        return env
    return build


def b_parquet_list(where: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        import pyarrow as pa
        import pyarrow.parquet as pq

        env = base_env(tmp, format="parquet")
        export, column = ("sessions", "tags") if where == "extra" else ("assessments", "patient_id")
        path = env.data / f"{export}.parquet"
        table = pq.read_table(path)
        values = pa.array([["a", "b"] if i % 3 else [] for i in range(table.num_rows)], pa.list_(pa.string()))
        if column in table.column_names:
            table = table.set_column(table.column_names.index(column), column, values)
        else:
            table = table.append_column(column, values)
        pq.write_table(table, path)
        return env
    return build


def b_chmod000(tmp: Path) -> Env:
    env = base_env(tmp)
    os.chmod(env.data / "sessions.csv", 0)
    return env


def skip_if_root() -> str | None:
    return ("tests run as root: chmod 000 does not stop root from reading"
            if hasattr(os, "geteuid") and os.geteuid() == 0 else None)


def b_sessions_special(kind: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        p = env.data / "sessions.csv"
        p.unlink()
        if kind == "folder":
            p.mkdir()
            (p / "x.csv").write_text("a\n1\n")
        elif kind == "fifo":
            os.mkfifo(p)
        elif kind == "dangling":
            p.symlink_to(tmp / "nowhere.csv")
        elif kind == "link_to_dev":
            p.symlink_to("/dev/zero")
        return env
    return build


def b_map(content: bytes | str | None, *, folder: bool = False) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        (tmp / "maps").mkdir()
        path = tmp / "maps" / "map.json"  # not beside --out: that is a case of its own
        if folder:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content or "", encoding="utf-8")
        env.vars["map"] = str(path)
        env.inputs.append(path)
        return env
    return build


def b_plan(content: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        (tmp / "plans").mkdir()
        path = tmp / "plans" / "plan.toml"  # not beside --out: that is a case of its own
        path.write_text(content, encoding="utf-8")
        env.vars["plan"] = str(path)
        env.inputs.append(path)
        return env
    return build


def many_responders(n: int) -> str:
    blocks = "".join(f'[[responders]]\nname = "r{i}"\noutcome = "leg_pain"\nchange_at_most = -{1 + i % 5}\n\n'
                     for i in range(n))
    return 'outcome = "leg_pain"\nendpoint_week = 6\n\n' + blocks


def b_nul(tmp: Path) -> Env:
    env = base_env(tmp)
    path = env.data / "sessions.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    line = 31
    lines[line - 1] += "bad\x00byte"
    path.write_text("\n".join(lines), encoding="utf-8", newline="")
    env.info["line"] = line
    return env


def b_utf16(tmp: Path) -> Env:
    env = base_env(tmp)
    p = env.data / "sessions.csv"
    p.write_bytes(p.read_text(encoding="utf-8").encode("utf-16"))
    return env


def _csv_to_xlsx(csv_path: Path, xlsx_path: Path, formula: tuple[int, str, str] | None = None) -> int | None:
    import openpyxl

    header, body = read_csv_rows(csv_path)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = csv_path.stem
    ws.append(header)
    for r in body:
        ws.append([int(v) if v.isdigit() else (v if v != "" else None) for v in r])
    line = None
    if formula is not None:
        row, col, text = formula
        ws.cell(row=row + 2, column=header.index(col) + 1).value = text  # openpyxl stores no cached value
        line = row + 2
    wb.save(xlsx_path)
    csv_path.unlink()
    return line


def b_xlsx_formula(tmp: Path) -> Env:
    env = base_env(tmp)
    env.info["line"] = _csv_to_xlsx(env.data / "patients.csv", env.data / "patients.xlsx", (2, "age_years", "=40+1"))
    return env


def b_xlsx_wide(tmp: Path) -> Env:
    import openpyxl

    env = base_env(tmp)
    header, body = read_csv_rows(env.data / "patients.csv")
    extra = [f"c{i}" for i in range(10_000 - len(header))]
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("patients")
    ws.append(header + extra)
    for r in body:
        ws.append(r + [1] * len(extra))
    wb.save(env.data / "patients.xlsx")
    (env.data / "patients.csv").unlink()
    return env


DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_TOML = "x = " + "[" * 50_000 + "]" * 50_000 + "\n"


def raw_too_many_fields(text: str) -> str:
    lines = text_lines(text)
    lines[5] += ",x,y,z"
    lines[9] = ",".join(lines[9].split(",")[:5])
    return "\n".join(lines)


def raw_cp1252(text: str) -> bytes:
    lines = text_lines(text)
    lines[6] = lines[6] + "caf\u00e9 na\u00efve"
    raw = "\n".join(lines).encode("cp1252")
    return raw.replace("na\u00efve".encode("cp1252"), b"na\x81ve", 1)


def raw_bom_middle(text: str) -> str:
    lines = text_lines(text)
    lines[7] = lines[7] + "\ufeffnote"
    lines[8] = "\ufeff" + lines[8]
    return "\n".join(lines)


def raw_header_newline(text: str) -> str:
    lines = text_lines(text)
    lines[0] = lines[0].replace("note", '"no\nte"')
    return "\n".join(lines)


def raw_unclosed_last(text: str) -> str:
    lines = [ln for ln in text_lines(text) if ln]
    lines[-1] += '"never closed'
    return "\n".join(lines) + "\n"


def raw_huge_note(text: str) -> str:
    lines = text_lines(text)
    lines[4] += "x" * (5 << 20)
    return "\n".join(lines)


def _xlsx_from_rows(path: Path, sheet: str, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    wb.save(path)


def b_xlsx_serials(tmp: Path) -> Env:
    """sessions.xlsx whose performed_at holds Excel serials out of any range."""
    env = base_env(tmp)
    h, b = read_csv_rows(env.data / "sessions.csv")
    i = h.index("performed_at")
    odd = [99999999, -5, 1e300, 2958466, 0, 60]
    rows = []
    for k, r in enumerate(b):
        r = [int(v) if v.isdigit() else (v or None) for v in r]
        if k % 50 == 7:
            r[i] = odd[(k // 50) % len(odd)]
        rows.append(r)
    _xlsx_from_rows(env.data / "sessions.xlsx", "sessions", h, rows)
    (env.data / "sessions.csv").unlink()
    return env


def b_xlsx_million_rows(tmp: Path) -> Env:
    """patients.xlsx of 1,000,000 one-cell rows (~150 KB zipped), written directly as XML."""
    import zipfile

    env = base_env(tmp)
    (env.data / "patients.csv").unlink()
    rows = "".join(f'<row r="{i}"><c r="A{i}"><v>1</v></c></row>' for i in range(2, 1_000_002))
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             '<row r="1"><c r="A1" t="inlineStr"><is><t>patient_id</t></is></c></row>' + rows
             + '</sheetData></worksheet>')
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="patients" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    with zipfile.ZipFile(env.data / "patients.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return env


def b_bytes(export: str, suffix: str, raw: bytes) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        (env.data / f"{export}.csv").unlink()
        (env.data / f"{export}{suffix}").write_bytes(raw)
        return env
    return build


def b_parquet_edit(export: str, fn: Callable[[Any], Any]) -> Callable[[Path], Env]:
    """Parquet dataset with ``fn(table) -> table`` applied to one export."""
    def build(tmp: Path) -> Env:
        import pyarrow.parquet as pq

        env = base_env(tmp, format="parquet")
        path = env.data / f"{export}.parquet"
        pq.write_table(fn(pq.read_table(path)), path)
        return env
    return build


def pq_set(column: str, array_fn: Callable[[int], Any]) -> Callable[[Any], Any]:
    def fn(table: Any) -> Any:
        i = table.column_names.index(column)
        return table.set_column(i, column, array_fn(table.num_rows))
    return fn


def pq_year_3000(n: int) -> Any:
    import datetime as dt

    import pyarrow as pa

    base = dt.datetime(2025, 2, 1, 10, 0)
    values = [dt.datetime(3000, 1, 1) if i == 5 else base + dt.timedelta(hours=i) for i in range(n)]
    return pa.array(values, pa.timestamp("us"))


def pq_uint64(n: int) -> Any:
    import pyarrow as pa

    return pa.array([2**64 - 1 if i == 2 else 40 for i in range(n)], pa.uint64())


def pq_inf(n: int) -> Any:
    import pyarrow as pa

    return pa.array([float("inf") if i == 1 else float("nan") if i == 2 else -1e308 if i == 3 else 50.0
                     for i in range(n)], pa.float64())


def pq_binary_note(n: int) -> Any:
    import pyarrow as pa

    return pa.array([b"\xff\xfe bad" if i % 9 == 0 else b"ok" for i in range(n)], pa.binary())


def pq_struct(n: int) -> Any:
    import pyarrow as pa

    return pa.array([{"a": i, "b": "x"} for i in range(n)])


def pq_decimal(n: int) -> Any:
    import decimal

    import pyarrow as pa

    return pa.array([decimal.Decimal("45.5") for _ in range(n)], pa.decimal128(10, 2))


def pq_tz(table: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    i = table.column_names.index("performed_at")
    col = table.column(i)
    if not pa.types.is_timestamp(col.type):
        col = pc.strptime(col, format="%Y-%m-%dT%H:%M", unit="us")
    return table.set_column(i, "performed_at", col.cast(pa.timestamp("us", tz="UTC")))


def pq_duplicate_column(table: Any) -> Any:
    return table.append_column("patient_id", table.column("patient_id"))


def b_both_formats(tmp: Path) -> Env:
    env = base_env(tmp)
    write_base(tmp / "pq", format="parquet")
    shutil.copy(tmp / "pq" / "patients.parquet", env.data / "patients.parquet")
    return env


def b_special(name: str, kind: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        p = env.data / name
        p.unlink(missing_ok=True)
        if kind == "loop":
            p.symlink_to(p.name)
        elif kind == "empty":
            p.write_bytes(b"")
        elif kind == "bom":
            p.write_bytes(codecs.BOM_UTF8)
        elif kind == "newlines":
            p.write_bytes(b"\n\n\n")
        elif kind == "folder":
            p.mkdir()
        elif kind == "fifo":
            os.mkfifo(p)
        return env
    return build


def b_toml(text: str | bytes | None, *, kind: str = "file", where: str = "data") -> Callable[[Path], Env]:
    """A dataset description: DATA/dataset.toml (where='data') or a --dataset file (where='option')."""
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        path = env.data / "dataset.toml" if where == "data" else tmp / "desc.toml"
        if kind == "folder":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path)
        elif isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text or "", encoding="utf-8")
        env.vars["desc"] = str(path)
        if where != "data":
            env.inputs.append(path)
        return env
    return build


def skip_without_mknod() -> str | None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        try:
            os.mknod(os.path.join(d, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except OSError:
            return "cannot create device nodes here (needs root): the device cases use private copies"
    return None


def b_devices(tmp: Path) -> Env:
    """Private copies of /dev/null and /dev/full in ``tmp`` ({null}, {full}), so a tool that replaces a
    device it was told to write to replaces these, not the machine's; they count as inputs."""
    env = base_env(tmp)
    for name, minor in (("null", 3), ("full", 7)):
        node = tmp / name
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        env.vars[name] = str(node)
        env.inputs.append(node)
    return env


def b_demo_inside(tmp: Path) -> Env:
    env = base_env(tmp)
    env.out = env.data / "demo"
    return env


def b_write_target(name: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        env.vars["target"] = str(env.data / name)
        return env
    return build


DEEP_TOML_DESC = "[source]\nlayout = " + "[" * 50_000 + "]" * 50_000 + "\n"


def raw_repeated_header(text: str) -> str:
    lines = text_lines(text)
    lines.insert(50, lines[0])
    return "\n".join(lines)


PLAN_HEAD = 'outcome = "leg_pain"\nendpoint_week = 6\n'
PLAN_INJECTION = (PLAN_HEAD + '\n[[responders]]\nname = "=HYPERLINK(\\"http://x\\")"\noutcome = "leg_pain"\n'
                  'change_at_most = -2\n\n[[responders]]\nname = "<script>hx_pwn()</script>"\noutcome = "leg_pain"\n'
                  'change_at_most = -3\n\n[estimand]\npopulation = "<img src=x onerror=hx_pwn()>"\n'
                  'summary = "-cmd"\n')


def b_beside(kind: str) -> Callable[[Path], Env]:
    """A valid plan / column map / description in the folder that also holds DATA and --out (the usual
    project layout: run from the project folder with plan.toml beside data/ and reports/)."""
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        if kind == "plan":
            path = tmp / "plan.toml"
            path.write_text(PLAN_HEAD, encoding="utf-8")
        elif kind == "columns":
            path = tmp / "map.json"
            path.write_text('{"sessions": {"Pain after": "pain_after"}}', encoding="utf-8")
        else:
            path = tmp / "dataset.toml"
            path.write_text("[source]\nlayout = \"exports\"\n", encoding="utf-8")
        env.vars["file"] = str(path)
        env.inputs.append(path)
        return env
    return build
