"""A commented starter ``dataset.toml`` guessed from a data file (``outcomes describe --write``).

The guesses, each written with a comment so a person can check it:

* **layout**: a folder holding ``patients`` and ``assessments`` is ``exports``; one file
  whose id repeats is ``long``, else ``wide``;
* **id**: a column named like an id (``id``, ``patient_id``, ``subject``, ``record_id`` …),
  else the first column;
* **arm**: a column named like an arm (``group``, ``arm``, ``treatment`` …) with 2 to 12
  values;
* **time** (long): a column named like a time (``time``, ``visit``, ``week``, ``month`` …);
  its unit from its name; visit codes are listed in ``[time.visits]`` in sorted order;
* **outcomes**: long: numeric columns that vary within a patient; wide: groups of columns
  sharing a stem with a time suffix (``bdi.pre``, ``bdi.2m`` → bdi at 0 and 2); ranges are
  the observed ones and the direction is *lower is better* until a person says otherwise;
* **missing**: texts that sit in otherwise numeric columns (``NaN``, ``<undefined>``, ``.``).

Two other systems' exports are recognised and get their own layout:

* **REDCap** (``layout = "redcap"``): a CSV with a ``redcap_event_name`` column (or whose first
  column is the first field of the dictionary) beside REDCap's data dictionary CSV (the header
  ``Variable / Field Name``); each event gets a time in ``[time.visits]`` (read from names like
  ``week_4_arm_1``, else numbered in order), fields named like an arm, age or sex are mapped,
  and numeric fields that vary within a record become outcomes (label and range from the
  dictionary);
* **ADaM** (``layout = "adam"``): a BDS dataset (``USUBJID``, ``PARAMCD``, ``AVAL``) beside an
  ADSL (``USUBJID`` without ``PARAMCD``); each parameter becomes an outcome with its ``paramcd``.

The starter passes ``--check`` as written; what it guessed is marked ``CHECK``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UsageError
from .readers import SUFFIXES, ReadResult, _read_csv, _read_parquet, _read_xlsx, find_export
from .schema import load_schemas

__all__ = ["data_file", "starter_description"]

_ID_NAMES = ("patient_id", "id", "subject", "subject_id", "subjid", "usubjid", "participant", "participant_id",
             "record_id", "pid", "patient", "case", "study_id", "ptid")
_ARM_NAMES = ("schedule", "arm", "group", "treatment", "trt", "trt01p", "randomisation", "randomization",
              "allocation", "condition", "intervention", "drug")
_TIME_NAMES = {"time": "visit", "visit": "visit", "timepoint": "visit", "wave": "visit", "occasion": "visit",
               "avisitn": "visit", "visitnum": "visit", "week": "week", "weeks": "week", "month": "month",
               "months": "month", "day": "day", "days": "day", "ady": "day", "hour": "hour", "hours": "hour",
               "minute": "minute", "minutes": "minute", "min": "minute"}
_PATIENT_NAMES = {"age": "age_years", "age_years": "age_years", "sex": "sex", "gender": "sex"}
_BASELINE_WORDS = ("pre", "base", "baseline", "bl", "screen", "t0")
_SUFFIX = re.compile(r"^(?P<stem>.+?)[._ -]?(?P<suffix>(?:pre|post|base|baseline|bl|[a-z]{0,6}\d+(?:\.\d+)?[a-z]{0,6}))$",
                     re.IGNORECASE)
_UNIT_LETTERS = {"m": "month", "mo": "month", "month": "month", "w": "week", "wk": "week", "week": "week",
                 "d": "day", "day": "day", "h": "hour", "hr": "hour", "min": "minute"}


def data_file(data: Path) -> Path | None:
    """The single data file of ``data`` (a file, or a folder holding exactly one, or a REDCap or ADaM
    pair: then the records or BDS file), or None for exports."""
    if data.is_file():
        return data
    if not data.is_dir():
        raise UsageError(f"{data}: no such file or folder.")
    if find_export(data, "patients") and find_export(data, "assessments"):
        return None
    files = sorted(p for p in data.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    pair = _interop(files)
    if pair is not None:
        return pair[1]
    if len(files) == 1:
        return files[0]
    if not files:
        raise UsageError(f"{data} holds no .csv, .xlsx or .parquet file to describe.")
    raise UsageError(f"{data} holds several data files ({', '.join(p.name for p in files)}); give the one to "
                     "describe: `outcomes describe FILE --write dataset.toml`.")


def _read(path: Path) -> ReadResult:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, "data")
    if suffix == ".xlsx":
        return _read_xlsx(path, "data")
    if suffix == ".parquet":
        return _read_parquet(path, "data")
    raise UsageError(f"{path.name}: use a .csv, .xlsx or .parquet file.")


def _q(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    """A TOML key: bare when it can be, else quoted."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _q(name)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _outcome_name(column: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]+", "_", column.lower()).strip("_") or "outcome"
    if not base[0].isalpha():
        base = f"y_{base}"
    base = base[:60]
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _pick(columns: list[str], names: tuple[str, ...] | list[str]) -> str | None:
    low = {c.lower().strip(): c for c in columns}
    for n in names:
        if n in low:
            return low[n]
    return None


