"""Builders that break values: dates and times, codes, numbers, formula and script payloads, and cohorts
that are valid but odd (one patient, one arm, no follow-up).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from .core import Env
from .data import base_env, edit, patient_ids, read_csv_rows, rename_ids, set_cell, write_csv_rows

__all__ = [
    "FORMULA_CELLS",
    "FORMULA_HEADER",
    "NUMERIC_ODDITIES",
    "PAYLOAD_IMG",
    "PAYLOAD_SCRIPT",
    "b_all_patients_quarantined",
    "b_all_sessions_bad",
    "b_arms_formula",
    "b_baseline_only",
    "b_blank_column",
    "b_codes",
    "b_drop",
    "b_drop_columns",
    "b_dst",
    "b_duplicate_patient",
    "b_extra_columns",
    "b_far_date",
    "b_formula_cells",
    "b_formula_header",
    "b_ids",
    "b_many_bad_rows",
    "b_one_arm",
    "b_partial",
    "b_patient_index",
    "b_patient_with_nothing",
    "b_patients_column",
    "b_privacy",
    "b_scripts",
    "b_session_dates",
    "b_tz",
    "offset_variants",
]


PAYLOAD_SCRIPT = "<script>hx_pwn()</script>"
PAYLOAD_IMG = "<img src=x onerror=hx_pwn()>"


FORMULA_HEADER = "=2+5+cmd|' /C calc'!A0"
FORMULA_CELLS = ("=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(1)", "\tx", "\r=1", "=1+1")


def b_partial(export: str) -> Callable[[Path], Env]:
    """A year-only and a year-month date; the year-month one would be a valid date if completed to the 1st."""
    column = {"assessments": "assessed_on", "sessions": "performed_at"}[export]

    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        ph, pb = read_csv_rows(env.data / "patients.csv")
        enrolled = {r[ph.index("patient_id")]: r[ph.index("enrolled_on")] for r in pb}
        h, b = read_csv_rows(env.data / f"{export}.csv")
        pid, col = h.index("patient_id"), h.index(column)
        taken = {(r[pid], r[col][:10]) for r in b}
        month_row = next(i for i, r in enumerate(b) if i > 3 and r[col][8:10] > "01"
                         and enrolled[r[pid]] <= r[col][:8] + "01" and (r[pid], r[col][:8] + "01") not in taken)
        b[month_row][col] = b[month_row][col][:7]
        b[2][col] = b[2][col][:4]
        write_csv_rows(env.data / f"{export}.csv", h, b)
        env.info.update(export=export, lines=[4, month_row + 2], columns=[column, column], not_reason="enrol")
        return env
    return build


def b_far_date(export: str, column: str, value: str) -> Callable[[Path], Env]:
    """One implausible date for a patient never discharged, so no discharge window catches it first."""
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        h, b = read_csv_rows(env.data / f"{export}.csv")
        row = min(40, len(b) - 1) if export == "sessions" else 3
        pid = b[row][h.index("patient_id")]
        b[row][h.index(column)] = value
        write_csv_rows(env.data / f"{export}.csv", h, b)

        def undischarge(ph: list[str], pb: list[list[str]]) -> None:
            for r in pb:
                if r[ph.index("patient_id")] == pid:
                    r[ph.index("discharged_on")] = r[ph.index("discharge_reason")] = ""
        edit(env.data, "patients", undischarge)
        env.info.update(export=export, lines=[row + 2], columns=[column])
        return env
    return build


def b_tz(kind: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            i = h.index("performed_at")
            if kind == "all_z":
                for r in b:
                    r[i] += "Z"
                return
            done = 0
            for r in b:
                hour = int(r[i][11:13])
                if 6 <= hour <= 18:
                    r[i] += ("+01:00", "Z", "-05:00", "+00:00")[done % 4]
                    done += 1
                if done == 8:
                    break
        edit(env.data, "sessions", fn)
        return env
    return build


def b_all_patients_quarantined(tmp: Path) -> Env:
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        for r in b:
            r[h.index("schedule")] = ""
    edit(env.data, "patients", fn)
    return env


def b_many_bad_rows(tmp: Path) -> Env:
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        for r in b[:12]:
            r[h.index("pain_after")] = "14"
    edit(env.data, "sessions", fn)
    return env


def b_formula_header(tmp: Path) -> Env:
    env = base_env(tmp)

    def add(col: str, value: str) -> Callable[[list[str], list[list[str]]], Any]:
        def fn(h: list[str], b: list[list[str]]) -> Any:
            return h + [col], [r + [value] for r in b]
        return fn
    edit(env.data, "sessions", add(FORMULA_HEADER, "x"))
    edit(env.data, "patients", add("@SUM(1)", "-y"))
    edit(env.data, "assessments", add("+extra", "=1"))
    return env


def b_formula_cells(tmp: Path) -> Env:
    env = base_env(tmp)

    def notes(h: list[str], b: list[list[str]]) -> None:
        for k, payload in enumerate(FORMULA_CELLS):
            b[3 * k][h.index("note")] = payload
            b[3 * k + 1][h.index("exercise")] = payload

    def patients(h: list[str], b: list[list[str]]) -> None:
        for k, payload in enumerate(FORMULA_CELLS):
            b[k][h.index("diagnosis")] = payload
        b[len(FORMULA_CELLS)][h.index("discharge_reason")] = "=cmd|' /C calc'!A0"

    def prescriptions(h: list[str], b: list[list[str]]) -> None:
        for k, payload in enumerate(FORMULA_CELLS):
            b[k][h.index("exercise")] = payload
    edit(env.data, "sessions", notes)
    edit(env.data, "patients", patients)
    edit(env.data, "prescriptions", prescriptions)
    return env


def b_codes(tmp: Path) -> Env:
    """Patient, site and clinician codes starting with '-' (valid) and '=' '@' (invalid)."""
    env = base_env(tmp)
    ids = patient_ids(env.data)
    rename_ids(env.data, {ids[0]: "-rf", ids[1]: "-P02", ids[2]: "=cmd", ids[3]: "@x", ids[4]: "--help"})

    def fn(h: list[str], b: list[list[str]]) -> None:
        for r in b:
            r[h.index("site_id")] = "-" + r[h.index("site_id")]
            r[h.index("clinician_id")] = "-" + r[h.index("clinician_id")]
    edit(env.data, "patients", fn)
    env.info["ids"] = ["-rf", "-P02", "--help"]
    return env


def b_arms_formula(tmp: Path) -> Env:
    """Arm (schedule) codes starting with '-': valid codes, and they head columns in several tables."""
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        i = h.index("schedule")
        for r in b:
            r[i] = {"weekly": "-weekly", "guided": "-guided"}.get(r[i], r[i])
    edit(env.data, "patients", fn)
    return env


def b_scripts(tmp: Path) -> Env:
    env = base_env(tmp)

    def sessions(h: list[str], b: list[list[str]]) -> Any:
        b[2][h.index("note")] = PAYLOAD_SCRIPT
        b[5][h.index("note")] = PAYLOAD_IMG
        b[7][h.index("exercise")] = PAYLOAD_SCRIPT
        return h + [PAYLOAD_SCRIPT], [r + ["y"] for r in b]

    def patients(h: list[str], b: list[list[str]]) -> None:
        b[0][h.index("diagnosis")] = PAYLOAD_SCRIPT
        b[1][h.index("site_id")] = PAYLOAD_SCRIPT  # invalid code: quarantined, shown in validation.html
        b[2][h.index("discharge_reason")] = PAYLOAD_IMG
        b[3][h.index("schedule")] = PAYLOAD_IMG
    edit(env.data, "sessions", sessions)
    edit(env.data, "patients", patients)
    return env


def b_patient_index(tmp: Path) -> Env:
    env = base_env(tmp, n=8)
    ids = patient_ids(env.data)
    rename_ids(env.data, {ids[0]: "index", ids[1]: "INDEX"})
    env.info["n"] = 8
    return env


def b_privacy(tmp: Path) -> Env:
    env = base_env(tmp)
    ids = patient_ids(env.data)
    rename_ids(env.data, {pid: f"hxq{pid[1:]}" for pid in ids})
    set_cell(env.data, "patients", 3, "age_years", "7373")
    set_cell(env.data, "assessments", 5, "leg_pain", "9191")
    set_cell(env.data, "sessions", 8, "pain_after", "8383")
    return env


def b_extra_columns(names: Sequence[str], bad_row: bool = True) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> Any:
            if bad_row:
                b[3][h.index("pain_after")] = "14"
            return h + list(names), [r + [f"v{i}" for i in range(len(names))] for r in b]
        edit(env.data, "sessions", fn)
        return env
    return build


def b_ids(mapping_fn: Callable[[list[str]], dict[str, str]], exports: Sequence[str] | None = None,
          n: int | None = None) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp, n=n)
        mapping = mapping_fn(patient_ids(env.data))
        if exports is None:
            rename_ids(env.data, mapping)
        else:
            for export in exports:
                def fn(h: list[str], b: list[list[str]]) -> None:
                    i = h.index("patient_id")
                    for r in b:
                        r[i] = mapping.get(r[i], r[i])
                edit(env.data, export, fn)
        return env
    return build


def b_duplicate_patient(tmp: Path) -> Env:
    env = base_env(tmp)
    edit(env.data, "patients", lambda h, b: (h, b + [list(b[0])]))
    return env


def offset_variants(prefix: str) -> list[str]:
    return [f"{prefix}T10:00+14:00", f"{prefix}T10:00-12:00", f"{prefix}T10:00+25:00", f"{prefix}T10:00+01",
            f"{prefix}T10:00:00.123456789Z", f"{prefix} 10:00 UTC", f"{prefix}T24:00", f"{prefix}T23:59:60",
            f"{prefix}T10:00+01:00[Europe/Paris]", f"{prefix}T10:00z"]


def b_session_dates(values_fn: Callable[[str], Sequence[str]]) -> Callable[[Path], Env]:
    """Replace performed_at of rows 3, 10, 17, ... by variants of the row's own date."""
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            i = h.index("performed_at")
            for k, v in enumerate(values_fn(b[3][i][:10])):
                b[3 + 7 * k][i] = v
        edit(env.data, "sessions", fn)
        return env
    return build


