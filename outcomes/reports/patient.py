"""Per-patient outcome reports: one A4 PDF page and its HTML twin per patient, plus an index.

Public API
----------
``patient_report_data(cohort, patient_id) -> dict``
    Everything one page shows, for that patient only (picklable: built-ins and small frames).
``render_patient_pdf(data, path)``
    One A4 page drawn with matplotlib on a fixed grid (no layout engine).
``render_patient_html(data, path)``
    The same content as a self-contained HTML page (``templates/patient.html.j2``; figures as
    inline data URIs; all text from the data escaped).
``write_patient_reports(cohort, out_dir, *, patient_ids=None, jobs=1, progress=None) -> dict``
    ``<patient_id>.pdf`` and ``<patient_id>.html`` per patient and ``index.html`` (flagged
    patients first), in parallel processes when ``jobs > 1``.

Page content, in order: header (pseudonymous code, site, schedule, enrolment, status, weeks
followed); the STOP-AND-CONSULT box (most urgent rule first; many flags of one rule summarised
in one line); leg and back pain over time; ODI over time; adherence calendar; glide level with
flares; a summary table; definitions (from :class:`outcomes.config.Options`, with sources) and
provenance (:attr:`outcomes.Cohort.provenance`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..io.writers import atomic_write_bytes, output_path, prepare_out_dir
from . import _html
from ._patient_page import _NO_SESSION_FLAGS, _footer_definitions, _page, _programme_text, _table_cells

__all__ = ["patient_report_data", "render_patient_html", "render_patient_pdf", "write_patient_reports"]

#: Outcomes plotted over time, in page order (each where the cohort has it).
PLOTTED = ("leg_pain", "back_pain", "odi")
#: Outcomes in the summary table.
TABLED = ("leg_pain", "back_pain", "odi", "rmdq")

# Words per rule: title, and what several events are called.
_RULE_WORDS: dict[str, tuple[str, str]] = {
    "red_flag": ("Red flag", "red flags recorded"),
    "sustained_worsening": ("Sustained worsening", "assessments with leg pain well above baseline"),
    "severe_pain": ("Severe pain", "severe-pain sessions"),
    "session_flare": ("Session flare", "session flares"),
    "disengagement": ("Disengagement", "gaps without sessions"),
}
# The largest flag value of a rule, in words (see outcomes.measures.safety for what ``value`` holds).
_VALUE_WORDS = {
    "severe_pain": "highest in-session pain {:g}/10",
    "session_flare": "largest rise in pain during a session {:+g} points",
    "disengagement": "longest gap {:g} days",
    "sustained_worsening": "leg pain up to {:+g} points above baseline",
}
_STATUS_TEXT = {"active": "active", "completed": "completed", "dropped_out": "dropped out",
                "referred": "referred", "other": "discharged (other reason)"}
_NO_SESSIONS = ("No sessions export was provided, so adherence, glide level, session flags and "
                "disengagement cannot be shown for this patient.")
_NOTES_SHOWN = 3

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


class _Sources:
    """Row positions of each patient in the cohort's frames, found once for many reports."""

    def __init__(self, cohort: Cohort, ids: Iterable[str] | None = None) -> None:
        self.cohort = cohort
        frames = {"assessments": cohort.assessments, "flags": cohort.flags, "summary": cohort.patient_summary}
        if cohort.sessions is not None:
            frames["sessions"] = cohort.sessions
        if ids is not None:  # one or a few patients: boolean masks beat a full groupby
            wanted = set(ids)
            self.pos = {name: _positions(f[f["patient_id"].isin(wanted)]) for name, f in frames.items()}
        else:
            self.pos = {name: _positions(f) for name, f in frames.items()}

    def rows(self, name: str, pid: str) -> pd.DataFrame | None:
        frame = {"assessments": self.cohort.assessments, "flags": self.cohort.flags,
                 "summary": self.cohort.patient_summary, "sessions": self.cohort.sessions}[name]
        if frame is None:
            return None
        return frame.take(self.pos[name].get(pid, np.empty(0, dtype=np.intp)))


