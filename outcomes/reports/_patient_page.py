"""The one-page A4 patient report: a fixed layout recorded on a :class:`~._patient_canvas.Canvas`,
written as the PDF page and cut into the HTML twin's figures (see
:func:`outcomes.reports.patient.render_patient_pdf`).

Every position is fixed (no layout engine), so a clinician finds each panel in the same place on
every report. The footer (definitions and provenance, the same for a whole cohort) is laid out
once per process; each patient's header, STOP AND CONSULT box, plots and table are recorded
fresh on a new canvas, so nothing of a previous patient can survive on the next page.
"""

from __future__ import annotations

import textwrap
from typing import Any

from ..plotting.patient import CALENDAR_COLOURS
from ..plotting.style import FLAG_COLOUR, NEUTRAL, PALETTE
from . import _patient_plots as plots
from ._patient_canvas import Canvas
from ._patient_text import (  # the page's words (also imported from here by patient.py)
    _clip,
    _explain_lines,
    _footer_definitions,
    _programme_text,
    _quiet_lines,
    _short,
    _stop_lines,
    _table_cells,
    _table_headers,
    _wrap_stop,
)

__all__: list[str] = []  # private: the page of outcomes.reports.patient

_NO_SESSION_FLAGS = ("Only red flags and sustained worsening could be checked: without a sessions export, "
                     "severe pain, session flares and disengagement are not known.")


# ====================================================================== page geometry (inches, from the top)

_W, _H = 8.27, 11.69
_X0, _X1 = 0.5, 7.8                      # text margins
_AX_L, _AX_R, _AX_W = 1.0, 4.9, 2.9      # left and right panel axes: left edges, width
_FULL_W = _X1 - _AX_L                    # a full-width panel
_STOP = (0.45, 0.98, 7.4, 1.5)           # left, top, width, most height
_ROWS = {"A": (2.95, 1.25), "B": (5.42, 0.9), "C": (7.27, 0.85)}   # axes top, height
_EXPECTED_TOP = _ROWS["A"][0] + _ROWS["A"][1] + 0.5   # the expected-range sentence under the primary panel
_TITLE_ABOVE = 0.3                       # section title baseline above the axes top
_TABLE_TOP = 8.74
_FOOTER_TOP = 10.62
_FOOT_SIZE, _FOOT_STEP, _FOOT_CHARS = 7.0, 0.108, 160

#: Plot panels: (left, top, width, height) in inches: the primary outcome full width, two more
#: outcomes, the sessions.
_PANELS = {
    "primary": (_AX_L, _ROWS["A"][0], _FULL_W, _ROWS["A"][1]),
    "second": (_AX_L, _ROWS["B"][0], _AX_W, _ROWS["B"][1]),
    "third": (_AX_R, _ROWS["B"][0], _AX_W, _ROWS["B"][1]),
    "calendar": (_AX_L, _ROWS["C"][0], _AX_W, _ROWS["C"][1]),
    "levels": (_AX_R, _ROWS["C"][0], _AX_W, _ROWS["C"][1]),
}
#: Section titles: panel -> (x, row); the text is the outcome's label (outcome panels) or fixed.
_TITLES = {"primary": (_AX_L, "A"), "second": (_AX_L, "B"), "third": (_AX_R, "B"), "calendar": (_AX_L, "C"),
           "levels": (_AX_R, "C")}
_TITLE_TEXT = {"calendar": "Adherence: glide sessions per day", "levels": "Glide level and session flares"}
_OUTCOME_PANELS = ("primary", "second", "third")
#: Slots cut out for the HTML twin, inches (x0, top, x1, bottom), and the panels each shows.
_SLOTS = {
    "primary": ((0.3, _ROWS["A"][0] - _TITLE_ABOVE - 0.2, 7.95, _ROWS["A"][0] + _ROWS["A"][1] + 0.42), ("primary",)),
    "secondary": ((0.3, _ROWS["B"][0] - _TITLE_ABOVE - 0.2, 7.95, _ROWS["B"][0] + _ROWS["B"][1] + 0.42),
                  ("second", "third")),
    "sessions": ((0.3, _ROWS["C"][0] - _TITLE_ABOVE - 0.2, 7.95, _ROWS["C"][0] + _ROWS["C"][1] + 0.42),
                 ("calendar", "levels")),
}
#: Summary table columns: (x in inches, alignment), in the order of :func:`_table_headers`.
_TABLE_X = ((_X0, "left"), (2.95, "right"), (3.5, "right"), (4.3, "right"), (5.2, "right"), (6.1, "right"),
            (6.25, "left"), (_X1, "right"))



# ====================================================================== drawing


