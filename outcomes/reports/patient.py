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

import io
import logging
import math
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.ticker import AutoLocator, ScalarFormatter
from matplotlib.transforms import Bbox

from ..cohort import Cohort
from ..io.writers import atomic_write_bytes, output_path, prepare_out_dir
from ..plotting.patient import (
    CALENDAR_COLOURS,
    plot_adherence_calendar,
    plot_level_steps,
    plot_patient_trajectory,
)
from ..plotting.style import FLAG_COLOUR, NEUTRAL, PALETTE, _style_context, _tidy
from . import _html

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
_NO_SESSION_FLAGS = ("Only red flags and sustained worsening could be checked: without a sessions export, "
                     "severe pain, session flares and disengagement are not known.")
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


# ====================================================================== page geometry (inches, from the top)

_W, _H = 8.27, 11.69
_X0, _X1 = 0.5, 7.8                      # text margins
_AX_L, _AX_R, _AX_W = 1.0, 4.9, 2.9      # left and right panel axes: left edges, width
_STOP = (0.45, 0.98, 7.4, 1.72)          # left, top, width, height
_ROWS = {"A": (3.27, 1.2), "B": (5.36, 1.2), "C": (7.45, 0.8)}   # axes top, height
_TITLE_ABOVE = 0.3                       # section title baseline above the axes top
_TABLE_TOP = 8.8
_FOOTER_TOP = 10.3


def _rect(left: float, top: float, width: float, height: float) -> tuple[float, float, float, float]:
    """Figure-fraction rectangle from inches measured from the page's top-left corner."""
    return (left / _W, 1 - (top + height) / _H, width / _W, height / _H)


def _y(top: float) -> float:
    return 1 - top / _H


#: Axes rectangles of the plot panels.
_PANELS = {
    "leg_pain": _rect(_AX_L, _ROWS["A"][0], _AX_W, _ROWS["A"][1]),
    "back_pain": _rect(_AX_R, _ROWS["A"][0], _AX_W, _ROWS["A"][1]),
    "odi": _rect(_AX_L, _ROWS["B"][0], _AX_W, _ROWS["B"][1]),
    "calendar": _rect(_AX_R, _ROWS["B"][0], _AX_W, _ROWS["B"][1]),
    "levels": _rect(_AX_L, _ROWS["C"][0], _AX_R + _AX_W - _AX_L, _ROWS["C"][1]),
}
#: Section titles: (slot, x, row, text); text None = from the instrument.
_TITLES = {"leg_pain": ("pain", _AX_L, "A"), "back_pain": ("pain", _AX_R, "A"), "odi": ("odi", _AX_L, "B"),
           "calendar": ("calendar", _AX_R, "B"), "levels": ("levels", _AX_L, "C")}
_TITLE_TEXT = {"leg_pain": "Leg pain", "back_pain": "Back pain", "odi": "Disability (Oswestry Disability Index)",
               "calendar": "Adherence: glide sessions per day", "levels": "Glide level and session flares"}
_AXIS_LABEL = {"leg_pain": "Leg pain (NRS 0-10)", "back_pain": "Back pain (NRS 0-10)", "odi": "ODI (%, 0-100)"}
#: Slots cut out for the HTML twin, inches (x0, top, x1, bottom), and the panels each shows.
_SLOTS = {
    "pain": ((0.3, _ROWS["A"][0] - _TITLE_ABOVE - 0.2, 7.95, _ROWS["A"][0] + _ROWS["A"][1] + 0.42),
             ("leg_pain", "back_pain")),
    "odi": ((0.3, _ROWS["B"][0] - _TITLE_ABOVE - 0.2, 4.2, _ROWS["B"][0] + _ROWS["B"][1] + 0.42), ("odi",)),
    "calendar": ((4.2, _ROWS["B"][0] - _TITLE_ABOVE - 0.2, 7.95, _ROWS["B"][0] + _ROWS["B"][1] + 0.42),
                 ("calendar",)),
    "levels": ((0.3, _ROWS["C"][0] - _TITLE_ABOVE - 0.2, 7.95, _ROWS["C"][0] + _ROWS["C"][1] + 0.42),
               ("levels",)),
}

