"""The one-page A4 patient report drawn with matplotlib: a fixed layout built once per process
and refilled for each patient (see :func:`outcomes.reports.patient.render_patient_pdf`)."""

from __future__ import annotations

import io
import logging
import textwrap
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.ticker import AutoLocator, ScalarFormatter
from matplotlib.transforms import Bbox

from ..plotting.patient import (
    CALENDAR_COLOURS,
    plot_adherence_calendar,
    plot_level_steps,
    plot_patient_trajectory,
)
from ..plotting.style import FLAG_COLOUR, NEUTRAL, PALETTE, _style_context, _tidy
from . import _html
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


def _rect(left: float, top: float, width: float, height: float) -> tuple[float, float, float, float]:
    """Figure-fraction rectangle from inches measured from the page's top-left corner."""
    return (left / _W, 1 - (top + height) / _H, width / _W, height / _H)


def _y(top: float) -> float:
    return 1 - top / _H


#: Axes rectangles of the plot panels: the primary outcome full width, two more outcomes, the sessions.
_PANELS = {
    "primary": _rect(_AX_L, _ROWS["A"][0], _FULL_W, _ROWS["A"][1]),
    "second": _rect(_AX_L, _ROWS["B"][0], _AX_W, _ROWS["B"][1]),
    "third": _rect(_AX_R, _ROWS["B"][0], _AX_W, _ROWS["B"][1]),
    "calendar": _rect(_AX_L, _ROWS["C"][0], _AX_W, _ROWS["C"][1]),
    "levels": _rect(_AX_R, _ROWS["C"][0], _AX_W, _ROWS["C"][1]),
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
        self.titles: dict[str, Any] = {}       # section title by panel (text set per patient for outcomes)
        self.footer: list[Any] = []            # definitions and provenance (static per cohort)
        self.dynamic: list[Any] = []           # this patient's page artists (removed by the next fill)
        self.keys: dict[str, list[Any]] = {}   # this patient's legend artists by panel (also dynamic)
        self.data: dict[str, Any] | None = None
        with _style():
            for ax in self.axes.values():
                _tidy(ax)
            for key, (x, row) in _TITLES.items():
                self.titles[key] = self._text(x - 0.5, _ROWS[row][0] - _TITLE_ABOVE, _TITLE_TEXT.get(key, ""),
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
            shown = dict(zip(_OUTCOME_PANELS, data["outcomes"]))
            for panel in _OUTCOME_PANELS:
                o = shown.get(panel)
                self.titles[panel].set_text(_pdf_safe(data["instruments"][o]["label"]) if o else "")
            self._plots()
            for key in ("calendar", "levels"):
                self.titles[key].set_visible(data["has_sessions"])
            for a in self.footer:
                a.set_visible(text)
            if text:
                self._header()
                self._stop_box()
                self._expected()
                self._table()
        return self

    def _plots(self) -> None:
        d = self.data
        ass, x_max = d["assessments"], d["x_max"]
        shown = dict(zip(_OUTCOME_PANELS, d["outcomes"]))
        for i, panel in enumerate(_OUTCOME_PANELS):
            ax = self.axes[panel]
            o = shown.get(panel)
            info = d["instruments"].get(o) if o else None
            if o is None:
                ax.set_axis_off()
                continue
            if info and info["available"]:
                band = d["expected"]["band"] if panel == "primary" and d["expected"]["available"] else None
                plot_patient_trajectory(ass, outcome=o, baseline=info["baseline"], mic=info["mic"], ax=ax,
                                        legend=False, colour_index=min(i, 1), ylabel=info["unit"] or _short(info["label"]),
                                        band=band, options=_options_for(info, o))
                _y_range(ax, info)
                ax.set_xlim(0, x_max)
                entries = []
                if info["baseline"] is not None:
                    entries.append(("line", {"color": NEUTRAL, "linestyle": ":", "linewidth": 1.2},
                                    f"baseline {info['baseline']:g}"))
                    if info["mic"]:
                        entries.append(("box", {"facecolor": PALETTE[1], "alpha": 0.13, "linewidth": 0},
                                        f"MIC band ({info['mic']:g} points)"))
                if band is not None:
                    entries += [("box", {"facecolor": "#999999", "alpha": 0.22, "linewidth": 0},
                                 "expected: 80 % of similar patients"),
                                ("box", {"facecolor": "#999999", "alpha": 0.5, "linewidth": 0}, "50 %")]
                if entries:
                    self._key(panel, entries)
            else:
                _empty(ax, f"No {(info['label'] if info else o)} score recorded for this patient.")
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
                                   for c, t in zip(CALENDAR_COLOURS, ("0 sessions", "1", "2 or more"))])
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
        top = _ROWS[_TITLES[panel][1]][0] - 0.09
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
            x += 0.3 + 0.052 * len(label) + 0.18
        self.dynamic += artists
        self.keys[panel] = artists

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
            # beside the primary panel's title, where the band is drawn
            self._text(_X1, _ROWS["A"][0] - _TITLE_ABOVE, f"{label} vs expected: {e['status'].replace('_', ' ')}",
                       fontsize=9.5, fontweight="bold", ha="right", color=colour)

    # ---- stop box
    def _stop_box(self) -> None:
        d = self.data
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
            self._rectangle(left, top, width, height, facecolor="#EEF6EE", edgecolor="#4D7F4D", linewidth=1.0)
            y = top + 0.22
            for kind, line in wrapped:
                style = {"fontsize": 10, "fontweight": "bold", "color": "#1E4D1E"} if kind == "head" else \
                    {"fontsize": 8, "color": "#333333"}
                self._text(left + 0.15, y, line, **style)
                y += spacing
            return
        groups = d["flags"]
        n, k = sum(g["count"] for g in groups), len(groups)
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
        self._rectangle(left, top, width, height, facecolor="#FDF0E8", edgecolor=FLAG_COLOUR, linewidth=3)
        self._rectangle(left, top, width, 0.32, facecolor=FLAG_COLOUR, edgecolor=FLAG_COLOUR, linewidth=3)
        self._text(left + 0.14, top + 0.225, f"STOP AND CONSULT:  {k} active kind{'s' if k != 1 else ''} of flag, "
                   "most urgent first", fontsize=11, fontweight="bold", color="white")
        y = top + 0.52
        for kind, line in wrapped:
            style = {"head": {"fontweight": "bold"}, "advice": {}, "note": {"style": "italic", "color": "#333333"},
                     "more": {"color": "#333333"}}[kind]
            self._text(left + (0.32 if kind in ("advice", "note") else 0.15), y, line, fontsize=size, **style)
            y += spacing
        del n

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

    # ---- footer (static)
    def _footer(self, definitions: tuple[str, ...], provenance: str) -> None:
        self._hline(_FOOTER_TOP - 0.12, colour="#999999", keep=True)
        y = _FOOTER_TOP
        lines = [w for item in definitions for w in textwrap.wrap(item, _FOOT_CHARS)]
        prov = textwrap.wrap(provenance, _FOOT_CHARS)[:2]
        room = int((_H - 0.12 - _FOOTER_TOP) / _FOOT_STEP) + 1 - len(prov)
        if len(lines) > room:
            lines = lines[:room - 1] + ["... the HTML report has every definition."]
        for line in lines:
            self.footer.append(self._text(_X0, y, line, keep=True, fontsize=_FOOT_SIZE, color="#222222"))
            y += _FOOT_STEP
        for line in prov:
            self.footer.append(self._text(_X0, y, line, keep=True, fontsize=_FOOT_SIZE, color="#444444"))
            y += _FOOT_STEP

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
                if slot == "sessions" and not self.data["has_sessions"]:
                    continue
                if slot == "secondary" and len(self.data["outcomes"]) < 2:
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
    return tuple(_footer_definitions(data)), prov


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