def _numeric(frame: pd.DataFrame, missing: set[str]) -> dict[str, pd.Series]:
    out = {}
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            out[c] = s.astype(float)
            continue
        text = s.astype(str).str.strip()
        text = text.where(~text.isin(missing | {""}))
        num = pd.to_numeric(text, errors="coerce")
        if text.notna().any() and num.notna().sum() == text.notna().sum():
            out[c] = num
    return out


def _odd_missing(frame: pd.DataFrame, usual: set[str]) -> list[str]:
    """Texts sitting in otherwise numeric columns (≥ 80 % numbers): spellings of missing."""
    found: dict[str, int] = {}
    for c in frame.columns:
        s = frame[c]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            continue
        text = s.astype(str).str.strip()
        text = text[text != ""]
        if text.empty:
            continue
        num = pd.to_numeric(text, errors="coerce")
        if num.notna().mean() < 0.8:
            continue
        for v in text[num.isna()].unique()[:5]:
            if len(v) <= 16:
                found[v] = found.get(v, 0) + 1
    return sorted(found)


def starter_description(data: Path) -> str:
    """A commented ``dataset.toml`` for ``data`` (a file, or a folder of exports or one file)."""
    data = Path(data)
    path = data_file(data)
    if path is None:
        return _exports_starter(data)
    pair = _interop(sorted(p for p in path.parent.iterdir() if p.is_file() and p.suffix.lower() == ".csv"),
                    main=path)
    if pair is not None and pair[0] == "redcap":
        return _redcap_starter(pair[1], pair[2])
    if pair is not None:
        return _adam_starter(pair[1], pair[2])
    read = _read(path)
    frame = read.frame
    columns = [str(c) for c in frame.columns]
    if not columns or frame.empty:
        raise UsageError(f"{path.name} has no rows to guess from.")
    schemas = load_schemas()
    usual = set(schemas["assessments"].missing_values)
    odd = [v for v in _odd_missing(frame, usual) if v not in usual]
    missing = usual | set(odd)
    id_col = _pick(columns, _ID_NAMES) or columns[0]
    ids = frame[id_col].astype(str).str.strip()
    long = bool(ids[ids != ""].duplicated().any())
    numeric = _numeric(frame, missing)
    arm_col = next((c for c in columns if c.lower() in _ARM_NAMES and c != id_col
                    and 2 <= frame[c].astype(str).str.strip().replace("", np.nan).nunique() <= 12), None)
    out = [f"# Dataset description for {path.name}, guessed by `outcomes describe`.",
           "# Lines marked CHECK are guesses: read them, correct them, then run",
           f"#   outcomes describe {path.parent} --check <this file>",
           "", "[source]",
           f"layout = {_q('long' if long else 'wide')}"
           f"{' ' * 8}# {'the id repeats: one row per patient and time' if long else 'one row per patient'}",
           f"file = {_q(path.name)}"]
    if odd:
        out.append(f"missing = {json.dumps(odd, ensure_ascii=False)}   # CHECK: texts found in numeric columns")
    out += ["", "[columns]                  # contract name = your column", f"patient_id = {_q(id_col)}"]
    mapped = {id_col}
    used: set[str] = set()
    if arm_col:
        out.append(f"schedule = {_q(arm_col)}           # CHECK: the arm")
        mapped.add(arm_col)
    else:
        out.append("# schedule = \"...\"          # the arm / schedule column: none was recognised")
    for c in columns:
        target = _PATIENT_NAMES.get(c.lower())
        if target is None or c in mapped or target in used:
            continue
        if target == "sex":
            values = set(frame[c].astype(str).str.strip().str.lower()) - missing
            if not values <= {"female", "male", "other", "unknown"}:
                out.append(f"# sex = {_q(c)}              # its codes ({', '.join(sorted(values)[:6])}) need a "
                           f"[values.sex] table (\"1\" = \"male\", …) before it can be mapped")
                continue
        out.append(f"{target} = {_q(c)}")
        mapped.add(c)
        used.add(target)
    if arm_col:
        codes = sorted(set(frame[arm_col].astype(str).str.strip()) - missing, key=_sort_key)
        if codes and all(re.fullmatch(r"-?\d+(\.0+)?", v) for v in codes):
            out += ["", "[values.schedule]          # CHECK: name each arm code (optional)"]
            out += [f"# {_q(v)} = \"arm_{v}\"" for v in codes]
    if long:
        out += _long_time_and_outcomes(frame, columns, id_col, ids, mapped, numeric, missing)
    else:
        out += _wide_outcomes(frame, columns, mapped, numeric)
    return "\n".join(out) + "\n"


