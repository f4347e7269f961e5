"""The hostile-input matrix of issue 16: every :class:`~hostile.core.Case`, in :data:`CASES`.

Each case is one command on one broken dataset and the exit codes it may give; the builders are in
:mod:`hostile.files` and :mod:`hostile.values`, the generic checks in :mod:`hostile.core`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .core import N_PATIENTS, Case, Env, Result, run_and_check, run_case
from .data import b_cell, b_plain, b_raw, b_values, base_env, compose
from .files import (
    DEEP_JSON, DEEP_TOML, DEEP_TOML_DESC, PLAN_HEAD, PLAN_INJECTION, raw_bom_middle, skip_without_mknod,
    raw_cp1252, raw_header_newline, raw_huge_note, many_responders, make_output_name_a_folder,
    make_output_name_a_symlink_out, pq_binary_note, pq_decimal, pq_duplicate_column, pq_inf, pq_set, pq_struct,
    pq_tz, pq_uint64, pq_year_3000, after_validate_then, after_previous_run, raw_repeated_header, skip_if_root,
    raw_too_many_fields, raw_unclosed_last, b_beside, b_blank_rows, b_both_formats, b_bytes, b_chmod000,
    b_data_inside_out, b_demo_inside, b_devices, b_header_only, b_long_out, b_map, b_nul, b_out_data_dotdot,
    b_out_foreign, b_out_inside_data, b_out_is_data, b_out_symlink_to_data, b_parquet_edit, b_parquet_list,
    b_plan, b_quoted_newline, b_sessions_special, b_simulate_over_exports, b_special, b_toml, b_unclosed_quote,
    b_utf16, b_write_target, b_xlsx_formula, b_xlsx_million_rows, b_xlsx_serials, b_xlsx_wide,
)
from .values import (
    NUMERIC_ODDITIES, b_duplicate_patient, b_extra_columns, offset_variants, b_all_patients_quarantined,
    b_all_sessions_bad, b_arms_formula, b_baseline_only, b_blank_column, b_codes, b_drop, b_drop_columns, b_dst,
    b_far_date, b_formula_cells, b_formula_header, b_ids, b_many_bad_rows, b_one_arm, b_partial, b_patient_index,
    b_patient_with_nothing, b_patients_column, b_privacy, b_scripts, b_session_dates, b_tz,
)
from .checks import (
    check_at_most_quarantined, check_audit_not_2199, check_foreign_kept, check_line_quarantined, check_max_errors, check_mentions,
    check_not_accepted, check_not_called_absent, check_nul, check_patient_index, check_patient_report,
    check_privacy, check_quarantined_lines, check_sessions_all_accepted, check_stderr_mentions,
    check_unclosed_quote, check_utf16, check_xlsx_formula,
)

__all__ = ["CASES", "Case", "Env", "Result", "run_and_check", "run_case"]


def _c(name: str, item: str, build: Callable[[Path], Env], argv: Sequence[str], expect: Iterable[int],
       check: Callable[[Result, Env], None] | None = None, **kw: Any) -> Case:
    return Case(name, item, build, tuple(argv), frozenset(expect), check, **kw)


V = ("validate", "{data}", "--format", "json")
VO = ("validate", "{data}", "--out", "{out}", "--format", "json")


A = ("audit", "{data}", "--out", "{out}")
C = ("compare", "{data}", "--out", "{out}")


P = ("patients", "{data}", "--out", "{out}", "--jobs", "1")
CMDS = {"validate": VO, "audit": A, "compare": C, "patients": P}


GB = 1 << 30
PATIENTS_RUN = 10  # cohort size for `patients` runs (each report costs ~0.2 s)


def _all(name: str, item: str, build: Callable[[Path], Env], expect: Iterable[int], commands: Iterable[str],
         overrides: dict[str, Iterable[int]] | None = None, **kw: Any) -> list[Case]:
    overrides = {k: frozenset(v) for k, v in (overrides or {}).items()}
    expect = frozenset(expect)
    return [_c(f"{name}-{cmd}", item, build, CMDS[cmd], overrides.get(cmd, expect), slow=cmd != "validate",
               patients=PATIENTS_RUN if cmd == "patients" else N_PATIENTS, **kw) for cmd in commands]


def _cases() -> list[Case]:
    cases: list[Case] = [
        # 0. the clean cohort: every generic check must pass here, or the matrix is broken
        *_all("clean", "baseline", b_plain, {0}, ("validate", "audit", "compare", "patients")),

        # 1. inputs are untouchable
        _c("out-is-data", "1", b_out_is_data, VO, {2}, check_stderr_mentions("input")),
        _c("out-is-data-force", "1", b_out_is_data, VO + ("--force",), {2}),
        _c("out-inside-data", "1", b_out_inside_data, VO, {2}, check_stderr_mentions("input")),
        _c("out-holds-data", "1", b_data_inside_out, VO, {2}),
        _c("out-holds-data-audit", "1", b_data_inside_out, A, {2}, slow=True),
        _c("out-symlink-to-data", "1", b_out_symlink_to_data, VO, {2}),
        _c("out-dotdot-to-data", "1", b_out_data_dotdot, VO, {2}),
        _c("out-is-data-patients", "1", b_out_is_data, P, {2}, patients=PATIENTS_RUN),
        _c("simulate-over-exports", "1", b_simulate_over_exports,
           ("simulate", "--patients", "5", "--out", "{out}"), {2}),
        _c("out-foreign-files", "1", b_out_foreign, VO, {2}),
        _c("out-foreign-files-force", "1", b_out_foreign, VO + ("--force",), {0}, check_foreign_kept),
        _c("rerun-into-own-output", "1", after_previous_run("validate"), VO, {0}),
        _c("rerun-into-own-output-audit", "1", after_previous_run("audit"), A, {0}, slow=True),

        # 2. every record counted
        _c("quoted-newline-note", "2", b_quoted_newline("\n"), VO, {0}, check_sessions_all_accepted),
        _c("quoted-newline-note-crlf", "2", b_quoted_newline("\r\n"), VO, {0}, check_sessions_all_accepted),
        _c("unclosed-quote", "2", b_unclosed_quote, VO, {1}, check_unclosed_quote),
        _c("blank-rows", "2", b_blank_rows, VO, {0, 1}),

        # 3. plausible dates
        _c("session-2199", "3", b_far_date("sessions", "performed_at", "2199-01-01T10:00"), VO, {1},
           check_quarantined_lines),
        _c("session-2199-audit", "3", b_far_date("sessions", "performed_at", "2199-01-01T10:00"), A, {1},
           check_audit_not_2199, slow=True),
        _c("session-2199-patients", "3", b_far_date("sessions", "performed_at", "2199-01-01T10:00"), P, {1},
           subprocess=True, timeout=30, slow=True, patients=PATIENTS_RUN),
        _c("assessment-2199", "3", b_far_date("assessments", "assessed_on", "2199-01-01"), VO, {1},
           check_quarantined_lines),
        _c("enrolment-0001", "3", b_cell("patients", [(3, "enrolled_on", "0001-01-01")]), VO, {1},
           check_quarantined_lines),
        _c("enrolment-0001-audit", "3", b_cell("patients", [(3, "enrolled_on", "0001-01-01")]), A, {1},
           subprocess=True, timeout=30, slow=True),
        _c("enrolment-0001-patients", "3", b_cell("patients", [(3, "enrolled_on", "0001-01-01")]), P, {1},
           subprocess=True, timeout=30, slow=True, patients=PATIENTS_RUN),
        _c("partial-dates", "3", b_partial("assessments"), VO, {1}, check_quarantined_lines),
        _c("partial-dates-sessions", "3", b_partial("sessions"), VO, {1}, check_quarantined_lines),

        # 4. time zones
        # the clinic zone is given: the machine's own zone could move a morning session before enrolment
        _c("timestamps-with-offsets", "4", b_tz("some"), VO + ("--timezone", "UTC"), {0},
           check_sessions_all_accepted),
        _c("timestamps-all-z", "4", b_tz("all_z"), VO + ("--timezone", "UTC"), {0}, check_sessions_all_accepted),

        # 5. no tracebacks
        _c("age-1e20", "5", b_cell("patients", [(0, "age_years", "1e20"), (1, "age_years", "9223372036854775808"),
                                                (2, "age_years", "-9223372036854775809")]), VO, {1},
           check_quarantined_lines),
        *_all("header-only-patients", "5", b_header_only("patients"), {1},
              ("validate", "audit", "compare", "patients")),
        *_all("all-patients-quarantined", "5", b_all_patients_quarantined, {1},
              ("validate", "audit", "compare", "patients")),
        *_all("header-only-assessments", "5", b_header_only("assessments"), {0, 1},
              ("validate", "audit", "compare", "patients"), overrides={"compare": {1}}),
        _c("parquet-list-column-extra", "5", b_parquet_list("extra"), VO, {0, 1}),
        _c("parquet-list-column-extra-audit", "5", b_parquet_list("extra"), A, {0, 1}, slow=True),
        _c("parquet-list-column-patient-id", "5", b_parquet_list("patient_id"), VO, {1}),
        _c("unreadable-file-chmod-000", "5", b_chmod000, VO, {1}, check_mentions("sessions"), skip=skip_if_root),
        _c("sessions-dangling-symlink", "5", b_sessions_special("dangling"), VO, {1, 2}, check_not_called_absent),
        _c("sessions-is-a-folder", "8", b_sessions_special("folder"), VO, {1, 2}, check_not_called_absent),
        _c("sessions-is-a-fifo", "8", b_sessions_special("fifo"), VO, {1, 2}, check_not_called_absent,
           subprocess=True, timeout=60),
        _c("sessions-links-to-dev-zero", "8", b_sessions_special("link_to_dev"), VO, {1, 2},
           check_not_called_absent, subprocess=True, timeout=30, limit_as=2 * GB),
        _c("columns-map-list", "5", b_map('["patient_id", "x"]'), V + ("--columns", "{map}"), {2}),
        _c("columns-map-folder", "5", b_map(None, folder=True), V + ("--columns", "{map}"), {2}),
        _c("columns-map-values-malformed", "5", b_map('{"values": {"patients": "x"}}'),
           V + ("--columns", "{map}"), {2}),
        _c("columns-map-100k-deep", "5", b_map(DEEP_JSON), V + ("--columns", "{map}"), {2}),
        _c("columns-map-not-utf8", "5", b_map(b"\xff\xfe{\x00\x81"), V + ("--columns", "{map}"), {2}),
        _c("columns-map-dev-zero", "5", b_plain, V + ("--columns", "/dev/zero"), {2},
           subprocess=True, timeout=30, limit_as=2 * GB),
        _c("plan-50k-deep", "5", b_plan(DEEP_TOML), C + ("--plan", "{plan}"), {2}),
        _c("plan-check-50k-deep", "5", b_plan(DEEP_TOML), ("plan", "--check", "{plan}"), {2}),
        _c("plan-10000-responders", "8", b_plan(many_responders(10_000)), C + ("--plan", "{plan}"), {2},
           subprocess=True, timeout=20, slow=True),
        _c("grace-days-huge", "5", b_plain, V + ("--grace-days", "99999999999999999999"), {2}),
        _c("simulate-1e11-patients", "5", b_plain,
           ("simulate", "--patients", "100000000000", "--out", "{tmp}/sim"), {2, 3},
           subprocess=True, timeout=60, limit_as=4 * GB),
        _c("stdout-to-full-device", "5", b_plain, V, {3},
           subprocess=True, stdout_to="/dev/full", timeout=60),
        _c("stdout-text-to-full-device", "5", b_plain, ("validate", "{data}"), {3},
           subprocess=True, stdout_to="/dev/full", timeout=60),
        _c("out-name-is-a-folder", "5", after_validate_then(make_output_name_a_folder), VO, {0, 2, 3}),
        _c("out-name-symlink-out-of-folder", "5", after_validate_then(make_output_name_a_symlink_out), VO, {0, 2, 3}),
        _c("out-component-300-chars", "5", b_long_out(300), VO, {2, 3}),
        _c("out-component-255-chars", "5", b_long_out(255), VO, {0, 2, 3}),
        _c("out-under-a-file", "5", b_plain, VO[:3] + ("{data}/patients.csv/sub",) + VO[4:], {2, 3}),
        _c("out-under-dev-null", "5", b_devices, VO[:3] + ("{null}/x",) + VO[4:], {2, 3}, skip=skip_without_mknod),
        _c("out-is-dev-null", "1", b_devices, VO[:3] + ("{null}",) + VO[4:], {2}, skip=skip_without_mknod),

        # 6. whole output sets: tests/test_outputs_atomic.py

        # 7. privacy in aggregate outputs
        _c("audit-privacy", "7", b_privacy, A + ("--format", "json"), {1}, check_privacy, slow=True),

        # 8. injection, names, limits (validate per case; the reports once on every injection together)
        _c("formula-header", "8", b_formula_header, VO, {0, 1}),
        _c("formula-cells", "8", b_formula_cells, VO, {0, 1}),
        _c("codes-starting-with-dash", "8", b_codes, VO, {1}),
        _c("arm-names-formula-like", "8", b_arms_formula, VO, {0, 1}),
        _c("script-payloads", "8", b_scripts, VO, {1}),
        *_all("all-injections", "8", compose(b_codes, b_formula_header, b_formula_cells, b_arms_formula, b_scripts),
              {1}, ("audit", "compare", "patients")),
        _c("all-injections-export-adam", "8",
           compose(b_codes, b_formula_header, b_formula_cells, b_arms_formula, b_scripts),
           ("export", "adam", "{data}", "--out", "{out}"), {0, 1}, slow=True),
        _c("all-injections-describe", "8",
           compose(b_codes, b_formula_header, b_formula_cells, b_arms_formula, b_scripts),
           ("describe", "{data}", "--write", "{tmp}/desc.toml"), {0, 1, 2}),
        _c("patients-option-dash-id", "8", b_codes, P + ("--patient", "-rf"), {1}, check_patient_report("-rf"),
           slow=True, patients=PATIENTS_RUN),
        _c("patients-option-dash-id-equals", "8", b_codes, P + ("--patient=-rf",), {1},
           check_patient_report("-rf"), slow=True, patients=PATIENTS_RUN),
        _c("patient-called-index", "8", b_patient_index, P, {0}, check_patient_index, slow=True),
        _c("nul-byte", "8", b_nul, VO, {1}, check_nul),
        _c("utf16-file", "8", b_utf16, VO, {0, 1}, check_utf16),
        _c("xlsx-formula-without-cached-value", "8", b_xlsx_formula, VO, {0, 1}, check_xlsx_formula),
        _c("max-errors-negative", "8", b_many_bad_rows, V + ("--max-errors", "-5"), {2}),
        _c("max-errors-3", "8", b_many_bad_rows, V + ("--max-errors", "3"), {1}, check_max_errors(3)),
        _c("xlsx-10000-columns", "8", b_xlsx_wide, V, {1, 2}, check_mentions("column"),
           subprocess=True, timeout=20, slow=True),
    ]
    cases += _batch2() + _batch3()
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases


def _batch2() -> list[Case]:
    VA = ("validate", "{data}", "--format", "json")
    return [
        # CSV structure
        _c("extra-columns-named-like-quarantine-fields", "extra",
           b_extra_columns(["line", "reason", "rule", "column", "value", "export"]), VO, {1}),
        _c("extra-columns-named-like-quarantine-fields-audit", "extra",
           b_extra_columns(["line", "reason", "rule", "column", "value", "export"]), A, {1}, slow=True),
        _c("duplicate-header", "extra", b_raw("sessions", lambda t: t.replace(",note\n", ",note,note\n", 1)),
           VO, {0, 1}),
        _c("empty-and-blank-header-names", "extra", b_extra_columns(["", "  ", "Unnamed: 3"], bad_row=False),
           VO, {0, 1}),
        _c("rows-with-too-many-and-too-few-fields", "2", b_raw("sessions", raw_too_many_fields), VO, {1},
           check_line_quarantined("sessions", [6, 10])),
        _c("cr-only-line-endings", "2", b_raw("sessions", lambda t: t.replace("\n", "\r")), VO, {0, 1}),
        _c("mixed-line-endings", "2", b_raw("sessions", lambda t: "".join(
            ln + ("\r\n" if i % 2 else "\n") for i, ln in enumerate(t.rstrip("\n").split("\n")))), VO, {0}),
        _c("bare-cr-inside-unquoted-field", "2", b_raw("sessions", lambda t: "\n".join(
            ln + ("a\rb" if i in (5, 9) else "") for i, ln in enumerate(t.split("\n")))), VO, {0, 1}),
        _c("cp1252-with-undefined-byte", "8", b_raw("sessions", raw_cp1252), VO, {0, 1}),
        _c("bom-in-the-middle", "8", b_raw("sessions", raw_bom_middle), VO, {0, 1}),
        _c("quoted-newline-in-header", "2", b_raw("sessions", raw_header_newline), VO, {0, 1}),
        _c("unclosed-quote-on-last-line", "2", b_raw("sessions", raw_unclosed_last), VO, {1}),
        _c("five-mb-note", "8", b_raw("sessions", raw_huge_note), VO, {0, 1}, timeout=30),
        _c("sessions-empty-file", "5", b_special("sessions.csv", "empty"), VO, {0, 1}),
        _c("patients-empty-file", "5", b_special("patients.csv", "empty"), VO, {1}),
        _c("patients-only-bom", "5", b_special("patients.csv", "bom"), VO, {1}),
        _c("patients-only-newlines", "5", b_special("patients.csv", "newlines"), VO, {1}),
        _c("patients-empty-file-audit", "5", b_special("patients.csv", "empty"), A, {1}, slow=True),
        _c("sessions-symlink-loop", "8", b_special("sessions.csv", "loop"), VO, {1, 2}, check_not_called_absent),
        _c("patients-is-a-folder", "8", b_special("patients.csv", "folder"), VO, {1, 2}),
        _c("patients-is-a-fifo", "8", b_special("patients.csv", "fifo"), VO, {1, 2}, subprocess=True, timeout=30),
        _c("patients-csv-and-parquet", "extra", b_both_formats, VO, {1, 2}),
        # identifiers
        _c("id-64-and-65-characters", "8", b_ids(lambda ids: {ids[0]: "A" * 64, ids[1]: "B" * 65}), VO, {1},
           check_line_quarantined("patients", [3])),
        _c("id-64-characters-patients", "8", b_ids(lambda ids: {ids[0]: "A" * 64}, n=PATIENTS_RUN), P, {0, 1},
           check_patient_report("A" * 64), slow=True, patients=PATIENTS_RUN),
        _c("id-trailing-space-in-sessions", "extra", b_ids(lambda ids: {ids[0]: ids[0] + " "}, ["sessions"]),
           VO, {0, 1}),
        _c("duplicate-patient-row", "extra", b_duplicate_patient, VO, {1}),
        _c("patients-unknown-id", "8", b_plain, P + ("--patient", "NOPE"), {1, 2}, patients=PATIENTS_RUN),
        # dates and times
        _c("invalid-calendar-dates", "3", b_values("assessments", "assessed_on",
                                                   ["2025-02-29", "2025-13-01", "2025-00-10", "2025-04-31"]),
           VO, {1}, check_line_quarantined("assessments", [5, 12, 19, 26])),
        _c("offset-and-time-variants", "4", b_session_dates(offset_variants), VO, {0, 1},
           check_at_most_quarantined("sessions", len(offset_variants("2025-01-01")))),
        _c("dst-gap-and-fold", "4", b_dst, VO + ("--timezone", "Europe/London"), {0, 1}),
        _c("timezone-bogus", "4", b_plain, VA + ("--timezone", "Mars/Olympus"), {2}),
        _c("timezone-path-traversal", "4", b_plain, VA + ("--timezone", "../../../../etc/passwd"), {2}),
        _c("latest-date-partial", "3", b_plain, VA + ("--latest-date", "2025"), {2}),
        _c("earliest-after-latest", "3", b_plain, VA + ("--earliest-date", "2026-01-01", "--latest-date", "2025-01-01"),
           {2}),
        _c("latest-date-9999-with-far-session", "3", b_far_date("sessions", "performed_at", "9000-01-01T10:00"),
           VO + ("--latest-date", "9999-12-31"), {0, 1}),
        _c("earliest-date-0001-with-ancient-enrolment", "3", b_far_date("patients", "enrolled_on", "0002-01-01"),
           VO + ("--earliest-date", "0001-01-01"), {0, 1}),
        _c("grace-days-max", "5", b_plain, VO + ("--grace-days", "36500"), {0}),
        _c("grace-days-over-max", "5", b_plain, VA + ("--grace-days", "36501"), {2}),
        # xlsx
        _c("xlsx-serials-out-of-range", "3", b_xlsx_serials, VO, {1}),
        _c("xlsx-million-rows", "8", b_xlsx_million_rows, VA, {1, 2}, subprocess=True, timeout=20,
           limit_as=4 * GB, slow=True),
        _c("xlsx-not-a-zip", "5", b_bytes("patients", ".xlsx", b"patient_id,enrolled_on\nP1,2025-01-01\n"), VO, {1}),
        _c("xlsx-empty-file", "5", b_bytes("patients", ".xlsx", b""), VO, {1}),
        _c("xlsx-truncated-zip", "5", b_bytes("patients", ".xlsx", b"PK\x03\x04" + b"\x00" * 40), VO, {1}),
        # parquet
        _c("parquet-garbage", "5", b_bytes("patients", ".parquet", b"PAR1" + os.urandom(200) + b"PAR1"), VO, {1}),
        _c("parquet-empty-file", "5", b_bytes("patients", ".parquet", b""), VO, {1}),
        _c("parquet-timestamp-year-3000", "3", b_parquet_edit("sessions", pq_set("performed_at", pq_year_3000)),
           VO, {1}),
        _c("parquet-age-uint64-max", "5", b_parquet_edit("patients", pq_set("age_years", pq_uint64)), VO, {1}),
        _c("parquet-age-inf-nan", "5", b_parquet_edit("patients", pq_set("age_years", pq_inf)), VO, {1}),
        _c("parquet-note-invalid-utf8-binary", "8", b_parquet_edit("sessions", pq_set("note", pq_binary_note)),
           VO, {0, 1}),
        _c("parquet-struct-column", "5", b_parquet_edit("sessions", pq_set("note", pq_struct)), VO, {0, 1}),
        _c("parquet-decimal-age", "5", b_parquet_edit("patients", pq_set("age_years", pq_decimal)), VO, {0, 1}),
        _c("parquet-tz-aware-timestamps", "4", b_parquet_edit("sessions", pq_tz), VO, {0}),
        _c("parquet-duplicate-column-names", "5", b_parquet_edit("patients", pq_duplicate_column), VO, {1, 2}),
        # paths and options
        _c("data-is-a-file", "5", b_plain, ("validate", "{data}/patients.csv"), {2}),
        _c("data-is-dev-null", "5", b_plain, ("validate", "/dev/null"), {2}),
        _c("data-empty-string", "5", b_plain, ("validate", ""), {1, 2}),  # reads the current folder, writes nothing
        _c("out-empty-string", "5", b_plain, ("validate", "{data}", "--out", ""), {2}, subprocess=True),
        _c("out-with-newline-in-name", "5", b_plain, ("validate", "{data}", "--out", "{tmp}/a\nb"), {0, 2}),
        _c("dataset-toml-50k-deep", "5", b_toml(DEEP_TOML_DESC), VA, {2}),
        _c("dataset-toml-binary", "5", b_toml(b"\x00\xff\xfe[[[\x81"), VA, {2}),
        _c("dataset-toml-is-a-folder", "5", b_toml(None, kind="folder"), VA, {1, 2}),
        _c("dataset-toml-file-is-dev-zero", "5", b_toml('[source]\nlayout = "long"\nfile = "/dev/zero"\n'), VA, {2},
           subprocess=True, timeout=30, limit_as=2 * GB),
        _c("dataset-toml-file-is-a-fifo", "5", b_toml(None, kind="fifo"), VA, {1, 2}, subprocess=True, timeout=30),
        _c("dataset-option-fifo", "5", b_toml(None, kind="fifo", where="option"), VA + ("--dataset", "{desc}"),
           {2}, subprocess=True, timeout=30),
        _c("export-adam-out-is-data", "1", b_plain, ("export", "adam", "{data}", "--out", "{data}"), {2}),
        _c("export-adam-out-inside-data", "1", b_plain, ("export", "adam", "{data}", "--out", "{data}/adam"), {2}),
        _c("demo-out-inside-data", "1", b_demo_inside, ("demo", "--data", "{data}", "--out", "{data}/demo"), {2},
           subprocess=True, timeout=60),
        _c("describe-write-over-an-export", "1", b_write_target("patients.csv"),
           ("describe", "{data}", "--write", "{target}", "--force"), {2}),
        _c("plan-write-over-an-export", "1", b_write_target("patients.csv"), ("plan", "--write", "{target}"), {2}),
        _c("plan-write-to-dev-full", "1", b_devices, ("plan", "--write", "{full}", "--force"), {2, 3},
           skip=skip_without_mknod),
        _c("plan-write-to-dev-null", "1", b_devices, ("plan", "--write", "{null}", "--force"), {2, 3},
           skip=skip_without_mknod),
        _c("describe-write-to-dev-full", "1", b_devices, ("describe", "{data}", "--write", "{full}", "--force"),
           {2, 3}, skip=skip_without_mknod),
        _c("simulate-out-is-dev-null", "1", b_devices, ("simulate", "--patients", "3", "--out", "{null}"), {2},
           skip=skip_without_mknod),
        _c("audit-out-is-dev-null", "1", b_devices, A[:3] + ("{null}",), {2}, skip=skip_without_mknod),
        _c("simulate-seed-huge", "5", b_plain, ("simulate", "--patients", "3", "--seed", "1" + "0" * 30, "--out",
                                                "{tmp}/sim"), {0, 2}),
        _c("simulate-out-is-a-file", "5", b_plain, ("simulate", "--patients", "3", "--out", "{data}/patients.csv"),
           {2}),
        _c("compare-endpoint-nan", "5", b_plain, C + ("--endpoint-week", "nan"), {2}),
        _c("compare-endpoint-inf", "5", b_plain, C + ("--endpoint-week", "inf"), {2}),
        _c("compare-reference-unknown", "5", b_plain, C + ("--reference", "NOPE"), {2}),
        _c("audit-min-cell-huge", "5", b_plain, A + ("--min-cell", "1" + "0" * 30), {0, 1, 2}, slow=True),
    ]


def _batch3() -> list[Case]:
    three = ("audit", "compare", "patients")
    return [
        *_all("single-patient", "extra", lambda tmp: base_env(tmp, n=1), {0, 1, 2}, three),
        _c("one-arm-compare", "extra", b_one_arm, C, {1, 2}, slow=True),
        *_all("assessments-only", "extra", b_drop("sessions", "prescriptions"), {0}, three),
        _c("no-prescriptions-audit", "extra", b_drop("prescriptions"), A, {0}, slow=True),
        *_all("no-leg-pain-column", "extra", b_drop_columns("assessments", ["leg_pain"]), {0, 1, 2},
              ("audit", "compare")),
        *_all("baseline-only", "extra", b_baseline_only, {0, 1}, ("audit", "compare"), overrides={"compare": {1}}),
        _c("all-sessions-quarantined-audit", "extra", b_all_sessions_bad, A, {1}, slow=True),
        *_all("leg-pain-all-blank", "extra", b_blank_column("assessments", "leg_pain"), {0, 1, 2},
              ("audit", "compare"), overrides={"compare": {1, 2}}),
        _c("every-patient-own-site-audit", "extra", b_patients_column("site_id", lambda k, v: f"S{k:03d}"), A,
           {0, 1}, slow=True),
        _c("arm-of-one-pairwise", "extra", b_patients_column(
            "schedule", lambda k, v: "solo" if k == 0 else v), C + ("--pairwise",), {0, 1}, slow=True),
        _c("arm-per-patient", "extra", b_patients_column("schedule", lambda k, v: f"arm{k}"), C, {1, 2},
           slow=True),
        _c("plan-file-beside-the-output-folder", "1", b_beside("plan"), C + ("--plan", "{file}"), {0, 1}, slow=True),
        _c("columns-map-beside-the-output-folder", "1", b_beside("columns"), VO + ("--columns", "{file}"), {0, 1}),
        _c("dataset-file-beside-the-output-folder", "1", b_beside("dataset"), VO + ("--dataset", "{file}"), {0, 1}),
        _c("plan-nan-window", "5", b_plan(PLAN_HEAD + "visit_window_days = nan\n"), C + ("--plan", "{plan}"), {2}),
        _c("plan-inf-endpoint", "5", b_plan('outcome = "leg_pain"\nendpoint_week = inf\n'), C + ("--plan", "{plan}"),
           {2}),
        _c("plan-nan-responder-rule", "5", b_plan(PLAN_HEAD + '\n[[responders]]\nname = "r"\noutcome = "leg_pain"\n'
                                                              'change_at_most = nan\n'), C + ("--plan", "{plan}"), {2}),
        _c("plan-100k-visits", "5", b_plan('outcome = "leg_pain"\nendpoint_week = 6\nvisits = ['
                                           + ", ".join(str(i) for i in range(100_000)) + "]\n"),
           C + ("--plan", "{plan}"), {2}, subprocess=True, timeout=30, slow=True),
        _c("plan-unknown-covariate", "5", b_plan(PLAN_HEAD + 'covariates = ["shoe_size"]\n'), C + ("--plan", "{plan}"),
           {1, 2}),
        _c("plan-injection-in-names", "8", b_plan(PLAN_INJECTION), C + ("--plan", "{plan}"), {0, 1, 2}, slow=True),
        _c("patient-with-no-sessions-or-assessments", "extra", b_patient_with_nothing,
           P + ("--patient", "LONELY"), {0, 1}, check_patient_report("LONELY"), slow=True),
        _c("patients-option-quarantined-id", "extra", b_cell("patients", [(0, "age_years", "999")]),
           P + ("--patient", "P001"), {1, 2}, patients=PATIENTS_RUN),
        _c("numeric-oddities", "extra", b_values("sessions", "level", NUMERIC_ODDITIES), VO, {1},
           check_not_accepted("sessions", "level", NUMERIC_ODDITIES)),
        _c("boolean-spellings", "extra", b_values("sessions", "stopped_early",
                                                  ["TRUE", "yes", "1", "Y", "ja", "t", "2", "-1"]), VO, {0, 1}),
        _c("header-repeated-mid-file", "2", b_raw("sessions", raw_repeated_header), VO, {1},
           check_line_quarantined("sessions", [51])),
        _c("tab-delimited-csv", "extra", b_raw("sessions", lambda t: t.replace(",", "\t")), VO, {0, 1}),
        _c("columns-map-two-to-one", "5", b_map('{"sessions": {"note": "exercise"}}'),
           VO + ("--columns", "{map}"), {1, 2}),
        _c("columns-map-swap-ids", "5", b_map('{"sessions": {"patient_id": "session_id", "session_id": "patient_id"}}'),
           VO + ("--columns", "{map}"), {0, 1, 2}),
    ]


CASES: list[Case] = _cases()


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a dataset folder (used by the benchmark to reuse one build)."""
    shutil.copytree(src, dst, symlinks=True)
