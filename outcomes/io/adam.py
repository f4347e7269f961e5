"""Layout ``adam`` and ``outcomes export adam``: CDISC ADaM in and out.

Reading::

    [source]
    layout = "adam"
    file = "adqs.csv"        # a BDS dataset: one row per subject, parameter and analysis visit
    subjects = "adsl.csv"    # ADSL: one row per subject
    [outcomes.bdi]
    paramcd = "BDI"          # default: the outcome's name in capitals

* **subjects** (ADSL) are the patients: ``USUBJID`` is ``patient_id``, ``TRT01P`` (else ``ARM``)
  the arm, ``AGE`` ``age_years``, ``SEX`` ``sex`` (``M``/``F``/``U``/``UNDIFFERENTIATED`` →
  male/female/unknown/other unless ``[values.sex]`` says otherwise), ``SITEID`` ``site_id`` and,
  with dates, ``RANDDT`` (else ``TRTSDT``) ``enrolled_on``; ``[columns]`` overrides any of these.
  Every other column is kept (a covariate when declared). ``ITTFL = "Y"`` (else ``RANDFL``) is the
  randomised population: other subjects are counted as filtered in the reconciliation.
* **records** (the BDS file): the rows of the declared parameters (``PARAMCD``) become one
  assessment per subject and analysis visit, each outcome its ``AVAL``. The visit is ``AVISITN``
  in the ``[time]`` unit (default ``"visit"``), or ``ADY`` with unit ``"day"`` (ADaM has no day 0:
  day 1 is time 0), or the date ``ADT`` with unit ``"date"``. Rows of other parameters, rows not
  flagged ``ANL01FL = "Y"`` (when the column exists) and derived rows (``DTYPE`` filled, e.g.
  LOCF) are not read, counted in a note; two rows of one parameter at one visit quarantine the
  visit; a subject not in ADSL is quarantined by the patient link. ``BASE``, ``CHG`` and
  ``ABLFL`` are not read: change is derived again from the values (see the baseline rule).

Writing: :func:`adam_tables` builds ADSL and ADQS from a :class:`~outcomes.cohort.Cohort` with the
variables of the ADaM Implementation Guide (BDS: ``PARAMCD``, ``PARAM``, ``AVISIT``,
``AVISITN``, ``ADT``/``ADY`` for dated data, ``AVAL``, ``BASE``, ``CHG``, ``PCHG``, ``ABLFL``,
``ANL01FL``) and the ``dataset.toml`` that reads them back, so that a round trip gives the same
analysis.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .description import DatasetDescription, _listing, _show, _suggest
from .errors import UsageError
from .schema import TableSchema

__all__ = ["AdamTables", "SEX_CODES", "adam_tables", "read_adam"]

#: CDISC SEX codelist (C66731) ↔ the contract's sex values.
SEX_CODES = {"F": "female", "M": "male", "U": "unknown", "UNDIFFERENTIATED": "other"}
_POPULATION_FLAGS = ("ITTFL", "RANDFL")
_ARM_COLUMNS = ("TRT01P", "ARM", "TRT01A", "ARMCD")
_UNIT_WORDS = {"minute": "Minute", "hour": "Hour", "day": "Day", "week": "Week", "month": "Month", "visit": "Visit"}


# --------------------------------------------------------------------------- reading


def _read_table(path: Path | None, key: str, description: DatasetDescription) -> Any:
    from .layouts import _read_file

    if path is None or not path.is_file():
        listing = (f" (the folder holds: {_listing(sorted(p.name for p in path.parent.iterdir()))})"
                   if path is not None and path.parent.is_dir() else "")
        raise UsageError(f"{description.label}: [source] {key} {_show(str(path))} does not exist{listing}.")
    return _read_file(dataclasses.replace(description, file=path))


def _defaults(description: DatasetDescription, adsl: list[str], adqs: list[str]) -> dict[str, str]:
    columns = dict(description.columns)
    taken = set(columns.values())
    wanted = {"patient_id": ["USUBJID"], "schedule": list(_ARM_COLUMNS), "age_years": ["AGE"], "sex": ["SEX"],
              "site_id": ["SITEID"]}
    if description.time.dated:
        wanted["enrolled_on"] = ["RANDDT", "TRTSDT"]
        wanted["assessed_on"] = ["ADT"]
    for key, names in wanted.items():
        if key in columns:
            continue
        pool = adqs if key == "assessed_on" else adsl
        hit = next((n for n in names if n in pool and n not in taken), None)
        if hit is not None:
            columns[key] = hit
            taken.add(hit)
    return columns


def _need(have: list[str], column: str, file: str, what: str) -> None:
    if column not in have:
        raise UsageError(f"{file} has no column {_show(column)} ({what}).{_suggest(column, have)} "
                         f"Its columns: {_listing(have)}.")


def read_adam(description: DatasetDescription, schemas: dict[str, TableSchema], *,
              date_order: Any = None, dates: Any = None) -> tuple[dict[str, Any], list[str]]:
    """Read ADSL and a BDS dataset into the contract's patients and assessments, validated.

    Returns and raises as :func:`outcomes.io.layouts.read_declared` (see the module notes).
    """
    from .layouts import (NO_OUTCOME, _apply_filters, _declared, _nominal_dates, _read_like, _recode, _text, _visit_times,
                          _with_errors)
    from .validate import validate_read

    qs_read = _read_table(description.file, "file", description)
    sl_read = _read_table(description.subjects, "subjects", description)
    qs_name, sl_name = qs_read.path.name, sl_read.path.name
    sl_cols = [str(c) for c in sl_read.frame.columns]
    qs_cols = [str(c) for c in qs_read.frame.columns]
    columns = _defaults(description, sl_cols, qs_cols)
    if "patient_id" not in columns:
        raise UsageError(f"{sl_name} has no USUBJID column; map the subject identifier with [columns] patient_id "
                         f"= \"...\".{_suggest('USUBJID', sl_cols)} Its columns: {_listing(sl_cols)}.")
    pid_col = columns["patient_id"]
    _need(sl_cols, pid_col, sl_name, "the subject identifier")
    _need(qs_cols, pid_col, qs_name, "the subject identifier")
    if "schedule" not in columns:
        raise UsageError(f"{sl_name} has none of {', '.join(_ARM_COLUMNS)} (the arm); map yours with [columns] "
                         f"schedule = \"...\". Its columns: {_listing(sl_cols)}.")
    for key, col in columns.items():
        if key not in ("patient_id", "assessed_on"):
            _need(sl_cols, col, sl_name, f"[columns] {key}")
    for col in ("PARAMCD", "AVAL"):
        _need(qs_cols, col, qs_name, "a BDS dataset has PARAMCD and AVAL")
    time = description.time
    time_col = columns.get("assessed_on") if time.dated else time.column
    if time_col is None:
        raise UsageError(f"{description.label}: an ADaM dataset timed by dates needs ADT in {qs_name} (or [columns] "
                         "assessed_on = \"...\"); or time it by visit ([time] unit = \"week\", column = \"AVISITN\").")
    _need(qs_cols, time_col, qs_name, "the analysis visit or date ([time] column)")
    missing_values = schemas["assessments"].missing_values
    notes: list[str] = []

    # ---- subjects: the randomised population, user filters on ADSL columns
    sl_filters = tuple(f for f in description.filters if f.column in sl_cols)
    qs_filters = tuple(f for f in description.filters if f.column not in sl_cols)
    for f in qs_filters:
        _need(qs_cols, f.column, qs_name, "a [[filter]] column (in neither file)")
    flag = next((c for c in _POPULATION_FLAGS if c in sl_cols), None)
    pop_desc = dataclasses.replace(description, filters=sl_filters, columns={})
    sl_frame, p_filtered = _apply_filters(sl_read.frame, pop_desc, missing_values)
    if flag is not None:
        text = _text(sl_frame[flag]).str.strip().str.upper()
        keep = (text == "Y").to_numpy()
        p_filtered[f"{flag} = \"Y\" (the randomised population)"] = int((~keep).sum())
        sl_frame = sl_frame.loc[keep]
    else:
        notes.append(f"{sl_name} has no ITTFL or RANDFL: every subject is read as randomised")
    outside = set(_text(sl_read.frame[pid_col]).str.strip()) - set(_text(sl_frame[pid_col]).str.strip())
    sl_frame = sl_frame.rename(columns={src: dst for dst, src in columns.items() if dst != "assessed_on"})
    values = {k: v for k, v in description.values.items() if k in sl_frame.columns}
    if "sex" in sl_frame.columns and "sex" not in values:
        values["sex"] = dict(SEX_CODES)
    p_notes = list(sl_read.notes)
    sl_frame = _recode(sl_frame, dataclasses.replace(description, values=values), p_notes)
    lacking = [c for c in description.covariates if c not in sl_frame.columns]
    if lacking:
        raise UsageError(f"{description.label}: [covariates] {lacking[0]} is not a column of {sl_name} (after "
                         f"[columns]).{_suggest(lacking[0], [str(c) for c in sl_frame.columns])} Its columns: "
                         f"{_listing([str(c) for c in sl_frame.columns])}.")
    p_schema = schemas["patients"]
    p_extra = [c for c in sl_frame.columns if c not in p_schema.field_names]
    p_read = _read_like(sl_read, sl_frame, sl_read.rows_read, sl_read.blank_skipped, p_notes, "patients", p_extra)
    patients = validate_read(p_read, p_schema, date_order=date_order, dates=dates)
    patients = _declared(patients, filtered=p_filtered, source_rows=f"subjects of {sl_name}")

    # ---- records: rows of the declared parameters → one assessment per subject and visit
    frame = qs_read.frame
    row_dropped: dict[str, int] = {}
    by_code = {o.paramcd: o.name for o in description.outcomes}
    if not by_code:
        raise UsageError(f"{description.label}: name the parameters to read, e.g. [outcomes.bdi] with paramcd = "
                         "\"BDI\" (a built-in such as leg_pain needs only paramcd).")
    code = _text(frame["PARAMCD"]).str.strip()
    present = set(code)
    absent = [c for c in by_code if c not in present]
    if absent:
        raise UsageError(f"{description.label}: paramcd {', '.join(_show(c) for c in absent)} is not a PARAMCD of "
                         f"{qs_name}.{_suggest(absent[0], sorted(present))} Its parameters: "
                         f"{_listing(sorted(present))}.")
    other = ~code.isin(list(by_code)).to_numpy(dtype=bool, copy=True)
    if other.any():
        counts = code[other].value_counts()
        row_dropped["of parameters not described (" + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + ")"] = \
            int(other.sum())
    keep = ~other.copy()
    for col, what in (("ANL01FL", "not flagged ANL01FL = \"Y\""), ("DTYPE", "derived (DTYPE filled, e.g. LOCF)")):
        if col not in frame.columns:
            continue
        text = _text(frame[col]).str.strip().str.upper()
        bad = ((text != "Y") if col == "ANL01FL" else (text != "")).to_numpy(dtype=bool, copy=True)
        bad &= keep
        if bad.any():
            row_dropped[what] = int(bad.sum())
            keep &= ~bad
    if qs_filters:
        kept, counts = _apply_filters(frame.loc[keep], dataclasses.replace(description, filters=qs_filters,
                                                                             columns={}), missing_values)
        row_dropped.update({f"dropped by {k}": v for k, v in counts.items() if v})
        keep &= frame.index.isin(kept.index)
    rows = frame.loc[keep]
    pid = _text(rows[pid_col]).str.strip()
    when = _text(rows[time_col]).str.strip()
    if not time.dated:
        if time.visits is not None:
            when = _visit_times(when, description, missing_values)
        elif time_col.upper() == "ADY":  # ADaM study days skip 0: day 1 is the day of randomisation
            num = pd.to_numeric(when, errors="coerce")
            shifted = num.where(~(num >= 1), num - 1)
            when = when.where(num.isna(), shifted.map(lambda v: f"{v:g}" if pd.notna(v) else ""))
        if "ABLFL" in rows.columns:  # the analyses take time 0 (or the last before it) as baseline
            flagged = (_text(rows["ABLFL"]).str.strip().str.upper() == "Y").to_numpy()
            off = flagged & (pd.to_numeric(when, errors="coerce") != 0).to_numpy()
            if off.any():
                notes.append(f"{int(off.sum()):,} baseline record(s) of {qs_name} (ABLFL = \"Y\") are not at time 0; "
                             "the analyses take the value at time 0 (or the last before it) as the baseline")
    names = code[keep].map(by_code)
    table = pd.DataFrame({"pid": pid.to_numpy(), "when": when.to_numpy(), "name": names.to_numpy(),
                          "value": _text(rows["AVAL"]).str.strip().to_numpy(), "line": rows.index.to_numpy()})
    key = table["pid"] + "\x1f" + table["when"]
    first = table.groupby(key.to_numpy(), sort=False)["line"].transform("min").to_numpy()
    table["record"] = first
    dup = table.duplicated(["record", "name"], keep=False).to_numpy()
    errors = []
    for (record, name), group in table[dup].groupby(["record", "name"], sort=False):
        lines = ", ".join(map(str, group["line"]))
        errors.append({"line": int(record), "column": name, "value": " | ".join(group["value"]), "rule": "unique",
                       "reason": (f"{qs_name} lines {lines}: {len(group)} rows of PARAMCD "
                                  f"{description.outcome(name).paramcd} for {pid_col} {group['pid'].iloc[0]!r} at "
                                  f"{time_col} {group['when'].iloc[0]!r}; an analysis visit has one. Keep one (or "
                                  "flag the analysed one ANL01FL = \"Y\").")})
    single = table[~dup]
    wide = single.pivot(index="record", columns="name", values="value")
    heads = table.drop_duplicates("record").set_index("record")
    time_name = "assessed_on" if time.dated else "time"
    records = pd.DataFrame({"patient_id": heads["pid"], time_name: heads["when"]})
    for name in by_code.values():
        records[name] = wide[name].reindex(records.index) if name in wide.columns else ""
    for extra in ("AVISIT", "AVISITN"):
        if extra in rows.columns and extra != time_col:
            records[extra] = _text(rows[extra]).groupby(first).first().reindex(records.index).to_numpy()
    records = records.fillna("")
    records.index = pd.Index(records.index.to_numpy(dtype=np.int64), name="line")
    records = records.sort_index()
    built = len(records)
    a_filtered: dict[str, int] = {}
    out_of_population = records["patient_id"].isin(outside).to_numpy(dtype=bool, copy=True)
    if out_of_population.any():
        a_filtered["subject outside the randomised population"] = int(out_of_population.sum())
        records = records.loc[~out_of_population]
    outcome_names = list(by_code.values())
    empty = records[outcome_names].apply(lambda s: s.isin(missing_values)).all(axis=1).to_numpy(dtype=bool, copy=True)
    empty &= ~records.index.isin([e["line"] for e in errors])
    if empty.any():
        a_filtered[NO_OUTCOME] = int(empty.sum())
        records = records.loc[~empty]
    errors = [e for e in errors if e["line"] in records.index]
    a_schema = schemas["assessments"]
    a_extra = [c for c in records.columns if c not in a_schema.field_names]
    a_notes = [f"one record per {pid_col} and {time_col}, numbered by its first line in {qs_name}: "
               f"{len(table):,} rows of {frame.shape[0]:,} make {built:,} records"]
    if row_dropped:
        a_notes.append(f"rows of {qs_name} not read: " + "; ".join(f"{n:,} {what}" for what, n in row_dropped.items()))
    a_read = _read_like(qs_read, records, built, 0, a_notes, "assessments", a_extra)
    assessments = validate_read(a_read, a_schema, date_order=date_order, dates=dates)
    _with_errors(assessments, errors)
    assessments = _declared(assessments, filtered=a_filtered,
                            source_rows=f"(subject, visit) records built from {qs_name}")
    _nominal_dates(patients, assessments, description)
    return {"patients": patients, "assessments": assessments}, notes


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class AdamTables:
    """ADSL, a BDS dataset of the outcomes (ADQS) and the description that reads them back."""

    adsl: pd.DataFrame
    adqs: pd.DataFrame
    description: str
    notes: tuple[str, ...] = ()


def _paramcds(names: list[str]) -> dict[str, str]:
    """Outcome name → PARAMCD (at most 8 capitals, letters and digits, unique)."""
    out: dict[str, str] = {}
    for name in names:
        base = re.sub(r"[^A-Z0-9]", "", name.upper())[:8] or "PARAM"
        code, i = base, 2
        while code in out.values():
            code = f"{base[:8 - len(str(i))]}{i}"
            i += 1
        out[name] = code
    return out


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def adam_tables(cohort: Any, *, study: str = "OUTCOMES", source: str = "") -> AdamTables:
    """ADSL and ADQS for a cohort, with the ``dataset.toml`` that reads them back.

    Parameters
    ----------
    cohort : Cohort
        Built from a validated dataset (only accepted rows are exported).
    study : str
        ``STUDYID``.
    source : str
        What the data were (quoted in the description's first comment).

    Returns
    -------
    AdamTables
        ``adsl``: STUDYID, USUBJID, SUBJID, SITEID, TRT01P, ARM, ITTFL, RANDFL, AGE, AGEU, SEX,
        RANDDT (dated data) and every other patient-level column under its own name.
        ``adqs``: STUDYID, USUBJID, PARAMCD, PARAM, PARAMN, AVISIT, AVISITN, ADT and ADY (dated
        data), AVAL, BASE, CHG, PCHG, ABLFL, ANL01FL; one row per subject, outcome and assessment
        with a value.

    Notes
    -----
    Variables as the CDISC ADaM Implementation Guide (v1.3) defines them: ``BASE`` is the
    subject's baseline value of the parameter, ``ABLFL = "Y"``
    marks the baseline record, ``CHG = AVAL − BASE`` and ``PCHG = 100 × CHG / BASE`` on
    post-baseline records, ``ANL01FL = "Y"`` on every record the analyses use (all exported
    records), ``ADY = ADT − RANDDT + 1`` on or after randomisation (no day 0). ``USUBJID`` is
    the patient code as it was, so identifiers survive the round trip. ``AVISITN`` is the time
    since enrolment in the dataset's unit (weeks for dated data) and ``AVISIT`` names it.
    """
    from ..measures.change import select_baseline

    dated = cohort.time.dated
    unit = "week" if dated else cohort.time.unit
    patients = cohort.patients.drop(columns=[c for c in ("status",) if c in cohort.patients.columns])
    n = len(patients)
    adsl = pd.DataFrame({"STUDYID": np.full(n, study, dtype=object),
                         "USUBJID": patients["patient_id"].astype(str).to_numpy(),
                         "SUBJID": patients["patient_id"].astype(str).to_numpy()})
    columns: dict[str, str] = {"patient_id": "USUBJID"}
    if "site_id" in patients.columns:
        adsl["SITEID"] = patients["site_id"].to_numpy()
        columns["site_id"] = "SITEID"
    adsl["TRT01P"] = patients["schedule"].astype(str).to_numpy()
    adsl["ARM"] = adsl["TRT01P"]
    columns["schedule"] = "TRT01P"
    adsl["ITTFL"] = "Y"
    adsl["RANDFL"] = "Y"
    if "age_years" in patients.columns:
        adsl["AGE"] = patients["age_years"].to_numpy()
        adsl["AGEU"] = np.where(patients["age_years"].notna(), "YEARS", "")
        columns["age_years"] = "AGE"
    if "sex" in patients.columns:
        back = {v: k for k, v in SEX_CODES.items()}
        adsl["SEX"] = patients["sex"].map(back).fillna("").to_numpy()
        columns["sex"] = "SEX"
    if dated:
        adsl["RANDDT"] = patients["enrolled_on"].dt.strftime("%Y-%m-%d").to_numpy()
        columns["enrolled_on"] = "RANDDT"
    skip = {"patient_id", "site_id", "schedule", "age_years", "sex", "enrolled_on"}
    for col in patients.columns:
        if col in skip or col in adsl.columns:
            continue
        s = patients[col]
        adsl[col] = s.dt.strftime("%Y-%m-%d").to_numpy() if pd.api.types.is_datetime64_any_dtype(s) else s.to_numpy()

    # ---- ADQS
    scored = cohort.assessments
    registry = cohort.outcomes
    names = [o for o in registry.names if o in scored.columns and scored[o].notna().any()]
    codes = _paramcds(names)
    enrolled = patients.set_index("patient_id")["enrolled_on"]
    parts = []
    for order, name in enumerate(names, start=1):
        obs = scored.loc[scored[name].notna()]
        spec = registry[name]
        base = select_baseline(obs, cohort.patients, outcome=name, window_days=cohort.options.baseline_window_days)
        base = base.set_index("patient_id")
        b_value = obs["patient_id"].map(base["baseline"]).to_numpy(dtype=float)
        b_date = obs["patient_id"].map(base["baseline_date"])
        ablfl = (obs["assessed_on"] == b_date).to_numpy()
        post = (obs["assessed_on"] > b_date).to_numpy()
        aval = obs[name].to_numpy(dtype=float)
        chg = np.where(post, aval - b_value, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            pchg = np.where(post & (b_value != 0), 100 * chg / b_value, np.nan)
        t = obs["week"].to_numpy(dtype=float) if dated else obs["time"].to_numpy(dtype=float)
        visit = [("Baseline" if flag else f"{_UNIT_WORDS[unit]} {_num(v) if not dated else f'{v:.4g}'}")
                 for flag, v in zip(ablfl, t)]
        part = pd.DataFrame({
            "STUDYID": study, "USUBJID": obs["patient_id"].astype(str).to_numpy(), "PARAMCD": codes[name],
            "PARAM": spec.label + (f" ({spec.unit})" if spec.unit else ""), "PARAMN": order,
            "AVISIT": visit, "AVISITN": t})
        if dated:
            days = (obs["assessed_on"].dt.normalize() - obs["patient_id"].map(enrolled)).dt.days.to_numpy()
            part["ADT"] = obs["assessed_on"].dt.strftime("%Y-%m-%d").to_numpy()
            part["ADY"] = np.where(days >= 0, days + 1, days)
        part["AVAL"] = aval
        part["BASE"] = b_value
        part["CHG"] = chg
        part["PCHG"] = pchg
        part["ABLFL"] = np.where(ablfl, "Y", "")
        part["ANL01FL"] = "Y"
        part["_order"] = np.arange(len(part))
        parts.append(part)
    adqs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "AVAL"])
    if len(adqs):
        adqs = adqs.sort_values(["USUBJID", "PARAMN", "AVISITN", "_order"], kind="stable", ignore_index=True)
        adqs = adqs.drop(columns="_order")
    text = _description_text(cohort, columns, codes, dated, unit, source)
    notes = []
    flags = [c for c in scored.columns if isinstance(c, str) and c.startswith("rf_")]
    if flags:
        notes.append(f"the red-flag answers ({', '.join(flags)}) are not exported: ADQS holds the scored outcomes")
    if cohort.sessions is not None:
        notes.append("the session log is not exported (ADaM BDS holds the outcomes): analyses that need "
                     "sessions are left out when the export is read back")
    return AdamTables(adsl=adsl, adqs=adqs, description=text, notes=tuple(notes))


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _num(v)
    return json.dumps(str(v), ensure_ascii=False)


def _description_text(cohort: Any, columns: dict[str, str], codes: dict[str, str], dated: bool, unit: str,
                      source: str) -> str:
    lines = [f"# Reads the ADaM datasets written by `outcomes export adam`{f' from {source}' if source else ''}.",
             "# adsl.csv: one row per subject (ADSL); adqs.csv: one row per subject, parameter and visit (BDS).",
             "", "[source]", 'layout = "adam"', 'file = "adqs.csv"', 'subjects = "adsl.csv"', "", "[columns]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in columns.items()]
    lines += ["", "[time]"]
    if dated:
        lines += ['unit = "date"                # ADT (analysis date) and RANDDT (enrolment)']
    else:
        lines += [f"unit = {_toml_value(unit)}", 'column = "AVISITN"']
    for name, code in codes.items():
        spec = cohort.outcomes[name]
        lines += ["", f"[outcomes.{name}]"]
        if not spec.builtin:
            lines += [f"label = {_toml_value(spec.label)}"]
            if spec.unit:
                lines += [f"unit = {_toml_value(spec.unit)}"]
            for key, value in (("min", spec.low), ("max", spec.high), ("mcid", spec.mcid)):
                if value is not None and math.isfinite(value):
                    lines += [f"{key} = {_toml_value(value)}"]
            lines += [f"higher_is_better = {_toml_value(spec.higher_is_better)}",
                      f"integer = {_toml_value(spec.integer)}"]
        elif spec.mcid is not None and name in _changed_mcid(cohort, name):
            lines += [f"mcid = {_toml_value(spec.mcid)}"]
        lines += [f"paramcd = {_toml_value(code)}"]
    if cohort.covariates:
        lines += ["", "[covariates]"] + [f"{k} = {_toml_value(v)}" for k, v in cohort.covariates.items()]
    return "\n".join(lines) + "\n"


def _changed_mcid(cohort: Any, name: str) -> tuple[str, ...]:
    from ..measures.instruments import BUILTIN_OUTCOMES

    return (name,) if cohort.outcomes[name].mcid != BUILTIN_OUTCOMES[name].mcid else ()