def _positions(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """{patient_id: positional indices into the full frame} (the frame may be a filtered view)."""
    codes, uniques = pd.factorize(frame["patient_id"], sort=False)
    where = frame.index.to_numpy()  # cohort frames have a RangeIndex: labels are positions
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
        status, status_text, weeks_followed, as_of, follow_up_end); ``flags`` (one dict per rule
        present, most urgent first: ``rule, priority, title, count, first, latest, summary,
        values, evidence, advice, note``) and ``n_flags``; ``instruments`` (per plotted or tabled
        outcome: label, unit, baseline, mic, available); ``assessments`` (frame: ``assessed_on,
        week`` and the outcomes); ``has_sessions``; ``sessions`` (frame: ``performed_at, week,
        level, flare``, or None); ``x_max`` (weeks shown on every time axis); ``table`` (one dict
        per outcome: baseline, endpoint, latest, change, pct_change, responder, rc, rc_class);
        ``programme`` (adherence, dose adherence, sessions, highest level, fidelity);
        ``notes`` (the last few session notes); ``definitions``, ``provenance``,
        ``endpoint_week``, ``no_sessions_text``.
    """
    ids = _check_ids(cohort, [patient_id])
    return _report_data(_Sources(cohort, ids), ids[0])


def _report_data(src: _Sources, pid: str) -> dict[str, Any]:
    cohort = src.cohort
    opts = cohort.options
    row = src.rows("summary", pid).iloc[0]
    enrolled = pd.Timestamp(row["enrolled_on"])
    as_of = pd.Timestamp(cohort.as_of)
    discharged = row.get("discharged_on")
    end = as_of if discharged is None or pd.isna(discharged) else min(pd.Timestamp(discharged), as_of)
    weeks_followed = max((end - enrolled).days, 0) / 7
    status = str(row.get("status", ""))
    status_text = _STATUS_TEXT.get(status, status.replace("_", " "))
    if discharged is not None and not pd.isna(discharged):
        status_text += f" on {_day(discharged)}"

    ass = src.rows("assessments", pid)
    present = [o for o in dict.fromkeys(PLOTTED + TABLED) if o in ass.columns]
    assessments = pd.DataFrame({
        "assessed_on": ass["assessed_on"].to_numpy(),
        "week": (ass["assessed_on"] - enrolled).dt.days.to_numpy(dtype=float) / 7,
        **{o: pd.to_numeric(ass[o], errors="coerce").to_numpy(dtype=float, na_value=np.nan) for o in present},
    }).sort_values("assessed_on", kind="stable").reset_index(drop=True)

    instruments = {}
    for o in dict.fromkeys(PLOTTED + TABLED):
        spec = opts.instruments.get(o)
        if spec is None:
            continue
        instruments[o] = {"label": spec.label, "unit": spec.unit, "baseline": _f(row.get(f"{o}_baseline")),
                          "mic": spec.responder.points, "available": o in present and assessments[o].notna().any()}

    table = []
    for o in TABLED:
        if o not in instruments or f"{o}_baseline" not in row.index:
            continue
        rc_class = row.get(f"{o}_rc_class")
        table.append({"outcome": o, "label": instruments[o]["label"], "unit": instruments[o]["unit"],
                      **{k: _f(row.get(f"{o}_{k}")) for k in ("baseline", "endpoint", "latest", "change",
                                                            "pct_change", "rc")},
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

    x_max = max(weeks_followed, 1.0)
    if len(assessments):
        x_max = max(x_max, float(np.nanmax(assessments["week"])))
    if session_frame is not None and len(session_frame):
        x_max = max(x_max, float(np.nanmax(session_frame["week"])))

    return {
        "patient_id": pid,
        "header": {"site_id": str(row.get("site_id", "")), "clinician_id": str(row.get("clinician_id", "")),
                   "schedule": str(row.get("schedule", "")), "enrolled_on": _day(enrolled),
                   "discharged_on": _day(discharged), "status": status, "status_text": status_text,
                   "weeks_followed": weeks_followed, "as_of": _day(as_of), "follow_up_end": _day(end)},
        "flags": _flag_groups(flags, notes_by_session),
        "n_flags": len(flags),
        "instruments": instruments,
        "assessments": assessments,
        "has_sessions": sessions is not None,
        "sessions": session_frame,
        "x_max": float(math.ceil(x_max + 1e-9)),
        "table": table,
        "programme": programme,
        "notes": notes,
        "endpoint_week": opts.endpoint_week,
        "definitions": _html.definitions(opts),
        "provenance": _html.provenance_footer(cohort.provenance),
        "no_sessions_text": _NO_SESSIONS,
    }


def _flag_groups(flags: pd.DataFrame, notes: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """One entry per rule, most urgent first: how many, when, the values and the latest advice."""
    out = []
    if not len(flags):
        return out
    flags = flags.sort_values(["priority", "date"], kind="stable")
    for rule, g in flags.groupby("rule", sort=False):
        title, many = _RULE_WORDS.get(rule, (rule.replace("_", " ").capitalize(), "flags"))
        latest = g.iloc[-1]
        n = len(g)
        first_day, last_day = _day(g["date"].min()), _day(g["date"].max())
        values = pd.to_numeric(g["value"], errors="coerce")
        top = values.max()
        if rule == "red_flag":
            vals = "; ".join(dict.fromkeys(str(e) for e in g["evidence"]))
        elif pd.notna(top):
            vals = _VALUE_WORDS.get(rule, "highest value {:g}").format(top)
        else:
            vals = ""
        evidence = str(latest["evidence"])
        if rule == "red_flag" and evidence.lower().startswith("red flag: "):
            evidence = evidence[len("red flag: "):]
        if n == 1:
            summary = f"on {last_day}: {evidence}"
        else:
            summary = f"{n} {many}, {first_day} to {last_day}; {vals}; latest: {evidence}"
        note = None
        if latest["source"] == "session" and str(latest["source_id"]) in notes:
            day, text = notes[str(latest["source_id"])]
            note = {"date": day, "text": text}
        out.append({"rule": rule, "priority": int(latest["priority"]), "title": title, "count": n,
                    "first": first_day, "latest": last_day, "summary": summary, "values": vals,
                    "evidence": str(latest["evidence"]), "advice": str(latest["advice"]), "note": note})
    return sorted(out, key=lambda d: (d["priority"], d["rule"]))




# ====================================================================== public renderers


def render_patient_pdf(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Draw the one-page A4 report of ``data`` (:func:`patient_report_data`) to ``path`` (atomic)."""
    atomic_write_bytes(path, _page(data).fill(data).pdf_bytes())
    return Path(path)