#: Summary table columns: (x in inches, alignment), in the order of :func:`_table_headers`.
_TABLE_X = ((_X0, "left"), (2.95, "right"), (3.5, "right"), (4.3, "right"), (5.2, "right"), (6.1, "right"),
            (6.25, "left"), (_X1, "right"))


def _y_range(ax: Any, info: dict[str, Any]) -> None:
    """Open scales: a little room around the data (fixed scales are set by the plot)."""
    if info["low"] is None or info["high"] is None:
        ax.margins(y=0.15)


_OPTIONS_CACHE: dict[tuple[Any, ...], Any] = {}


def _options_for(info: dict[str, Any], outcome: str) -> Any:
    """Minimal options holding this outcome's label, unit, range, direction and MIC (for the plot)."""
    from ..config import InstrumentSpec, Options, ResponderRule

    key = (outcome, info["label"], info["unit"], info["low"], info["high"], info["higher_is_better"], info["mic"])
    if key not in _OPTIONS_CACHE:
        spec = InstrumentSpec(name=outcome, column=outcome, label=info["label"], unit=info["unit"],
                              low=-np.inf if info["low"] is None else info["low"],
                              high=np.inf if info["high"] is None else info["high"],
                              higher_is_worse=not info["higher_is_better"], responder=ResponderRule(points=info["mic"]),
                              reliability=np.nan, reliability_source="", responder_source="")
        _OPTIONS_CACHE[key] = Options(instruments={outcome: spec})
    return _OPTIONS_CACHE[key]