def b_dst(tmp: Path) -> Env:
    """Naive times inside the spring-forward gap and the autumn fold, beside offset timestamps."""
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        i = h.index("performed_at")
        for k, v in enumerate(["2025-03-30T01:30", "2025-10-26T01:30", "2025-03-30T01:30+01:00"]):
            b[5 + 3 * k][i] = v
        b[30][i] += "Z"
    edit(env.data, "sessions", fn)
    # move those sessions' patients' enrolment early enough and discharge late enough
    def keep(h: list[str], b: list[list[str]]) -> None:
        for r in b:
            r[h.index("enrolled_on")] = "2025-01-01"
            r[h.index("discharged_on")] = r[h.index("discharge_reason")] = ""
    edit(env.data, "patients", keep)
    return env


def b_drop(*exports: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)
        for export in exports:
            (env.data / f"{export}.csv").unlink()
        return env
    return build


def b_one_arm(tmp: Path) -> Env:
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        for r in b:
            r[h.index("schedule")] = "weekly"
    edit(env.data, "patients", fn)
    return env


def b_drop_columns(export: str, columns: Sequence[str]) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> Any:
            keep = [i for i, c in enumerate(h) if c not in columns]
            return [h[i] for i in keep], [[r[i] for i in keep] for r in b]
        edit(env.data, export, fn)
        return env
    return build


