"""Per-patient outcome reports: one A4 PDF page and its HTML twin per patient, plus an index.

Public API
----------
``patient_report_data(cohort, patient_id) -> dict``
    Everything one page shows, for that patient only (picklable: built-ins and small frames).
``render_patient_pdf(data, path)``
    One A4 page on a fixed grid (no layout engine), written directly as PDF primitives
    (:mod:`._patient_canvas`; standard Helvetica, DejaVu Sans embedded for other scripts).
``render_patient_html(data, path)``
    The same content as a self-contained HTML page (``templates/patient.html.j2``; the plots are
    small SVGs cut from the same page drawing, as inline data URIs; all text from the data escaped).
``write_patient_reports(cohort, out_dir, *, patient_ids=None, jobs=1, progress=None) -> dict``
    ``patient-<code>.pdf`` and ``patient-<code>.html`` per patient, ``index.html`` (STOP AND
    CONSULT first, then patients behind their expected range) and ``index.csv``, in parallel
    processes when ``jobs > 1``.

Page content, in order: header (pseudonymous code, site and clinician when known, schedule,
enrolment, status, weeks followed); the STOP AND CONSULT box only for an active flag episode or a
red flag (most urgent rule first; resolved episodes and high pain before sessions as history in a
quiet box); the primary outcome (leg pain, or the dataset's first outcome) over time with the
expected-recovery band (:mod:`outcomes.models.expected`) and "ahead / on track / behind"; two
more outcomes; a Monday-Sunday adherence calendar; glide level with flares; a summary table with
the endpoint and the latest change, MIC and responder/reliable change explained in words;
definitions with sources and provenance. Every time axis runs from 0 to the program length.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..files import frame_to_csv_text
from ..io.writers import atomic_write_bytes, output_path, prepare_out_dir
from ..measures.safety import NOTE_RULES, patient_flag_summary
from . import _html
from ._patient_batch import _index_row, _index_sort_key, _progress_printer, _worker_init, _Writer
from ._patient_page import (
    _NO_SESSION_FLAGS,
    _explain_lines,
    _footer_definitions,
    _page,
    _programme_text,
    _table_cells,
    _table_headers,
)

__all__ = ["INDEX_COLUMNS", "patient_report_data", "render_patient_html", "render_patient_pdf",
           "write_patient_reports"]

#: Built-in outcomes preferred for the panels, in page order (each where the cohort has it); a
#: dataset with declared outcomes shows its own (the registry's order).
PLOTTED = ("leg_pain", "back_pain", "odi")
#: Most outcomes in the summary table.
_TABLE_ROWS = 4
#: Columns of index.csv, one row per patient (the index page shows the same, in words).
INDEX_COLUMNS = ["patient_id", "schedule", "status", "last_data_on", "active_flags", "resolved_flags", "red_flags",
                 "sessions_after_red_flag", "baseline", "latest", "latest_change", "expected", "band80_lower",
                 "band80_upper", "band_time"]

# Words per rule: title, and what its records are called.
_RULE_WORDS: dict[str, tuple[str, str]] = {
    "red_flag": ("Red flag", "assessments with a red flag"),
    "sessions_after_red_flag": ("Sessions after a red flag", "sessions"),
    "sustained_worsening": ("Sustained worsening", "assessments well above baseline"),
    "severe_pain": ("Severe pain during or after a session", "sessions"),
    "session_flare": ("Session flare", "sessions"),
    "disengagement": ("Disengagement", "gaps without sessions"),
    "high_pain_at_rest": ("High pain before sessions", "sessions"),
}
# The largest flag value of a rule, in words (see outcomes.measures.safety for what ``value`` holds).
_VALUE_WORDS = {
    "severe_pain": "highest pain {:g}/10",
    "session_flare": "largest rise {:+g} points",
    "disengagement": "longest gap {:g} days",
    "sustained_worsening": "up to {:g} points worse than baseline",
}
_STATUS_TEXT = {"active": "in the program", "completed": "completed", "dropped_out": "dropped out",
                "referred": "referred", "other": "discharged (other reason)"}
_EXPECTED_WORDS = {"ahead": "ahead", "on_track": "on track", "behind": "behind", "no_band": "no band"}
_NO_SESSIONS = ("No sessions export was provided, so adherence, glide level, session flags and "
                "disengagement cannot be shown for this patient.")
_NOTES_SHOWN = 3
#: Most patients a worker process builds and writes per task (fewer for small batches, so every worker gets some).
_CHUNK = 25
#: Fewer patients than this are drawn in this process whatever ``jobs`` says: on 2 cores 100
#: patients took 2.07 s in one process and 2.11 s with two workers (150: 3.09 s and 2.73 s);
#: one patient, 0.9 s against 1.8 s.
_PROCESS_MIN_PATIENTS = 100

# ====================================================================== data


def _f(value: Any) -> float | None:
    """A float, or None when missing."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
        return float(value)
    except (TypeError, ValueError):
        return None