class _Page:
    """One patient's page: a canvas holding the cohort's footer and this patient's content.

    ``panels`` records what each plot panel drew (points, ticks, counts), ``keys`` the legend
    entries above each panel.
    """

    def __init__(self, data: dict[str, Any], footer: list[tuple[Any, ...]]) -> None:
        self.data = data
        self.canvas = Canvas(_W, _H, footer)
        self.panels: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, list[str]] = {}
        self._plots()
        self._header()
        self._stop_box()
        self._expected()
        self._table()

    # ---- helpers
    def _text(self, x: float, top: float, s: str, *, group: str = "page", fontsize: float = 8,
              fontweight: str = "normal", style: str = "normal", color: str = "#000000", ha: str = "left") -> None:
        self.canvas.text(x, top, s, group=group, size=fontsize, bold=fontweight == "bold", italic=style == "italic",
                         colour=color, ha=ha)

    def _hline(self, top: float, colour: str = "#444444") -> None:
        self.canvas.line(_X0, top, _X1, top, group="page", stroke=colour, width=0.6)

    # ---- plots
    def _plots(self) -> None:
        d = self.data
        ass, x_max = d["assessments"], d["x_max"]
        shown = dict(zip(_OUTCOME_PANELS, d["outcomes"]))
        for i, panel in enumerate(_OUTCOME_PANELS):
            o = shown.get(panel)
            if o is None:
                continue
            info = d["instruments"].get(o)
            x, row = _TITLES[panel]
            self._text(x - 0.5, _ROWS[row][0] - _TITLE_ABOVE, info["label"] if info else o, group=panel,
                       fontsize=9.5, fontweight="bold")
            ax = plots.Axes(self.canvas, panel, _PANELS[panel])
            if not (info and info["available"]):
                ax.message([f"No {(info['label'] if info else o)} score recorded for this patient."])
                continue
            band = d["expected"]["band"] if panel == "primary" and d["expected"]["available"] else None
            self.panels[panel] = plots.trajectory(ax, ass, o, info, x_max=x_max, colour_index=min(i, 1),
                                                  ylabel=info["unit"] or _short(info["label"]), band=band)
            entries = []
            if info["baseline"] is not None:
                entries.append(("line", {"stroke": NEUTRAL, "dash": [1.2, 1.98], "width": 1.2},
                                f"baseline {info['baseline']:g}"))
                if info["mic"]:
                    entries.append(("box", {"fill": PALETTE[1], "alpha": 0.13}, f"MIC band ({info['mic']:g} points)"))
            if band is not None:
                entries += [("box", {"fill": "#999999", "alpha": 0.22}, "expected: 80 % of similar patients"),
                            ("box", {"fill": "#999999", "alpha": 0.5}, "50 %")]
            if entries:
                self._key(panel, entries)
        if not d["has_sessions"]:  # one sentence in place of the session panels
            ax = plots.Axes(self.canvas, "calendar", _PANELS["calendar"])
            ax.message(textwrap.wrap(d["no_sessions_text"], 50), boxed=True)
            return
        for key in ("calendar", "levels"):
            x, row = _TITLES[key]
            self._text(x - 0.5, _ROWS[row][0] - _TITLE_ABOVE, _TITLE_TEXT[key], group=key, fontsize=9.5,
                       fontweight="bold")
        sessions = d["sessions"]
        cal = plots.Axes(self.canvas, "calendar", _PANELS["calendar"])
        self.panels["calendar"] = plots.calendar(cal, sessions, enrolled_on=d["header"]["enrolled_on"],
                                                 end=d["header"]["follow_up_end"], x_max=x_max)
        self._key("calendar", [("box", {"fill": c, "stroke": "#999999", "width": 0.5}, t)
                               for c, t in zip(CALENDAR_COLOURS, ("0 sessions", "1", "2 or more"))])
        lev = plots.Axes(self.canvas, "levels", _PANELS["levels"])
        if len(sessions):
            self.panels["levels"] = plots.levels(lev, sessions, x_max=x_max)
            self._key("levels", [
                ("line", {"stroke": PALETTE[0], "width": 1.5}, "glide level"),
                ("mark", {"shape": "v", "size": 6, "fill": FLAG_COLOUR, "edge": "#000000", "edge_width": 0.5},
                 f"session flare ({self.panels['levels']['flares']})")])  # the markers drawn
        else:
            lev.message(["No glide session logged."])

    def _key(self, panel: str, entries: list[tuple[str, dict[str, Any], str]]) -> None:
        """A one-line legend above a panel, left-aligned: a line sample, a marker or a filled square, then
        its words."""
        x = _PANELS[panel][0]
        top = _ROWS[_TITLES[panel][1]][0] - 0.09
        c = self.canvas
        for kind, style, label in entries:
            y = top - 0.03
            if kind == "line":
                c.line(x, y, x + 0.25, y, group=panel, **style)
            elif kind == "mark":
                c.marks([(x + 0.125, y)], group=panel, **style)
            else:
                c.rect(x + 0.06, top - 0.09, 0.13, 0.1, group=panel, **style)
            self._text(x + 0.3, top, label, group=panel, fontsize=7, color="#222222")
            x += 0.3 + 0.052 * len(label) + 0.18
        self.keys[panel] = [label for _, _, label in entries]

    # ---- header
    def _header(self) -> None:
        d, h = self.data, self.data["header"]
        self._text(_X0, 0.42, f"Sciatic nerve glide program — patient {d['patient_id']}", fontsize=15,
                   fontweight="bold")
        self._text(_X1, 0.42, f"Data as of {h['as_of']}", fontsize=8.5, ha="right", color="#333333")
        sep = "     "
        first = [f"Site: {h['site_id']}" if h["site_id"] else "", f"Clinician: {h['clinician_id']}"
                 if h["clinician_id"] else "", f"Schedule: {h['schedule']}", f"Enrolled: {h['enrolled_on']}"]
        self._text(_X0, 0.66, sep.join(p for p in first if p), fontsize=9.5)
        second = sep.join([f"Status: {h['status_text']}", f"Weeks followed: {h['weeks_followed']:.1f}",
                           f"Latest data: {h['last_data_on'] or '–'}"])
        self._text(_X0, 0.85, second, fontsize=9.5)
        e = d["expected"]
        if e["available"] and e["status"] != "no_band":
            label = d["instruments"][e["outcome"]]["label"]
            colour = {"behind": FLAG_COLOUR, "ahead": "#1E6B3A"}.get(e["status"], "#111111")
            # beside the primary panel's title, where the band is drawn (the HTML says it in its header)
            self._text(_X1, _ROWS["A"][0] - _TITLE_ABOVE, f"{label} vs expected: {e['status'].replace('_', ' ')}",
                       fontsize=9.5, fontweight="bold", ha="right", color=colour)

    # ---- stop box
    def _stop_box(self) -> None:
        d = self.data
        c = self.canvas
        left, top, width, most = _STOP
        quiet = _quiet_lines(d)
        if not d["stop"]:
            lines = [("head", f"No active stop-and-consult flag up to {d['header']['follow_up_end']}.")]
            lines += [("more", q) for q in quiet]
            if not d["has_sessions"]:
                lines.append(("more", _NO_SESSION_FLAGS))
            wrapped = _wrap_stop(lines, 135)
            spacing = 0.15
            height = 0.2 + spacing * len(wrapped)
            c.rect(left, top, width, height, group="page", fill="#EEF6EE", stroke="#4D7F4D", width=1.0)
            y = top + 0.22
            for kind, line in wrapped:
                if kind == "head":
                    self._text(left + 0.15, y, line, fontsize=10, fontweight="bold", color="#1E4D1E")
                else:
                    self._text(left + 0.15, y, line, fontsize=8, color="#333333")
                y += spacing
            return
        groups = d["flags"]
        k = len(groups)
        lines = _stop_lines(groups)
        lines += [("more", q) for q in quiet]
        if not d["has_sessions"]:
            lines.append(("more", _NO_SESSION_FLAGS))
        room = most - 0.45
        for size, spacing, chars in ((9, 0.15, 119), (8, 0.135, 134), (7.2, 0.122, 149)):
            wrapped = _wrap_stop(lines, chars)
            if len(wrapped) * spacing <= room:
                break
        else:
            wrapped = wrapped[: int(room / spacing) - 1] + [("more", "... more in the HTML report")]
        height = 0.45 + spacing * len(wrapped) + 0.02
        c.rect(left, top, width, height, group="page", fill="#FDF0E8", stroke=FLAG_COLOUR, width=3)
        c.rect(left, top, width, 0.32, group="page", fill=FLAG_COLOUR, stroke=FLAG_COLOUR, width=3)
        self._text(left + 0.14, top + 0.225, f"STOP AND CONSULT:  {k} active kind{'s' if k != 1 else ''} of flag, "
                   "most urgent first", fontsize=11, fontweight="bold", color="#FFFFFF")
        y = top + 0.52
        for kind, line in wrapped:
            style = {"head": {"fontweight": "bold"}, "advice": {}, "note": {"style": "italic", "color": "#333333"},
                     "more": {"color": "#333333"}}[kind]
            self._text(left + (0.32 if kind in ("advice", "note") else 0.15), y, line, fontsize=size, **style)
            y += spacing

    # ---- expected range
    def _expected(self) -> None:
        e = self.data["expected"]
        for i, line in enumerate(textwrap.wrap(e["text"], 150)[:2]):
            self._text(_X0, _EXPECTED_TOP + 0.13 * i, line, fontsize=7.5, color="#222222")

    # ---- summary table
    def _table(self) -> None:
        d = self.data
        self._text(_X0, _TABLE_TOP, "Summary", fontsize=9.5, fontweight="bold")
        cols = list(zip(_table_headers(d["endpoint_week"]), _TABLE_X))
        y = _TABLE_TOP + 0.22
        for name, (x, ha) in cols:
            self._text(x, y, name, fontsize=8, fontweight="bold", ha=ha)
        self._hline(y + 0.05)
        for r in d["table"]:
            y += 0.16
            for (_, (x, ha)), s in zip(cols, _table_cells(r, d["endpoint_week"])):
                self._text(x, y, _clip(s, 40) if ha == "left" and x == _X0 else s, fontsize=8, ha=ha)
        self._hline(y + 0.06)
        y += 0.2
        for line in [w for t in _explain_lines(d) for w in textwrap.wrap(t, 152)][:3]:
            self._text(_X0, y, line, fontsize=7.5, color="#222222")
            y += 0.125
        y += 0.04
        for line in textwrap.wrap(_programme_text(d), 140)[:2] if d["has_sessions"] else []:
            self._text(_X0, y, line, fontsize=8)
            y += 0.14
        if d["notes"] and y < _FOOTER_TOP - 0.12:
            notes = "Latest session notes: " + "  ·  ".join(
                f"{n['date']}: \u201c{_clip(n['text'], 60)}\u201d" for n in d["notes"])
            self._text(_X0, y, _clip(notes, 160), fontsize=7.5, style="italic", color="#333333")

    # ---- output
    def pdf_bytes(self) -> bytes:
        """The page as a one-page A4 PDF."""
        return self.canvas.pdf_bytes()

    def slot_images(self) -> dict[str, str]:
        """Each plot section (panels with their titles and keys, no page text) as an SVG data URI."""
        out = {}
        for slot, (box, panels) in _SLOTS.items():
            if slot == "sessions" and not self.data["has_sessions"]:
                continue
            if slot == "secondary" and len(self.data["outcomes"]) < 2:
                continue
            out[slot] = self.canvas.svg_data_uri(box, panels)
        return out

    def texts(self, groups: Any = None) -> list[str]:
        """Every text drawn on the page (or in ``groups``)."""
        return self.canvas.texts(groups)