def b_baseline_only(tmp: Path) -> Env:
    """Every patient has one assessment, on the enrolment day: no follow-up at all."""
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> Any:
        seen, out = set(), []
        for r in b:
            if r[h.index("patient_id")] not in seen:
                seen.add(r[h.index("patient_id")])
                out.append(r)
        return h, out
    edit(env.data, "assessments", fn)
    return env


def b_all_sessions_bad(tmp: Path) -> Env:
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> None:
        for r in b:
            r[h.index("level")] = "-1"
    edit(env.data, "sessions", fn)
    return env


NUMERIC_ODDITIES = ("1_000", "\u0663", "\uff11\uff12", "0x10", "inf", "1e20", "--3", "3-", "²")


def b_blank_column(export: str, column: str) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            for r in b:
                r[h.index(column)] = ""
        edit(env.data, export, fn)
        return env
    return build


def b_patients_column(column: str, value_fn: Callable[[int, str], str]) -> Callable[[Path], Env]:
    def build(tmp: Path) -> Env:
        env = base_env(tmp)

        def fn(h: list[str], b: list[list[str]]) -> None:
            for k, r in enumerate(b):
                r[h.index(column)] = value_fn(k, r[h.index(column)])
        edit(env.data, "patients", fn)
        return env
    return build


def b_patient_with_nothing(tmp: Path) -> Env:
    env = base_env(tmp)

    def fn(h: list[str], b: list[list[str]]) -> Any:
        lonely = list(b[0])
        lonely[h.index("patient_id")] = "LONELY"
        lonely[h.index("discharged_on")] = lonely[h.index("discharge_reason")] = ""
        return h, b + [lonely]
    edit(env.data, "patients", fn)
    return env