def _b(value: Any) -> bool | None:
    if value is None or (not isinstance(value, (bool, np.bool_)) and pd.isna(value)):
        return None
    return bool(value)


def _day(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _shown_outcomes(cohort: Cohort) -> tuple[list[str], list[str]]:
    """(plotted, tabled) outcomes: the primary first (leg pain, else the first outcome with a summary)."""
    present = [o for o in cohort.outcomes.names if o in cohort.assessments.columns
               and pd.to_numeric(cohort.assessments[o], errors="coerce").notna().any()]
    summarised = list(cohort.summarised)
    pool = summarised + [o for o in present if o not in summarised]
    primary = [o for o in ("leg_pain",) if o in pool] or pool[:1]
    rest = [o for o in PLOTTED if o in pool and o not in primary] + [o for o in pool if o not in PLOTTED
                                                                     and o not in primary]
    plotted = primary + rest[:2]
    tabled = [o for o in plotted if o in summarised] + [o for o in summarised if o not in plotted]
    return plotted, tabled[:_TABLE_ROWS]


class _Sources:
    """Row positions of each patient in the cohort's frames, found once for many reports."""

    def __init__(self, cohort: Cohort, ids: Iterable[str] | None = None) -> None:
        from ..models.expected import expected_recovery

        self.cohort = cohort
        frames = {"assessments": cohort.assessments, "flags": cohort.flags, "summary": cohort.patient_summary,
                  "patients": cohort.patients, "changes": cohort.changes}
        if cohort.sessions is not None:
            frames["sessions"] = cohort.sessions
        self.frames = frames
        if ids is not None:  # one or a few patients: boolean masks beat a full groupby
            wanted = set(ids)
            self.pos = {name: _positions(f, np.flatnonzero(f["patient_id"].isin(wanted).to_numpy()))
                        for name, f in frames.items()}
        else:
            self.pos = {name: _positions(f) for name, f in frames.items()}
        self.plotted, self.tabled = _shown_outcomes(cohort)
        # only the columns a page reads: taking a patient's rows of a wide export costs per column
        keep = {"assessments": ["patient_id", "assessed_on", *dict.fromkeys(self.plotted + self.tabled)],
                "sessions": ["patient_id", "session_id", "performed_at", "level", "note"]}
        self.narrow = {name: frames[name][[c for c in cols if c in frames[name].columns]]
                       for name, cols in keep.items() if name in frames}
        primary = self.plotted[0] if self.plotted else None
        self.expected = expected_recovery(cohort, outcome=primary)
        self.expected_rows = self.expected.patients(cohort).set_index("patient_id")
        self.safety = patient_flag_summary(cohort.flags, cohort.patient_summary["patient_id"]).set_index("patient_id")
        last = [cohort.assessments.groupby("patient_id")["assessed_on"].max()]
        if cohort.sessions is not None and len(cohort.sessions):
            last.append(cohort.sessions.groupby("patient_id")["performed_at"].max().dt.normalize())
        self.last_data = pd.concat(last).groupby(level=0).max()

    def frame(self, name: str) -> pd.DataFrame | None:
        """The frame ``name`` (only the columns a page reads, where narrowed); None: no such export."""
        return self.narrow[name] if name in self.narrow else self.frames.get(name)

    def rows(self, name: str, pid: str) -> pd.DataFrame | None:
        frame = self.frame(name)
        if frame is None:
            return None
        return frame.take(self.pos[name].get(pid, np.empty(0, dtype=np.intp)))

    def chunk(self, ids: list[str]) -> _Sources:
        """The same sources for ``ids`` only (picklable, small): what a worker process needs to build
        those patients' pages itself, so building page data runs on every core, not only in the parent."""
        new = object.__new__(_Sources)
        empty = np.empty(0, dtype=np.intp)
        frames = {}
        for name in self.pos:  # assessments and sessions: only the columns a page reads (self.narrow)
            part = self.frame(name).take(np.concatenate([self.pos[name].get(p, empty) for p in ids]))
            frames[name] = part.reset_index(drop=True)
        c = self.cohort
        wanted = set(ids)
        new.cohort = _ChunkCohort(
            options=c.options, outcomes=c.outcomes, as_of=c.as_of, time=c.time, provenance=c.provenance,
            patients=frames["patients"], changes=frames["changes"], assessments=frames["assessments"], flags=frames["flags"], patient_summary=frames["summary"],
            sessions=frames.get("sessions"))
        new.frames = frames
        new.pos = {name: _positions(f) for name, f in frames.items()}
        new.narrow = {}
        new.plotted, new.tabled, new.expected = self.plotted, self.tabled, self.expected
        new.expected_rows = self.expected_rows[self.expected_rows.index.isin(wanted)]
        new.safety = self.safety[self.safety.index.isin(wanted)]
        new.last_data = self.last_data[self.last_data.index.isin(wanted)]
        return new


class _ChunkCohort:
    """The parts of a :class:`~outcomes.cohort.Cohort` that :func:`_report_data` reads, for a few patients."""

    def __init__(self, **parts: Any) -> None:
        self.__dict__.update(parts)


def _positions(frame: pd.DataFrame, where: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{patient_id: positional indices into ``frame``}, of the rows at positions ``where`` only when given
    (whatever the frame's index labels)."""
    ids = frame["patient_id"]
    if where is None:
        where = np.arange(len(frame))
    else:
        ids = ids.take(where)
    codes, uniques = pd.factorize(ids, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {u: where[order[bounds[i]:bounds[i + 1]]] for i, u in enumerate(uniques)}


def _check_ids(cohort: Cohort, patient_ids: Iterable[str] | None) -> list[str]:
    known = list(cohort.patient_summary["patient_id"])
    if patient_ids is None:
        return known
    if isinstance(patient_ids, str):
        patient_ids = [patient_ids]
    ids = list(dict.fromkeys(str(p) for p in patient_ids))
    unknown = [p for p in ids if p not in set(known)]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise ValueError(f"unknown patient id(s) {shown}; the cohort has {len(known)} patients, e.g. "
                         + ", ".join(known[:5]))
    return ids


def patient_report_data(cohort: Cohort, patient_id: str) -> dict[str, Any]:
    """Everything one patient's report shows, and nothing about any other patient.

    Parameters
    ----------
    cohort : Cohort
    patient_id : str
        A code in ``cohort.patient_summary``; an unknown code raises ValueError listing valid ones.

    Returns
    -------
    dict
        ``patient_id``; ``header`` (site, clinician, schedule, enrolled_on, discharged_on,
        status, status_text, weeks_followed, as_of, follow_up_end, last_data_on); ``stop`` (STOP
        AND CONSULT: an active episode or a red flag); ``flags`` (one dict per rule with an
        active episode, and red flags, most urgent first: ``rule, priority, title, episodes,
        count, first, latest, summary, values, evidence, advice, note``), ``history``
        (resolved episodes per rule, one line each), ``rest_note`` (high pain before sessions,
        or None) and ``n_flags``; ``outcomes`` (plotted, primary first) and ``instruments``
        (per plotted or tabled outcome: label, unit, low, high, higher_is_better, baseline,
        mic, available); ``expected`` (the primary outcome's band: available, text, status,
        band frame, n_patients); ``assessments`` (frame: ``assessed_on, week`` and the
        outcomes); ``has_sessions``; ``sessions`` (frame: ``performed_at, week, level,
        flare``, or None); ``x_max`` (weeks shown on every time axis: the program length, or
        more when follow-up is longer); ``table`` (one dict per outcome: baseline, endpoint,
        latest, latest_week, change, latest_change, pct_change, responder, rc, rc_class);
        ``programme``; ``notes``; ``definitions``, ``provenance``, ``endpoint_week``,
        ``no_sessions_text``, ``index`` (this patient's row of index.csv).
    """
    ids = _check_ids(cohort, [patient_id])
    return _report_data(_Sources(cohort, ids), ids[0])


def _report_data(src: _Sources, pid: str) -> dict[str, Any]:
    cohort = src.cohort
    opts = cohort.options
    reg = cohort.outcomes
    row = src.rows("summary", pid).iloc[0]
    enrolled = pd.Timestamp(row["enrolled_on"])
    as_of = pd.Timestamp(cohort.as_of)
    discharged = row.get("discharged_on")
    end = as_of if discharged is None or pd.isna(discharged) else min(pd.Timestamp(discharged), as_of)
    weeks_followed = max((end - enrolled).days, 0) / 7
    has_discharge = "discharged_on" in cohort.patients.columns
    status = str(row.get("status", ""))
    if has_discharge:
        status_text = _STATUS_TEXT.get(status, status.replace("_", " "))
        if discharged is not None and not pd.isna(discharged):
            status_text += f" on {_day(discharged)}"
    else:
        status_text = "not known (no discharge data)"
    last_data = src.last_data.get(pid)

    ass = src.rows("assessments", pid)
    shown = list(dict.fromkeys(src.plotted + src.tabled))
    present = [o for o in shown if o in ass.columns]
    assessments = pd.DataFrame({
        "assessed_on": ass["assessed_on"].to_numpy(),
        "week": (ass["assessed_on"] - enrolled).dt.days.to_numpy(dtype=float) / 7,
        **{o: pd.to_numeric(ass[o], errors="coerce").to_numpy(dtype=float, na_value=np.nan) for o in present},
    }).sort_values("assessed_on", kind="stable").reset_index(drop=True)

    instruments = {}
    for o in shown:
        spec = reg[o] if o in reg.names else None
        inst = opts.instruments.get(o)
        mic = inst.responder.points if inst is not None and inst.responder.points else (spec.mcid if spec else None)
        instruments[o] = {
            "label": spec.label if spec else o.replace("_", " "), "unit": spec.unit if spec else "",
            "low": spec.low if spec else None, "high": spec.high if spec else None,
            "higher_is_better": bool(spec.higher_is_better) if spec else False,
            "baseline": _f(row.get(f"{o}_baseline")), "mic": mic,
            "available": o in present and bool(assessments[o].notna().any())}

    ch = src.rows("changes", pid).set_index("outcome") if len(cohort.changes) else None
    table = []
    for o in src.tabled:
        if f"{o}_baseline" not in row.index:
            continue
        rc_class = row.get(f"{o}_rc_class")
        latest_on = ch.loc[o, "latest_date"] if ch is not None and o in ch.index and "latest_date" in ch.columns else None
        base, latest = _f(row.get(f"{o}_baseline")), _f(row.get(f"{o}_latest"))
        table.append({"outcome": o, "label": instruments[o]["label"], "unit": instruments[o]["unit"],
                      **{k: _f(row.get(f"{o}_{k}")) for k in ("baseline", "endpoint", "latest", "change",
                                                            "pct_change", "rc")},
                      "latest_change": None if base is None or latest is None else latest - base,
                      "latest_week": None if latest_on is None or pd.isna(latest_on)
                      else (pd.Timestamp(latest_on) - enrolled).days / 7,
                      "integer": bool(reg[o].integer) if o in reg.names else False,
                      "responder": _b(row.get(f"{o}_responder")),
                      "rc_class": None if rc_class is None or pd.isna(rc_class) else str(rc_class)})

    flags = src.rows("flags", pid)
    sessions = src.rows("sessions", pid) if cohort.sessions is not None else None
    notes_by_session: dict[str, tuple[str, str]] = {}
    session_frame = None
    notes: list[dict[str, str]] = []
    programme: dict[str, Any] = {}
    if sessions is not None:
        flare_ids = set(flags.loc[flags["rule"] == "session_flare", "source_id"].astype(str))
        sid = sessions["session_id"].astype(str).to_numpy()
        session_frame = pd.DataFrame({
            "performed_at": sessions["performed_at"].to_numpy(),
            "week": (sessions["performed_at"] - enrolled).dt.total_seconds().to_numpy(dtype=float) / 604800,
            "level": pd.to_numeric(sessions["level"], errors="coerce").to_numpy(dtype=float, na_value=np.nan),
            "flare": np.isin(sid, list(flare_ids)),
        }).sort_values("performed_at", kind="stable").reset_index(drop=True)
        if "note" in sessions.columns:
            has = sessions["note"].notna() & (sessions["note"].astype(str).str.strip() != "")
            noted = sessions[has].sort_values("performed_at", kind="stable")
            for s_id, when, text in zip(noted["session_id"].astype(str), noted["performed_at"], noted["note"]):
                notes_by_session[s_id] = (_day(when), str(text))
            notes = [{"date": _day(w), "text": str(t)}
                     for w, t in zip(noted["performed_at"].iloc[-_NOTES_SHOWN:], noted["note"].iloc[-_NOTES_SHOWN:])]
        fid = row.get("fidelity_followed")
        programme = {
            "sessions": len(sessions),
            "adherence": _f(row.get("adherence")), "adherence_capped": _f(row.get("adherence_capped")),
            "dose_adherence": _f(row.get("dose_adherence")),
            "prescription_source": None if pd.isna(row.get("prescription_source")) else str(row.get("prescription_source")),
            "highest_level": _f(row.get("highest_level")), "highest_level_on": _day(row.get("highest_level_on")),
            "fidelity_followed": None if fid is None or pd.isna(fid) else bool(fid),
            "fidelity_deviations": int(row["fidelity_deviations"]) if "fidelity_deviations" in row.index
            and not pd.isna(row["fidelity_deviations"]) else None,
        }

    # every patient's time axes run from 0 to the program length (longer follow-up extends them)
    x_max = float(opts.program_weeks) if cohort.time.dated else 1.0
    x_max = max(x_max, weeks_followed if cohort.time.dated else 0.0)
    if len(assessments):
        x_max = max(x_max, float(np.nanmax(assessments["week"])))
    if session_frame is not None and len(session_frame):
        x_max = max(x_max, float(np.nanmax(session_frame["week"])))
    x_max = float(math.ceil(x_max - 1e-9))

    groups = _flag_groups(flags, notes_by_session)
    safety = src.safety.loc[pid]
    expected = _expected(src, pid, instruments, x_max)
    ex = src.expected_rows.loc[pid] if pid in src.expected_rows.index else None
    index = {"patient_id": pid, "schedule": str(row.get("schedule", "")),
             "status": status if has_discharge else "unknown", "last_data_on": _day(last_data),
             **{k: int(safety[k]) for k in ("active_flags", "resolved_flags", "red_flags",
                                            "sessions_after_red_flag")},
             **{k: (None if ex is None else _f(ex[k])) for k in ("baseline", "latest", "latest_change")},
             "expected": "no_band" if ex is None else str(ex["expected"]),
             **{k: (None if ex is None else _f(ex[k])) for k in ("band80_lower", "band80_upper", "band_time")}}
    return {
        "patient_id": pid,
        "header": {"site_id": None if "site_id" not in row.index or pd.isna(row.get("site_id")) else str(row["site_id"]),
                   "clinician_id": None if "clinician_id" not in row.index or pd.isna(row.get("clinician_id"))
                   else str(row["clinician_id"]),
                   "schedule": str(row.get("schedule", "")), "enrolled_on": _day(enrolled),
                   "discharged_on": _day(discharged), "status": status, "status_text": status_text,
                   "weeks_followed": weeks_followed, "as_of": _day(as_of), "follow_up_end": _day(end),
                   "last_data_on": _day(last_data)},
        "stop": bool(safety["stop_and_consult"]),
        "flags": groups["active"],
        "history": groups["history"],
        "rest_note": groups["rest"],
        "n_flags": len(flags),
        "outcomes": src.plotted,
        "instruments": instruments,
        "expected": expected,
        "assessments": assessments,
        "has_sessions": sessions is not None,
        "sessions": session_frame,
        "x_max": x_max,
        "table": table,
        "programme": programme,
        "notes": notes,
        "endpoint_week": opts.endpoint_week,
        "definitions": _html.definitions(opts),
        "safety_terms": {"active_days": opts.safety.active_days,
                         "resolved_after": opts.safety.resolved_after_sessions,
                         "severe": opts.safety.severe_pain},
        "provenance": _html.provenance_footer(cohort.provenance),
        "no_sessions_text": _NO_SESSIONS,
        "index": index,
    }


def _expected(src: _Sources, pid: str, instruments: dict[str, Any], x_max: float) -> dict[str, Any]:
    """The primary outcome's expected-recovery band for this patient, and one sentence about it."""
    e = src.expected
    label = e.label
    out: dict[str, Any] = {"outcome": e.outcome, "available": False, "status": "no_band", "band": None,
                           "n_patients": e.n_patients, "text": ""}
    if not e.available:
        out["text"] = f"No expected range is drawn: {e.reason}"
        return out
    ex = src.expected_rows.loc[pid] if pid in src.expected_rows.index else None
    base = instruments.get(e.outcome, {}).get("baseline")
    if ex is None or base is None:
        out["text"] = f"No expected range: this patient has no baseline {label} score."
        return out
    ch = src.rows("changes", pid)
    r = ch[ch["outcome"] == e.outcome]
    enrolled = pd.Timestamp(src.rows("patients", pid)["enrolled_on"].iloc[0])
    t0 = (pd.Timestamp(r["baseline_date"].iloc[0]) - enrolled).days / 7 if len(r) else 0.0
    weeks = np.linspace(t0, x_max, max(int((x_max - t0) * 4) + 1, 2))
    band = e.band(str(ex["schedule"]), base, weeks, baseline_week=t0)
    if not len(band):
        out["text"] = f"No expected range: the model has no patients on the {ex['schedule']} schedule."
        return out
    out.update(available=True, band=band, status=str(ex["expected"]))
    who = (f"80 % of patients like this one (same schedule, baseline {base:g}) are expected inside the light "
           f"band, 50 % inside the dark band (mixed model of {e.n_patients} patients)")
    if out["status"] == "no_band":
        out["text"] = f"{who}. No {label} score after baseline yet, so on track or not is not known."
    else:
        lo, hi, t = _f(ex["band80_lower"]), _f(ex["band80_upper"]), _f(ex["band_time"])
        words = {"on_track": "on track: inside the 80 % band", "ahead": "ahead: better than the 80 % band",
                 "behind": "behind: worse than the 80 % band"}[out["status"]]
        out["text"] = (f"{who}. At week {t:.1f} the 80 % band was {lo:.1f} to {hi:.1f}; the latest {label} "
                       f"score {_f(ex['latest']):g} is {words}.")
    return out


def _one(words: str, n: int) -> str:
    """'sessions' -> 'session' for one ('gaps without sessions' -> 'gap without sessions')."""
    if n != 1:
        return words
    head, _, rest = words.partition(" ")
    return head.removesuffix("s") + (" " + rest if rest else "")


def _flag_groups(flags: pd.DataFrame, notes: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Active episodes and red flags by rule (most urgent first), resolved history, and the rest-pain note."""
    out: dict[str, Any] = {"active": [], "history": [], "rest": None}
    if not len(flags):
        return out
    flags = flags.sort_values(["priority", "date"], kind="stable")
    for rule, g in flags.groupby("rule", sort=False):
        title, many = _RULE_WORDS.get(rule, (rule.replace("_", " ").capitalize(), "records"))
        if rule in NOTE_RULES:
            k = g["episode"].nunique()
            out["rest"] = (f"{title}: pain {int(g['threshold'].iloc[0])}/10 or more before {len(g)} session"
                           f"{'s' if len(g) != 1 else ''} ({k} episode{'s' if k != 1 else ''}, latest "
                           f"{_day(g['date'].max())}). Pain already this high at rest is a note for the next "
                           "review, not a stop signal on its own.")
            continue
        act = g if rule == "red_flag" else g[g["status"] == "active"]
        old = g[g["status"] == "resolved"] if rule != "red_flag" else g.iloc[:0]
        if len(old):
            k = old["episode"].nunique()
            out["history"].append(f"{title}: {k} episode{'s' if k != 1 else ''} ({len(old)} {_one(many, len(old))}), "
                                  f"{_day(old['date'].min())} to {_day(old['date'].max())}, resolved")
        if not len(act):
            continue
        latest = act.iloc[-1]
        n, k = len(act), act["episode"].nunique()
        first_day, last_day = _day(act["date"].min()), _day(act["date"].max())
        top = pd.to_numeric(act["value"], errors="coerce").max()
        if rule == "red_flag":
            vals = "; ".join(dict.fromkeys(str(e).removeprefix("red flag: ") for e in act["evidence"]))
        elif pd.notna(top) and rule in _VALUE_WORDS:
            vals = _VALUE_WORDS[rule].format(top)
        else:
            vals = ""
        evidence = str(latest["evidence"]).removeprefix("red flag: ")
        if n == 1:
            summary = f"on {last_day}: {evidence}"
        else:
            ep = f"{k} active episode{'s' if k != 1 else ''}, " if rule != "red_flag" else ""
            summary = f"{ep}{n} {_one(many, n)}, {first_day} to {last_day}; {vals + '; ' if vals else ''}latest: {evidence}"
        note = None
        if latest["source"] == "session" and str(latest["source_id"]) in notes:
            day, text = notes[str(latest["source_id"])]
            note = {"date": day, "text": text}
        out["active"].append({"rule": rule, "priority": int(latest["priority"]), "title": title, "count": n,
                              "episodes": k, "first": first_day, "latest": last_day, "summary": summary,
                              "values": vals, "evidence": str(latest["evidence"]), "advice": str(latest["advice"]),
                              "note": note})
    out["active"].sort(key=lambda d: (d["priority"], d["rule"]))
    return out


# ====================================================================== public renderers


def render_patient_pdf(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Draw the one-page A4 report of ``data`` (:func:`patient_report_data`) to ``path`` (atomic)."""
    atomic_write_bytes(path, _page(data).pdf_bytes())
    return Path(path)


def _html_text(data: dict[str, Any], images: dict[str, str]) -> str:
    labels = [data["instruments"][o]["label"] for o in data["outcomes"]]
    alts = {
        "primary": (f"{labels[0]} over weeks since enrolment, with baseline, minimal important change band and "
                    "the expected range" if labels else ""),
        "secondary": " and ".join(labels[1:]) + " over weeks since enrolment",
        "sessions": "Calendar of glide sessions per day (Monday to Sunday), and glide level with session flares",
    }
    return _html.render(
        "patient.html.j2", d=data, images=images, alts=alts,
        table=[dict(r, cells=_table_cells(r, data["endpoint_week"])) for r in data["table"]],
        headers=_table_headers(data["endpoint_week"]), explain=_explain_lines(data),
        programme=_programme_text(data), definitions=_footer_definitions(data),
        no_session_flags=_NO_SESSION_FLAGS,
    )


def render_patient_html(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the self-contained HTML twin of the page to ``path`` (atomic)."""
    _html.write_html(_html_text(data, _page(data).slot_images()), path)
    return Path(path)


def _render_both(data: dict[str, Any], pdf_path: str, html_path: str, writer: _Writer | None = None) -> str:
    """Draw the page once, write the PDF and the HTML (plots cut from the same drawing); atomically,
    through ``writer`` when given (background threads)."""
    page = _page(data)
    pdf = page.pdf_bytes()
    html = _html_text(data, page.slot_images()).encode("utf-8")
    if writer is None:
        atomic_write_bytes(pdf_path, pdf)
        atomic_write_bytes(html_path, html)
    else:
        writer.write(pdf_path, pdf)
        writer.write(html_path, html)
    return data["patient_id"]


def _render_chunk(src: _Sources, paths: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Worker: build and write the reports of a few patients (``(id, pdf, html)``); their index rows
    (returned once every file of the chunk is written)."""
    rows = []
    with _Writer() as writer:
        for pid, pdf_path, html_path in paths:
            d = _report_data(src, pid)
            _render_both(d, pdf_path, html_path, writer)
            rows.append(_index_row(d))
    return rows


# ====================================================================== batch


def write_patient_reports(cohort: Cohort, out_dir: str | os.PathLike[str], *,
                          patient_ids: Iterable[str] | None = None, jobs: int = 1,
                          progress: bool | None = None) -> dict[str, Any]:
    """Write ``patient-<code>.pdf`` and ``.html`` per patient, ``index.html`` and ``index.csv``.

    Parameters
    ----------
    cohort : Cohort
    out_dir : path
        Created if needed. File names are built from the validated patient codes only and
        checked to stay inside it (:func:`outcomes.io.writers.output_path`); every file is
        written atomically.
    patient_ids : iterable of str, optional
        Default every patient. Unknown codes raise ValueError naming them.
    jobs : int
        Processes drawing pages (ProcessPoolExecutor); each gets only its patient's data.
        Fewer than 100 patients are drawn in this process (starting workers costs more than
        it saves); the result's ``jobs`` says how many were used.
    progress : bool, optional
        A ``\\r`` counter on stderr; default only when stderr is a terminal.

    Returns
    -------
    dict
        ``index`` (path), ``index_csv`` (path; columns :data:`INDEX_COLUMNS`, formulas
        neutralised), ``reports`` ({patient_id: {"pdf": path, "html": path}}), ``n``,
        ``seconds``, ``jobs``. The index lists patients needing STOP AND CONSULT first, then
        those behind their expected range, then the rest.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a whole number ≥ 1, got {jobs!r}")
    t0 = time.perf_counter()
    ids = _check_ids(cohort, patient_ids)
    out = prepare_out_dir(out_dir)
    # "patient-" keeps every report apart from index.html (a patient may be coded "index")
    paths = {pid: {"pdf": output_path(out, f"patient-{pid}.pdf"), "html": output_path(out, f"patient-{pid}.html")}
             for pid in ids}
    index_path = output_path(out, "index.html")
    csv_path = output_path(out, "index.csv")
    src = _Sources(cohort, None if patient_ids is None else ids)
    show = _progress_printer(len(ids), progress)
    rows: list[dict[str, Any]] = []
    done = 0
    show(0)
    if len(ids) < _PROCESS_MIN_PATIENTS:
        jobs = 1  # starting worker processes (about 1 s of imports) costs more than it saves
    if jobs == 1:
        with _Writer() as writer:
            for pid in ids:
                d = _report_data(src, pid)
                _render_both(d, str(paths[pid]["pdf"]), str(paths[pid]["html"]), writer)
                rows.append(_index_row(d))
                done += 1
                show(done)
    else:
        import multiprocessing as mp

        # Each worker gets a few patients' rows of the cohort (not the cohort) and builds their page
        # data itself: building the data is most of a page's cost, so it must run on every core.
        size = max(1, min(_CHUNK, math.ceil(len(ids) / (4 * jobs))))
        chunks: Iterator[list[str]] = (ids[i:i + size] for i in range(0, len(ids), size))
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init) as pool:
            pending: set[Future] = set()

            def collect(finished: Iterable[Future]) -> None:
                nonlocal done
                for f in finished:
                    got = f.result()
                    rows.extend(got)
                    done += len(got)
                    show(done)

            for chunk in chunks:
                work = [(pid, str(paths[pid]["pdf"]), str(paths[pid]["html"])) for pid in chunk]
                pending.add(pool.submit(_render_chunk, src.chunk(chunk), work))
                if len(pending) >= 2 * jobs:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    collect(finished)
            collect(pending)
    rows.sort(key=_index_sort_key)
    expected = src.expected
    index = _html.render("index.html.j2", rows=rows, as_of=_day(cohort.as_of),
                         provenance=_html.provenance_footer(cohort.provenance),
                         n_stop=sum(r["stop"] for r in rows),
                         n_behind=sum(r["expected"] == "behind" and not r["stop"] for r in rows),
                         label=expected.label, band_note=("" if expected.available else
                                                          f"No expected range: {expected.reason}"),
                         has_discharge="discharged_on" in cohort.patients.columns)
    _html.write_html(index, index_path)
    csv = pd.DataFrame([{k: r[k] for k in INDEX_COLUMNS} for r in rows], columns=INDEX_COLUMNS)
    atomic_write_bytes(csv_path, frame_to_csv_text(csv).encode("utf-8"))
    return {"index": index_path, "index_csv": csv_path, "reports": paths, "n": len(ids), "seconds": time.perf_counter() - t0,
            "jobs": jobs}
