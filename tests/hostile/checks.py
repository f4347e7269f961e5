"""Case-specific checks: each raises AssertionError saying what promise a run broke.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Sequence

from .core import Env, Result, csv_record_count, validate_records

__all__ = [
    "check_audit_not_2199",
    "check_foreign_kept",
    "check_line_quarantined",
    "check_max_errors",
    "check_mentions",
    "check_not_accepted",
    "check_not_called_absent",
    "check_nul",
    "check_patient_index",
    "check_patient_report",
    "check_privacy",
    "check_quarantined_lines",
    "check_sessions_all_accepted",
    "check_stderr_mentions",
    "check_unclosed_quote",
    "check_utf16",
    "check_xlsx_formula",
]


def check_foreign_kept(res: Result, env: Env) -> None:
    kept = [p for p in env.tmp.rglob("my_notes.txt") if p.read_bytes() == env.info["foreign"]]
    assert kept, "--force deleted a file the tool did not write (my_notes.txt is gone)"


def check_sessions_all_accepted(res: Result, env: Env) -> None:
    s = validate_records(res)["sessions"]
    assert s["quarantined"] == 0 and s["status"] != "rejected", (
        f"sessions: {s['quarantined']} quarantined, status {s['status']}; first errors {s['errors'][:2]}")


def _mentions_line(rec: dict[str, Any], line: int) -> bool:
    text = json.dumps(rec)
    if re.search(rf"\bline {line}\b", text):
        return True
    rej = rec.get("rejection") or {}
    return rej.get("line") == line or any(e.get("line") == line for e in rec.get("errors", []))


def check_unclosed_quote(res: Result, env: Env) -> None:
    s = validate_records(res)["sessions"]
    text = json.dumps(s).lower()
    assert "quote" in text, f"sessions record does not speak of a quote: {text[:300]}"
    assert _mentions_line(s, env.info["line"]), f"the quote's line {env.info['line']} is not named"


def check_quarantined_lines(res: Result, env: Env) -> None:
    rec = validate_records(res)[env.info["export"]]
    got = {(e["line"], e["column"]) for e in rec["errors"]}
    for line, col in zip(env.info["lines"], env.info["columns"]):
        assert (line, col) in got, (f"{env.info['export']} line {line} ({col}) is not quarantined; errors "
                                    f"{rec['errors'][:4]}")
    avoid = env.info.get("not_reason")
    if avoid:
        wrong = [e for e in rec["errors"] if e["line"] in env.info["lines"] and avoid in e["reason"].lower()]
        assert not wrong, f"quarantined for the wrong reason (the date was completed first): {wrong[:2]}"


def check_audit_not_2199(res: Result, env: Env) -> None:
    doc = json.loads((env.out / "kpis.json").read_text(encoding="utf-8"))
    assert not str(doc.get("as_of", "")).startswith("2199"), f"the audit is 'as of' {doc.get('as_of')}"
    html = (env.out / "audit.html").read_text(encoding="utf-8")
    assert not re.search(r"as of\W+2199", html), "audit.html says 'as of 2199'"


def check_not_called_absent(res: Result, env: Env) -> None:
    text = (res.stdout + res.stderr).lower()
    assert "sessions" in text, "the message does not name sessions.csv"
    assert "not supplied" not in text, "sessions.csv exists but is reported as not supplied (optional)"


def check_max_errors(n: int) -> Callable[[Result, Env], None]:
    def check(res: Result, env: Env) -> None:
        s = validate_records(res)["sessions"]
        assert s["errors_total"] >= 12, s["errors_total"]
        assert len(s["errors"]) == n, f"--max-errors {n} listed {len(s['errors'])} errors"
        assert s["errors_truncated"] is True
    return check


def check_patient_report(pid: str) -> Callable[[Result, Env], None]:
    def check(res: Result, env: Env) -> None:
        found = [p for p in env.out.rglob("*") if p.is_file() and pid in p.name]
        assert found, f"no report file for patient {pid!r} in {sorted(x.name for x in env.out.rglob('*'))[:8]}"
    return check


def check_patient_index(res: Result, env: Env) -> None:
    html = [p for p in env.out.rglob("*.html")]
    pdf = [p for p in env.out.rglob("*.pdf")]
    assert len(pdf) == env.info["n"], f"{len(pdf)} PDFs for {env.info['n']} patients"
    assert len(html) == env.info["n"] + 1, (f"{len(html)} HTML files for {env.info['n']} patients + the index: "
                                            "a report was lost (to index.html?)")


def check_nul(res: Result, env: Env) -> None:
    s = validate_records(res)["sessions"]
    assert _mentions_line(s, env.info["line"]), (f"the NUL byte's line {env.info['line']} is not named: "
                                                 f"{json.dumps(s.get('rejection'))[:300]}")
    if s["status"] != "rejected":
        assert s["accepted"] >= s["rows_read"] - 1, "one NUL byte quarantined more than its own row"


def check_utf16(res: Result, env: Env) -> None:
    s = validate_records(res)["sessions"]
    if s["status"] == "rejected":
        assert "utf-16" in json.dumps(s).lower(), f"UTF-16 file rejected without naming UTF-16: {s['rejection']}"
    else:
        assert s["accepted"] == csv_record_count(env.data / "sessions.csv"), (
            f"UTF-16 sessions read but only {s['accepted']} rows accepted")


def check_xlsx_formula(res: Result, env: Env) -> None:
    p = validate_records(res)["patients"]
    assert "formula" in json.dumps(p).lower(), ("an xlsx formula cell without a cached value is not mentioned "
                                                "(silently read as blank?)")


def check_mentions(*words: str) -> Callable[[Result, Env], None]:
    def check(res: Result, env: Env) -> None:
        text = (res.stdout + res.stderr).lower()
        missing = [w for w in words if w.lower() not in text]
        assert not missing, f"output does not mention {missing}: {res.stderr.strip()[:300] or res.stdout[:300]}"
    return check


def check_stderr_mentions(*words: str) -> Callable[[Result, Env], None]:
    def check(res: Result, env: Env) -> None:
        text = res.stderr.lower()
        missing = [w for w in words if w.lower() not in text]
        assert not missing, f"stderr does not mention {missing}: {res.stderr.strip()[:300]}"
    return check


_COUNT_KEYS = {"quarantined", "blank_skipped", "count", "n", "numerator", "events", "rows", "patients_affected"}


def _small_counts(doc: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in _COUNT_KEYS and isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10:
                found.append(f"{path}/{k}={v}")
            found += _small_counts(v, f"{path}/{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _small_counts(v, f"{path}[{i}]")
    return found


def check_privacy(res: Result, env: Env) -> None:
    texts = {}
    for p in env.out.rglob("*"):
        if p.suffix in (".json", ".html", ".csv"):
            texts[p.name] = p.read_text(encoding="utf-8", errors="replace")
        elif p.suffix == ".xlsx":
            import openpyxl
            wb = openpyxl.load_workbook(p, read_only=True)
            texts[p.name] = "\n".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                                      for c in row if c is not None)
            wb.close()
    leaks = [f"{name}: {m.group(0)}" for name, t in texts.items()
             for m in re.finditer(r"hxq\d+|\b(7373|9191|8383)\b", t)]
    assert not leaks, f"the audit quotes identifiers or raw values: {leaks[:5]}"
    small = _small_counts(json.loads(texts["kpis.json"])) if "kpis.json" in texts else []
    assert not small, f"kpis.json shows counts between 1 and 10: {small[:5]}"
    m = re.search(r"\b([1-9]|10) patient\(s\)", texts.get("audit.html", ""))
    assert not m, f"audit.html shows a small count: {m.group(0)!r}"


def check_line_quarantined(export: str, lines: Sequence[int]) -> Callable[[Result, Env], None]:
    def check(res: Result, env: Env) -> None:
        rec = validate_records(res)[export]
        got = {e["line"] for e in rec["errors"]}
        missing = [ln for ln in lines if ln not in got]
        assert not missing, f"{export} lines {missing} not quarantined; errors {rec['errors'][:3]}"
    return check


def check_at_most_quarantined(export: str, n: int) -> Callable[[Result, Env], None]:
    """Damage in a few rows must not spill over to the rest of the file."""
    def check(res: Result, env: Env) -> None:
        rec = validate_records(res)[export]
        lines = {e["line"] for e in rec["errors"]}
        assert len(lines) <= n, f"{export}: {len(lines)} rows quarantined for damage in at most {n}; {rec['errors'][:2]}"
    return check


def check_not_accepted(export: str, column: str, values: Sequence[str]) -> Callable[[Result, Env], None]:
    """Each odd value must be quarantined (named in the errors) or at least not appear accepted as a number."""
    def check(res: Result, env: Env) -> None:
        rec = validate_records(res)[export]
        flagged = {e["value"] for e in rec["errors"] if e["column"] == column}
        missing = [v for v in values if v not in flagged]
        assert not missing, (f"{export}.{column} values {missing!r} were not quarantined "
                             f"(read as numbers?); flagged {sorted(flagged)!r}")
    return check
