"""The one-page A4 patient report drawn with matplotlib: a fixed layout built once per process
and refilled for each patient (see :func:`outcomes.reports.patient.render_patient_pdf`)."""

from __future__ import annotations

import io
import logging
import textwrap
from typing import Any

import matplotlib as mpl
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

_NO_SESSION_FLAGS = ("Only red flags and sustained worsening could be checked: without a sessions export, "
                     "severe pain, session flares and disengagement are not known.")


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