def _sort_key(v: str) -> tuple[int, float, str]:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, math.inf, v)


def _range_lines(values: pd.Series) -> list[str]:
    v = values.dropna()
    whole = bool(len(v)) and bool((v == np.round(v)).all())
    lo, hi = (math.floor(v.min()), math.ceil(v.max())) if len(v) else (0, 1)
    if hi <= lo:
        hi = lo + 1
    return [f"min = {_num(lo)}                    # CHECK: the observed range; give the scale's",
            f"max = {_num(hi)}",
            f"integer = {'true' if whole else 'false'}",
            "higher_is_better = false     # CHECK: the direction was not guessed"]


def _long_time_and_outcomes(frame: pd.DataFrame, columns: list[str], id_col: str, ids: pd.Series,
                            mapped: set[str], numeric: dict[str, pd.Series], missing: set[str]) -> list[str]:
    from ..measures.instruments import BUILTIN_OUTCOMES

    out: list[str] = []
    time_col = next((c for c in columns if c.lower() in _TIME_NAMES and c not in mapped), None)
    if time_col is None:
        out += ["", "[time]", "unit = \"visit\"             # CHECK: no time column was recognised",
                "column = \"time\"            # the column holding the time since enrolment or the visit code"]
    else:
        mapped.add(time_col)
        unit = _TIME_NAMES[time_col.lower()]
        out += ["", "[time]", f"unit = {_q(unit)}{' ' * max(1, 20 - len(unit))}# CHECK: guessed from the name",
                f"column = {_q(time_col)}"]
        if unit == "visit":
            codes = sorted(set(frame[time_col].astype(str).str.strip()) - missing, key=_sort_key)
            out += ["[time.visits]              # CHECK: visit code = its time since enrolment (first = baseline)"]
            out += [f"{_q(c)} = {i}" for i, c in enumerate(codes)]
    taken: set[str] = set()
    keyed = ids.to_numpy()
    for c in columns:
        if c in mapped or c not in numeric:
            continue
        values = numeric[c]
        varies = values.groupby(keyed).nunique(dropna=True).max() > 1
        if not varies:
            continue
        builtin = c in BUILTIN_OUTCOMES
        name = c if builtin else _outcome_name(c, taken)
        out += ["", f"[outcomes.{name}]"]
        if builtin:
            out.append(f"# built in: {BUILTIN_OUTCOMES.label(name)} ({BUILTIN_OUTCOMES[name].range_text}, "
                       f"{BUILTIN_OUTCOMES[name].direction_text})")
            continue
        out.append(f"label = {_q(c)}")
        if name != c:
            out.append(f"column = {_q(c)}")
        out += _range_lines(values)
    return out