# The PDF uses the standard PDF Helvetica (not embedded: 4-5 times faster to write than an embedded
# TrueType font). It covers Windows-1252 only, so symbols are spelt out and any other text from
# the data falls back to an embedded DejaVu Sans (see _UnicodeText).
_PDF_RC = {"pdf.use14corefonts": True, "axes.unicode_minus": False, "font.family": "sans-serif",
           "font.sans-serif": ["Helvetica", "DejaVu Sans"]}
_PDF_SUBSTITUTES = str.maketrans({"−": "-", "≥": ">=", "≤": "<=", "÷": "/", "√": "sqrt", "⚠": "!", "→": "->"})


def _pdf_safe(s: str) -> str:
    return s.translate(_PDF_SUBSTITUTES)


def _cp1252(s: str) -> bool:
    try:
        s.encode("cp1252")
        return True
    except UnicodeEncodeError:
        return False


class _UnicodeText(Text):
    """Text with characters outside Windows-1252: drawn with an embedded font, not Helvetica."""

    def draw(self, renderer: Any) -> None:
        with mpl.rc_context({"pdf.use14corefonts": False, "font.sans-serif": ["DejaVu Sans"]}):
            super().draw(renderer)


# ====================================================================== drawing


class _Page:
    """One A4 page laid out once and refilled for each patient.

    Every position is fixed (no layout engine), so a clinician finds each panel in the same place
    on every report. The figure, its five plot axes, the section titles and the footer are made
    once per process (:func:`_page`); :meth:`fill` removes everything the previous patient put
    on the page, then draws this patient's plots and text. Creating axes and ticks is most of
    the cost of a page, so reuse makes a page 2-3 times faster.
    """

    def __init__(self, static: tuple[Any, ...]) -> None:
        self.static = static
        self.fig = Figure(figsize=(_W, _H))
        self.axes: dict[str, Any] = {name: self.fig.add_axes(rect) for name, rect in _PANELS.items()}
        self.titles: dict[str, Any] = {}       # section title by panel (static)
        self.footer: list[Any] = []            # definitions and provenance (static per cohort)
        self.dynamic: list[Any] = []           # this patient's page artists (removed by the next fill)
        self.keys: dict[str, list[Any]] = {}   # this patient's legend artists by panel (also dynamic)
        self.data: dict[str, Any] | None = None
        with _style():
            for ax in self.axes.values():
                _tidy(ax)
            for key, (slot, x, row) in _TITLES.items():
                self.titles[key] = self._text(x - 0.5, _ROWS[row][0] - _TITLE_ABOVE, _TITLE_TEXT[key],
                                              keep=True, fontsize=9.5, fontweight="bold")
            self._footer(*static)

    # ---- helpers
    def _text(self, x: float, top: float, s: str, *, keep: bool = False, **kw: Any) -> Any:
        kw.setdefault("fontsize", 8)
        kw.setdefault("va", "baseline")
        s = _pdf_safe(s)
        cls = Text if _cp1252(s) else _UnicodeText
        t = cls(x / _W, _y(top), s, parse_math=False, transform=self.fig.transFigure, **kw)
        self.fig.add_artist(t)
        if not keep:
            self.dynamic.append(t)
        return t

    def _rectangle(self, left: float, top: float, width: float, height: float, **kw: Any) -> None:
        r = Rectangle((left / _W, _y(top + height)), width / _W, height / _H, transform=self.fig.transFigure, **kw)
        self.dynamic.append(self.fig.add_artist(r))

    def _hline(self, top: float, colour: str = "#444444", keep: bool = False) -> None:
        line = self.fig.add_artist(Line2D([_X0 / _W, _X1 / _W], [_y(top)] * 2, linewidth=0.6, color=colour))
        (self.footer if keep else self.dynamic).append(line)

    # ---- filling
    def fill(self, data: dict[str, Any], *, text: bool = True) -> _Page:
        """Clear the previous patient's content and draw ``data``'s."""
        for artist in self.dynamic:
            artist.remove()
        self.dynamic = []
        self.keys = {}
        self.data = data
        with _style():
            for ax in self.axes.values():
                _reset(ax)
            self._plots()
            for key in ("calendar", "levels"):
                self.titles[key].set_visible(data["has_sessions"])
            for a in self.footer:
                a.set_visible(text)
            if text:
                self._header()
                self._stop_box()
                self._table()
        return self

    def _plots(self) -> None:
        d = self.data
        ass, x_max = d["assessments"], d["x_max"]
        for o in ("leg_pain", "back_pain", "odi"):
            info = d["instruments"].get(o)
            ax = self.axes[o]
            if info and info["available"]:
                plot_patient_trajectory(ass, outcome=o, baseline=info["baseline"], ax=ax, legend=False,
                                        colour_index=1 if o == "back_pain" else 0, ylabel=_AXIS_LABEL[o])
                ax.set_xlim(0, x_max)
                if info["baseline"] is not None:
                    entries = [("line", {"color": NEUTRAL, "linestyle": ":", "linewidth": 1.2},
                                f"baseline {info['baseline']:g}")]
                    if info["mic"]:
                        entries.append(("box", {"facecolor": PALETTE[1], "alpha": 0.13, "linewidth": 0},
                                        f"improved less than the MIC ({info['mic']:g} points)"))
                    self._key(o, entries)
            else:
                _empty(ax, f"No {(info['label'] if info else o).lower()} score recorded for this patient.")
        cal, lev = self.axes["calendar"], self.axes["levels"]
        sessions = d["sessions"]
        if not d["has_sessions"]:  # one sentence in place of the session panels
            _empty(cal, "\n".join(textwrap.wrap(d["no_sessions_text"], 50)), boxed=True)
            lev.set_axis_off()
        else:
            plot_adherence_calendar(sessions, enrolled_on=d["header"]["enrolled_on"],
                                    end=d["header"]["follow_up_end"], legend=False, ax=cal)
            cal.set_xlim(0, x_max)
            self._key("calendar", [("box", {"facecolor": c, "edgecolor": "#999999", "linewidth": 0.5}, t)
                                   for c, t in zip(CALENDAR_COLOURS, ("0 sessions", "1 session", "2+ sessions"))])
            if len(sessions):
                plot_level_steps(sessions, legend=False, ax=lev)
                lev.set_xlim(0, x_max)
                self._key("levels", [
                    ("line", {"color": PALETTE[0], "linewidth": 1.5}, "glide level"),
                    ("line", {"linestyle": "none", "marker": "v", "markersize": 6, "color": FLAG_COLOUR,
                              "markeredgecolor": "black", "markeredgewidth": 0.5},
                     f"session flare ({int(sessions['flare'].sum())})")])
            else:
                _empty(lev, "No glide session logged.")
        for ax in self.axes.values():
            if ax.axison and ax.get_xticks().size:
                ax.xaxis.set_major_locator(_week_locator(x_max))  # a locator serves one axis only

    def _key(self, panel: str, entries: list[tuple[str, dict[str, Any], str]]) -> None:
        """A one-line legend above a panel, left-aligned, drawn as plain figure artists.

        ``entries`` are ``(kind, style, label)`` with kind "line" (a Line2D sample, optionally with
        a marker) or "box" (a filled square). Four times cheaper to draw than a Legend.
        """
        x = _PANELS[panel][0] * _W
        top = _ROWS[_TITLES[panel][2]][0] - 0.09
        artists = []
        for kind, style, label in entries:
            if kind == "line":
                xs = [x / _W, (x + 0.25) / _W] if style.get("linestyle", "-") != "none" else [(x + 0.125) / _W]
                artists.append(Line2D(xs, [_y(top - 0.03)] * len(xs), transform=self.fig.transFigure, **style))
            else:
                artists.append(Rectangle(((x + 0.06) / _W, _y(top + 0.01)), 0.13 / _W, 0.1 / _H,
                                         transform=self.fig.transFigure, **style))
            self.fig.add_artist(artists[-1])
            artists.append(self._text(x + 0.3, top, label, keep=True, fontsize=7, color="#222222"))
            x += 0.3 + 0.052 * len(label) + 0.22
        self.dynamic += artists
        self.keys[panel] = artists

    # ---- header
    def _header(self) -> None:
        d, h = self.data, self.data["header"]
        self._text(_X0, 0.42, f"Sciatic nerve glide program — patient {d['patient_id']}", fontsize=15,
                   fontweight="bold")
        self._text(_X1, 0.42, f"Data as of {h['as_of']}", fontsize=8.5, ha="right", color="#333333")
        sep = "     "
        self._text(_X0, 0.66, sep.join([f"Site: {h['site_id']}", f"Clinician: {h['clinician_id']}",
                                        f"Schedule: {h['schedule']}", f"Enrolled: {h['enrolled_on']}"]),
                   fontsize=9.5)
        self._text(_X0, 0.85, sep.join([f"Status: {h['status_text']}",
                                        f"Weeks followed: {h['weeks_followed']:.1f}"]), fontsize=9.5)

    # ---- stop box
    def _stop_box(self) -> None:
        d = self.data
        left, top, width, height = _STOP
        groups = d["flags"]
        if not groups:
            box = 0.42 if d["has_sessions"] else 0.85  # room for the caveat inside the box
            self._rectangle(left, top, width, box, facecolor="#EEF6EE", edgecolor="#4D7F4D", linewidth=1.0)
            self._text(left + 0.15, top + 0.27, f"No stop-and-consult flags up to {d['header']['follow_up_end']}.",
                       fontsize=10, fontweight="bold", color="#1E4D1E")
            if not d["has_sessions"]:
                for i, line in enumerate(textwrap.wrap(_NO_SESSION_FLAGS, 125)):
                    self._text(left + 0.15, top + 0.55 + 0.14 * i, line, fontsize=8, color="#333333")
            return
        self._rectangle(left, top, width, height, facecolor="#FDF0E8", edgecolor=FLAG_COLOUR, linewidth=3)
        self._rectangle(left, top, width, 0.32, facecolor=FLAG_COLOUR, edgecolor=FLAG_COLOUR, linewidth=3)
        n, k = d["n_flags"], len(groups)
        self._text(left + 0.14, top + 0.225, f"STOP AND CONSULT:  {n} flag{'s' if n != 1 else ''} of {k} "
                   f"kind{'s' if k != 1 else ''}, most urgent first", fontsize=11, fontweight="bold", color="white")
        lines = _stop_lines(groups)
        if not d["has_sessions"]:
            lines.append(("more", _NO_SESSION_FLAGS))
        room = height - 0.45
        for size, spacing, chars in ((9, 0.15, 119), (8, 0.135, 134), (7.2, 0.122, 149), (6.5, 0.11, 165)):
            wrapped = _wrap_stop(lines, chars)
            if len(wrapped) * spacing <= room:
                break
        else:
            wrapped = wrapped[: int(room / spacing) - 1] + [("more", "... more in the HTML report")]
        y = top + 0.52
        for kind, s in wrapped:
            style = {"head": {"fontweight": "bold"}, "advice": {}, "note": {"style": "italic", "color": "#333333"},
                     "more": {"style": "italic"}}[kind]
            self._text(left + (0.32 if kind in ("advice", "note") else 0.15), y, s, fontsize=size, **style)
            y += spacing

    # ---- summary table
    def _table(self) -> None:
        d = self.data
        self._text(_X0, _TABLE_TOP, "Summary", fontsize=9.5, fontweight="bold")
        ew = d["endpoint_week"]
        cols = [("Outcome", _X0, "left"), ("Baseline", 3.45, "right"), (f"Week {ew}", 4.05, "right"),
                ("Latest", 4.6, "right"), (f"Change to week {ew}", 5.7, "right"), ("Responder", 5.9, "left"),
                ("Reliable change", _X1, "right")]
        y = _TABLE_TOP + 0.22
        for name, x, ha in cols:
            self._text(x, y, name, fontsize=8, fontweight="bold", ha=ha)
        self._hline(y + 0.05)
        for r in d["table"]:
            y += 0.16
            for (_, x, ha), s in zip(cols, _table_cells(r, ew)):
                self._text(x, y, s, fontsize=8, ha=ha)
        self._hline(y + 0.06)
        y += 0.22
        for line in textwrap.wrap(_programme_text(d), 135)[:2] if d["has_sessions"] else []:
            self._text(_X0, y, line, fontsize=8)
            y += 0.15
        if d["notes"]:
            notes = "Latest session notes: " + "  ·  ".join(
                f"{n['date']}: \u201c{_clip(n['text'], 60)}\u201d" for n in d["notes"])
            self._text(_X0, y, _clip(notes, 165), fontsize=7.5, style="italic", color="#333333")

    # ---- footer (static)
    def _footer(self, definitions: tuple[str, ...], provenance: str, endpoint_week: int) -> None:
        self._hline(_FOOTER_TOP - 0.1, colour="#999999", keep=True)
        y = _FOOTER_TOP + 0.03
        for item in ("Definitions. " + definitions[0],) + definitions[1:]:
            for line in textwrap.wrap(item, 190):
                self.footer.append(self._text(_X0, y, line, keep=True, fontsize=5.8, color="#222222"))
                y += 0.088
        for line in textwrap.wrap(provenance, 190)[:2]:
            y += 0.02
            self.footer.append(self._text(_X0, y, line, keep=True, fontsize=5.8, color="#444444"))
            y += 0.088

    # ---- output
    def pdf_bytes(self) -> bytes:
        buf = io.BytesIO()
        font_log = logging.getLogger("matplotlib.font_manager")
        level = font_log.level
        font_log.setLevel(logging.ERROR)  # "Helvetica: using medium for normal" once per process
        try:
            with _style(), mpl.rc_context(_PDF_RC):  # ticks made while drawing need the style too
                self.fig.savefig(buf, format="pdf", metadata={"Creator": "outcomes", "CreationDate": None})
        finally:
            font_log.setLevel(level)
        return buf.getvalue()

    def slot_images(self, fmt: str = "svg") -> dict[str, str]:
        """Each plot section as a data URI, cut from the same drawing (page text hidden)."""
        assert self.data is not None
        page_text = [a for a in self.dynamic + self.footer if a.get_visible()]
        shown = {k: t.get_visible() for k, t in self.titles.items()}
        for a in page_text:
            a.set_visible(False)
        out = {}
        try:
            for slot, ((x0, top, x1, bottom), panels) in _SLOTS.items():
                if slot in ("calendar", "levels") and not self.data["has_sessions"]:
                    continue
                for name, ax in self.axes.items():
                    ax.set_visible(name in panels)
                    self.titles[name].set_visible(name in panels and shown[name])
                    for a in self.keys.get(name, []):
                        a.set_visible(name in panels)
                box = Bbox.from_extents(x0, _H - bottom, x1, _H - top)
                with _style():
                    out[slot] = _html.figure_data_uri(self.fig, fmt=fmt, bbox_inches=box)
        finally:
            for a in page_text + list(self.axes.values()):
                a.set_visible(True)
            for k, t in self.titles.items():
                t.set_visible(shown[k])
        return out