_FOOTERS: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}


def _page(data: dict[str, Any]) -> _Page:
    """This patient's page (the cohort's footer laid out once per process)."""
    static = _static_key(data)
    if static not in _FOOTERS:
        if len(_FOOTERS) > 8:
            _FOOTERS.clear()
        _FOOTERS[static] = _footer(*static)
    return _Page(data, _FOOTERS[static])


def _footer(definitions: tuple[str, ...], provenance: str) -> list[tuple[Any, ...]]:
    """The footer's items: a rule, the definitions with their sources, the provenance."""
    c = Canvas(_W, _H)
    c.line(_X0, _FOOTER_TOP - 0.12, _X1, _FOOTER_TOP - 0.12, group="footer", stroke="#999999", width=0.6)
    y = _FOOTER_TOP
    lines = [w for item in definitions for w in textwrap.wrap(item, _FOOT_CHARS)]
    prov = textwrap.wrap(provenance, _FOOT_CHARS)[:2]
    room = int((_H - 0.12 - _FOOTER_TOP) / _FOOT_STEP) + 1 - len(prov)
    if len(lines) > room:
        lines = lines[:room - 1] + ["... the HTML report has every definition."]
    for line in lines:
        c.text(_X0, y, line, group="footer", size=_FOOT_SIZE, colour="#222222")
        y += _FOOT_STEP
    for line in prov:
        c.text(_X0, y, line, group="footer", size=_FOOT_SIZE, colour="#444444")
        y += _FOOT_STEP
    return c.items


def _static_key(data: dict[str, Any]) -> tuple[Any, ...]:
    p = data["provenance"]
    inputs = ("inputs (sha256): " + "; ".join(f"{i['file'] or i['name']} {i['sha256_short']}" for i in p["inputs"])
              if p["inputs"] else "built from data frames (no input files to hash)")
    prov = f"Provenance: {p['version']}; made {p['created']}; dataset {p['dataset']}; {inputs}"
    return tuple(_footer_definitions(data)), prov