def _wide_outcomes(frame: pd.DataFrame, columns: list[str], mapped: set[str],
                   numeric: dict[str, pd.Series]) -> list[str]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for c in columns:
        if c in mapped or c not in numeric:
            continue
        m = _SUFFIX.match(c)
        if m:
            groups.setdefault(m.group("stem"), []).append((c, m.group("suffix")))
    groups = {k: v for k, v in groups.items() if len(v) >= 2}
    if not groups:
        raise UsageError("no repeated-measure columns were recognised (a stem with a time suffix, e.g. bdi.pre, "
                         "bdi.2m); write the description by hand, see the README section on dataset.toml.")
    units = []
    plans = []
    for stem, cols in groups.items():
        times = []
        for c, suffix in cols:
            low = suffix.lower()
            if low in _BASELINE_WORDS:
                times.append(0.0)
                continue
            if low == "post":
                times.append(None)
                continue
            num = re.search(r"\d+(?:\.\d+)?", low)
            letters = re.sub(r"[\d.]+", "", low)
            units.append(_UNIT_LETTERS.get(letters, "visit"))
            times.append(float(num.group()) if num else None)
        known = [t for t in times if t is not None]
        nxt = (max(known) + 1) if known else 1.0
        fixed = []
        for t in times:
            fixed.append(t if t is not None else nxt)
            if t is None:
                nxt += 1
        if len(set(fixed)) < len(fixed):
            fixed = [float(i) for i in range(len(fixed))]
        plans.append((stem, list(zip([c for c, _ in cols], fixed))))
    unit = max(set(units), key=units.count) if units else "visit"
    out = ["", "[time]", f"unit = {_q(unit)}{' ' * max(1, 20 - len(unit))}# CHECK: guessed from the column suffixes"]
    taken: set[str] = set()
    for stem, cols in plans:
        name = _outcome_name(stem, taken)
        values = pd.concat([numeric[c] for c, _ in cols])
        out += ["", f"[outcomes.{name}]", f"label = {_q(stem)}",
                "columns = { " + ", ".join(f"{_q(c)} = {_num(t)}" for c, t in cols)
                + " }   # CHECK: column = time in the unit"]
        out += _range_lines(values)
    return out


def _exports_starter(folder: Path) -> str:
    return "\n".join([
        f"# Dataset description for {folder}: the four exports of the data contract (data/schemas).",
        "# Everything is optional; uncomment what you need.",
        "", "[source]", "layout = \"exports\"", "# missing = [\"-99\"]       # extra spellings of a missing value",
        "", "[columns]                  # contract name = your column",
        "# patient_id = \"Pt code\"", "",
        "# [values.sex]              # recode values of a column", "# \"1\" = \"male\"", "# \"2\" = \"female\"",
        "", "# [outcomes.bdi]            # an outcome of your own, a column of the assessments",
        "# label = \"Beck Depression Inventory\"", "# min = 0", "# max = 63", "# higher_is_better = false",
        "", "# [covariates]", "# bmi = \"numeric\"", ""])


# --------------------------------------------------------------------------- REDCap and ADaM