_PAGE: _Page | None = None


def _page(data: dict[str, Any]) -> _Page:
    """This process's page, laid out once (again only when the footer changes: another cohort)."""
    global _PAGE
    static = _static_key(data)
    if _PAGE is None or _PAGE.static != static:
        _PAGE = _Page(static)
    return _PAGE


def _static_key(data: dict[str, Any]) -> tuple[Any, ...]:
    p = data["provenance"]
    inputs = ("inputs (sha256): " + "; ".join(f"{i['file'] or i['name']} {i['sha256_short']}" for i in p["inputs"])
              if p["inputs"] else "built from data frames (no input files to hash)")
    prov = f"Provenance: {p['version']}; made {p['created']}; dataset {p['dataset']}; {inputs}"
    return tuple(_footer_definitions(data["definitions"])), prov, data["endpoint_week"]


def _reset(ax: Any) -> None:
    """Return a reused axes to its blank state: no artists, default ticks, limits and labels."""
    for artist in [*ax.lines, *ax.patches, *ax.collections, *ax.texts, *ax.images, *ax.artists]:
        artist.remove()
    if ax.legend_ is not None:
        ax.legend_.remove()
    ax.set_axis_on()
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(True)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(AutoLocator())
        axis.set_major_formatter(ScalarFormatter())
        axis.set_label_text("")
    ax.tick_params(axis="both", length=3.5, labelbottom=True, labelleft=True)
    ax.grid(True)
    ax.dataLim.set_points(Bbox.null().get_points())
    ax.ignore_existing_data_limits = True
    ax.set_xlim(0, 1, auto=True)
    ax.set_ylim(0, 1, auto=True)