def _html_text(data: dict[str, Any], images: dict[str, str]) -> str:
    alts = {
        "pain": "Leg and back pain scores over weeks since enrolment, with baseline and minimal important "
                "change band",
        "odi": "Oswestry Disability Index over weeks since enrolment, with baseline and minimal important "
               "change band",
        "calendar": "Calendar of glide sessions per day (0, 1, 2 or more) by week since enrolment",
        "levels": "Glide level over weeks since enrolment as steps, with session flares marked",
    }
    return _html.render(
        "patient.html.j2", d=data, images=images, alts=alts,
        table=[dict(r, cells=_table_cells(r, data["endpoint_week"])) for r in data["table"]],
        programme=_programme_text(data), definitions=_footer_definitions(data["definitions"]),
        no_session_flags=_NO_SESSION_FLAGS,
    )


def render_patient_html(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the self-contained HTML twin of the page to ``path`` (atomic)."""
    page = _page(data).fill(data, text=False)
    _html.write_html(_html_text(data, page.slot_images()), path)
    return Path(path)


def _render_both(data: dict[str, Any], pdf_path: str, html_path: str) -> str:
    """Worker: draw the page once, write the PDF and the HTML (plots cut from the same drawing)."""
    page = _page(data).fill(data)
    atomic_write_bytes(pdf_path, page.pdf_bytes())
    _html.write_html(_html_text(data, page.slot_images()), html_path)
    return data["patient_id"]


# ====================================================================== batch


def _progress_printer(total: int, enabled: bool | None) -> Callable[[int], None]:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return lambda done: None

    def show(done: int) -> None:
        sys.stderr.write(f"\rpatient reports: {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _index_row(data: dict[str, Any]) -> dict[str, Any]:
    g = data["flags"]
    return {"patient_id": data["patient_id"], "site_id": data["header"]["site_id"],
            "schedule": data["header"]["schedule"], "status": data["header"]["status_text"],
            "weeks_followed": data["header"]["weeks_followed"], "n_flags": data["n_flags"],
            "priority": g[0]["priority"] if g else 99, "most_urgent": g[0]["title"] if g else "",
            "counts": ", ".join(f"{x['title'].lower()} {x['count']}" for x in g)}


def write_patient_reports(cohort: Cohort, out_dir: str | os.PathLike[str], *,
                          patient_ids: Iterable[str] | None = None, jobs: int = 1,
                          progress: bool | None = None) -> dict[str, Any]:
    """Write ``<patient_id>.pdf`` and ``<patient_id>.html`` per patient and ``index.html``.

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
    progress : bool, optional
        A ``\\r`` counter on stderr; default only when stderr is a terminal.

    Returns
    -------
    dict
        ``index`` (path), ``reports`` ({patient_id: {"pdf": path, "html": path}}), ``n``,
        ``seconds``, ``jobs``.
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
    src = _Sources(cohort, None if patient_ids is None else ids)
    datas: Iterator[dict[str, Any]] = (_report_data(src, pid) for pid in ids)
    show = _progress_printer(len(ids), progress)
    rows = []
    done = 0
    show(0)
    if jobs == 1:
        for d in datas:
            _render_both(d, str(paths[d["patient_id"]]["pdf"]), str(paths[d["patient_id"]]["html"]))
            rows.append(_index_row(d))
            done += 1
            show(done)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init) as pool:
            pending: set[Future] = set()
            for d in datas:
                p = paths[d["patient_id"]]
                pending.add(pool.submit(_render_both, d, str(p["pdf"]), str(p["html"])))
                rows.append(_index_row(d))
                if len(pending) >= 4 * jobs:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        f.result()
                        done += 1
                        show(done)
            for f in pending:
                f.result()
                done += 1
                show(done)
    index = _html.render("index.html.j2", rows=sorted(rows, key=lambda r: (r["priority"], -r["n_flags"],
                                                                          r["patient_id"])),
                         as_of=_day(cohort.as_of), provenance=_html.provenance_footer(cohort.provenance),
                         n_flagged=sum(r["n_flags"] > 0 for r in rows))
    _html.write_html(index, index_path)
    return {"index": index_path, "reports": paths, "n": len(ids), "seconds": time.perf_counter() - t0,
            "jobs": jobs}


def _worker_init() -> None:
    import matplotlib

    matplotlib.use("Agg")