def _header(path: Path) -> list[str]:
    import csv

    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return [h.strip() for h in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _interop(files: list[Path], *, main: Path | None = None) -> tuple[str, Path, Path] | None:
    """("redcap", records, dictionary) or ("adam", bds, adsl) among ``files`` (CSV), else None."""
    csvs = [p for p in files if p.suffix.lower() == ".csv"]
    headers = {p: _header(p) for p in csvs}
    dictionaries = [p for p, h in headers.items() if h and h[0].lower() in ("variable / field name", "field_name")]
    if dictionaries:
        for p, h in headers.items():
            if p in dictionaries or (main is not None and p != main):
                continue
            if "redcap_event_name" in h or (h and _first_field(dictionaries[0]) == h[0]):
                return "redcap", p, dictionaries[0]
    bds = [p for p, h in headers.items() if {"USUBJID", "PARAMCD", "AVAL"} <= set(h)
           and (main is None or p == main)]
    adsl = [p for p, h in headers.items() if "USUBJID" in h and "PARAMCD" not in h]
    if bds and adsl:
        return "adam", bds[0], min(adsl, key=lambda p: (not p.stem.lower().startswith("adsl"), p.name))
    return None


def _first_field(dictionary: Path) -> str | None:
    import csv

    try:
        with open(dictionary, encoding="utf-8-sig", newline="") as fh:
            rows = csv.reader(fh)
            next(rows, None)
            first = next(rows, None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return first[0].strip() if first else None


_EVENT_TIME = re.compile(r"(?P<unit>minute|min|hour|hr|day|week|wk|month|mo|m|w|d|h)[_ ]?(?P<n>\d+(?:\.\d+)?)",
                         re.IGNORECASE)


def _redcap_starter(records: Path, dictionary: Path) -> str:
    from ..measures.instruments import BUILTIN_OUTCOMES
    from .redcap import read_dictionary

    d = read_dictionary(dictionary)
    frame = _read(records).frame
    columns = [str(c) for c in frame.columns]
    first = columns[0] if columns else d.first
    out = [f"# Dataset description for {records.name}, a REDCap records export (raw codes), and its data",
           f"# dictionary {dictionary.name}; guessed by `outcomes describe`. Lines marked CHECK are",
           f"# guesses: correct them, then run  outcomes describe {records.parent} --check <this file>",
           "", "[source]", 'layout = "redcap"', f"file = {_q(records.name)}", f"dictionary = {_q(dictionary.name)}",
           '# missing = ["UNK", "NASK"]  # REDCap missing-data codes used in this project, if any',
           "", f"[columns]                  # contract name = your field ({first}, the first field, is the patient)"]
    fields = [n for n in d.fields if n in columns or d.fields[n].type == "checkbox"]
    arm = next((n for n in fields if n.lower() in _ARM_NAMES and d.fields[n].choices), None)
    if arm:
        out.append(f"schedule = {_q(arm)}           # CHECK: the arm ({d.fields[arm].choices_text})")
    else:
        out.append('# schedule = "..."          # the arm: no radio or dropdown field named like an arm was found')
    mapped = {first, *([arm] if arm else [])}
    for n in fields:
        target = _PATIENT_NAMES.get(n.lower())
        if target and n not in mapped and not any(line.startswith(f"{target} =") for line in out):
            f = d.fields[n]
            labels = {v.strip().lower() for v in (f.choices or {}).values()}
            if target == "sex" and not labels <= {"female", "male", "other", "unknown"}:
                continue
            out.append(f"{target} = {_q(n)}")
            mapped.add(n)
    if "redcap_data_access_group" in columns:
        out.append('site_id = "redcap_data_access_group"   # the data access group is the site')
    events = []
    if "redcap_event_name" in frame.columns:
        events = list(dict.fromkeys(str(v).strip() for v in frame["redcap_event_name"] if str(v).strip()))
    if events:
        found = [_EVENT_TIME.search(re.sub(r"_arm_\d+$", "", e)) for e in events]
        units = [_UNIT_LETTERS.get(m.group("unit").lower(), "visit") for m in found if m]
        unit = max(set(units), key=units.count) if units and len(units) >= len(events) - 1 else "visit"
        times = []
        for i, (e, m) in enumerate(zip(events, found)):
            same = m is not None and _UNIT_LETTERS.get(m.group("unit").lower(), "visit") == unit and unit != "visit"
            times.append(float(m.group("n")) if same else (0.0 if i == 0 or unit == "visit" and i == 0 else None))
        if unit == "visit" or any(t is None for t in times[1:]):
            unit, times = "visit", [float(i) for i in range(len(events))]
        out += ["", "[time]", f"unit = {_q(unit)}{' ' * max(1, 20 - len(unit))}# CHECK: the unit of the times below",
                "[time.visits]              # CHECK: each unique event name = its time since enrolment"]
        out += [f"{_q(e)} = {_num(t if t is not None else 0)}" for e, t in zip(events, times)]
    else:
        out += ["", "# No redcap_event_name: map the dates instead, e.g. enrolled_on = \"date_enrolled\" and",
                "# assessed_on = \"visit_date\" in [columns]."]
    pid = frame[first].astype(str).str.strip() if first in frame.columns else None
    repeating = (set(frame["redcap_repeat_instrument"].astype(str).str.strip()) - {""}
                 if "redcap_repeat_instrument" in frame.columns else set())
    for n in fields:
        f = d.fields[n]
        if f.form in repeating:  # a repeating instrument's rows share their event: not one value per visit
            continue
        if n in mapped or n not in frame.columns or not (f.numeric or (f.type in ("radio", "dropdown") and f.min is not None)):
            continue
        values = pd.to_numeric(frame[n].astype(str).str.strip(), errors="coerce")
        if pid is None or not (values.groupby(pid.to_numpy()).nunique() > 1).any():
            continue
        out += ["", f"[outcomes.{n}]" if re.fullmatch(r"[a-z][a-z0-9_]{0,63}", n) else
                f"[outcomes.{_outcome_name(n, set())}]"]
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", n):
            out.append(f"column = {_q(n)}")
        if n in BUILTIN_OUTCOMES:
            out.append(f"# built in: {BUILTIN_OUTCOMES.label(n)} ({BUILTIN_OUTCOMES[n].range_text})")
            continue
        out.append(f"# label {_q(f.label)} and range {'' if f.min is None else _num(f.min)}–"
                   f"{'' if f.max is None else _num(f.max)} come from {dictionary.name}")
        out.append("higher_is_better = false     # CHECK: the direction was not guessed")
    return "\n".join(out) + "\n"


def _adam_starter(bds: Path, adsl: Path) -> str:
    from ..measures.instruments import BUILTIN_OUTCOMES

    frame = _read(bds).frame
    cols = [str(c) for c in frame.columns]
    out = [f"# Dataset description for the ADaM datasets {bds.name} (BDS) and {adsl.name} (ADSL), guessed by",
           "# `outcomes describe`. Lines marked CHECK are guesses: correct them, then run",
           f"#   outcomes describe {bds.parent} --check <this file>",
           "# USUBJID is the patient, TRT01P (else ARM) the arm, AGE, SEX and SITEID are read, and ITTFL = \"Y\"",
           "# (else RANDFL) is the randomised population; [columns] can name others.",
           "", "[source]", 'layout = "adam"', f"file = {_q(bds.name)}", f"subjects = {_q(adsl.name)}", "", "[time]"]
    if "AVISITN" in cols:
        labels = " ".join(frame["AVISIT"].astype(str).head(200)) if "AVISIT" in cols else ""
        unit = next((u for word, u in (("week", "week"), ("month", "month"), ("day", "day"), ("hour", "hour"))
                     if word in labels.lower()), "visit")
        out += [f"unit = {_q(unit)}{' ' * max(1, 20 - len(unit))}# CHECK: AVISITN is the time since enrolment "
                "in this unit", 'column = "AVISITN"']
    elif "ADY" in cols:
        out += ['unit = "day"', 'column = "ADY"               # study day (day 1 = time 0)']
    else:
        out += ['unit = "date"                # ADT, with RANDDT (else TRTSDT) in ADSL as the enrolment']
    code = frame["PARAMCD"].astype(str).str.strip()
    taken: set[str] = set()
    for c in dict.fromkeys(v for v in code if v):
        name = _outcome_name(c, taken)
        label = str(frame.loc[code == c, "PARAM"].iloc[0]) if "PARAM" in cols else c
        values = pd.to_numeric(frame.loc[code == c, "AVAL"], errors="coerce")
        out += ["", f"[outcomes.{name}]", f"paramcd = {_q(c)}"]
        if name in BUILTIN_OUTCOMES:
            continue
        out.append(f"label = {_q(label)}")
        out += _range_lines(values)
    return "\n".join(out) + "\n"