def _style() -> Any:
    """The shared plot style, entered once for a whole page (see outcomes.plotting.style)."""
    return _style_context()


def _week_locator(x_max: float) -> Any:
    from matplotlib.ticker import MultipleLocator

    return MultipleLocator(1 if x_max <= 8 else 2 if x_max <= 16 else 4 if x_max <= 32 else 8)


def _empty(ax: Any, message: str, *, boxed: bool = False) -> None:
    """An axes with no data: no ticks or spines, a sentence in the middle (optionally boxed)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    ax.grid(False)
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", fontsize=8.5,
            color="#222222", parse_math=False, linespacing=1.5,
            bbox={"boxstyle": "round,pad=0.8", "facecolor": "#F2F2F2", "edgecolor": "#999999"} if boxed else None)


def _clip(s: str, n: int) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 3] + "..."


def _stop_lines(groups: list[dict[str, Any]]) -> list[tuple[str, str]]:
    lines = []
    for i, g in enumerate(groups, 1):
        lines.append(("head", f"{i}. {g['title']} — {g['summary']}"))
        lines.append(("advice", f"Advice: {g['advice']}"))
        if g["note"]:
            lines.append(("note", f"Patient's note on {g['note']['date']}: “{_clip(g['note']['text'], 150)}”"))
    return lines


def _wrap_stop(lines: list[tuple[str, str]], width: int) -> list[tuple[str, str]]:
    out = []
    for kind, s in lines:
        w = int(width * 0.92) if kind == "head" else width  # bold is wider
        parts = textwrap.wrap(s, w) or [""]
        if kind == "head" and len(parts) > 2:
            parts = parts[:1] + [_clip(" ".join(parts[1:]), w)]
        out += [(kind, p) for p in parts]
    return out


def _fmt(v: float | None, digits: int = 1) -> str:
    return _html.fmt_num(v, digits)


def _table_cells(r: dict[str, Any], endpoint_week: int) -> list[str]:
    digits = 0 if r["outcome"] in ("leg_pain", "back_pain", "rmdq") else 1
    change = _fmt(r["change"], digits)
    if r["change"] is not None:
        change = ("+" if r["change"] > 0 else "") + change
        if r["pct_change"] is not None:
            change += f" ({'+' if r['pct_change'] > 0 else ''}{_fmt(r['pct_change'], 0)} %)"
    resp = {True: "yes", False: "no"}.get(r["responder"]) or (
        "no baseline" if r["baseline"] is None else f"no week-{endpoint_week} score" if r["endpoint"] is None
        else "–")
    rc = "–" if r["rc_class"] is None else f"{r['rc_class']} (RC {_fmt(r['rc'], 1)})"
    return [f"{r['label']}, {r['unit']}", _fmt(r["baseline"], digits), _fmt(r["endpoint"], digits),
            _fmt(r["latest"], digits), change, resp, rc]


def _programme_text(d: dict[str, Any]) -> str:
    if not d["has_sessions"]:
        return d["no_sessions_text"]
    p = d["programme"]
    parts = [f"Adherence {_html.fmt_pct(p['adherence'])} of prescribed sessions"
             + (f" (dose {_html.fmt_pct(p['dose_adherence'])} of repetitions)" if p["dose_adherence"] is not None else "")
             + f"; {p['sessions']} sessions logged"]
    if p["highest_level"] is not None:
        parts.append(f"highest level {p['highest_level']:g} (first on {p['highest_level_on']})")
    if p["fidelity_followed"] is not None:
        dev = p["fidelity_deviations"] or 0
        parts.append(f"progression {'followed' if p['fidelity_followed'] else 'did not follow'} the "
                     f"{d['header']['schedule']} schedule ({dev} deviation{'s' if dev != 1 else ''})")
    else:
        parts.append("progression fidelity not assessed")
    return "; ".join(parts) + "."


def _footer_definitions(defs: list[dict[str, str]]) -> list[str]:
    # Merge identical rules (leg and back pain share the NRS rule) to keep the footer short.
    merged: dict[tuple[str, str], list[str]] = {}
    for item in defs:
        merged.setdefault((item["text"], item["source"]), []).append(item["term"])
    out = []
    for (text, source), terms in merged.items():
        if len(terms) > 1 and all(t.startswith("Responder, ") for t in terms):
            term = "Responder, " + " and ".join(t.removeprefix("Responder, ") for t in terms)
        else:
            term = " / ".join(terms)
        out.append(f"{term}: {text} Source: {source}.")
    return out


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
    paths = {pid: {"pdf": output_path(out, f"{pid}.pdf"), "html": output_path(out, f"{pid}.html")} for pid in ids}
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
