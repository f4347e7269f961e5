"""A small vector canvas for the one-page patient report: the page is recorded once as primitives
(paths, rectangles, markers, text) and written both as a one-page PDF and as SVG cut-outs for the
HTML twin (see :mod:`outcomes.reports._patient_page`).

Why not matplotlib: a matplotlib page cost about 100 ms to draw and save as PDF and another 60-90
ms for the four SVG renders of the HTML (tick and axis machinery, font metrics re-read on every
save). The page is a few hundred fixed-position primitives, which this module writes in a few
milliseconds.

Coordinates are inches from the page's top-left corner (y grows downwards, as on paper and in
SVG); sizes of text, lines and markers are in points. Text is the standard PDF Helvetica (not
embedded, Windows-1252, its metrics read from the Adobe AFM files that matplotlib ships); text
with any other character is drawn with DejaVu Sans, embedded as a subset (fontTools), so a
note in any language prints as typed.
"""

from __future__ import annotations

import base64
import functools
import io
import os
import zlib
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

__all__ = ["Canvas", "text_width"]

_PT = 72.0
#: Helvetica's AFM files (in matplotlib's data folder): (bold, italic) -> file.
_AFM = {(False, False): "phvr8a.afm", (True, False): "phvb8a.afm", (False, True): "phvro8a.afm",
        (True, True): "phvbo8a.afm"}
_CORE = {(False, False): "Helvetica", (True, False): "Helvetica-Bold", (False, True): "Helvetica-Oblique",
         (True, True): "Helvetica-BoldOblique"}
_DEJAVU = {(False, False): "DejaVuSans.ttf", (True, False): "DejaVuSans-Bold.ttf",
           (False, True): "DejaVuSans-Oblique.ttf", (True, True): "DejaVuSans-BoldOblique.ttf"}
#: Characters Helvetica lacks, spelt out in the PDF (the SVG keeps them: browsers have the glyphs).
_PDF_SUBSTITUTES = str.maketrans({"−": "-", "≥": ">=", "≤": "<=", "÷": "/", "√": "sqrt", "⚠": "!",
                                  "→": "->"})
#: Characters XML forbids (C0 controls other than tab and newlines): dropped from SVG text.
_XML_FORBIDDEN = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF])
#: The SVG's fonts: Helvetica's metric twins first, so widths match the PDF's.
SVG_FONTS = "Helvetica, 'Nimbus Sans', 'Liberation Sans', Arial, 'DejaVu Sans', sans-serif"


def pdf_safe(s: str) -> str:
    """``s`` with the symbols Helvetica lacks spelt out (≥ -> >=, − -> -)."""
    return s.translate(_PDF_SUBSTITUTES)


def _font_dir() -> str:
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "fonts")


@functools.lru_cache(maxsize=4)
def _helvetica_widths(bold: bool, italic: bool) -> tuple[float, ...]:
    """Advance widths (1/1000 em) of the 256 Windows-1252 codes in Helvetica (AFM metrics)."""
    from fontTools.agl import UV2AGL

    names: dict[str, float] = {}
    with open(os.path.join(_font_dir(), "afm", _AFM[bold, italic]), encoding="latin-1") as fh:
        for line in fh:
            if line.startswith("C "):
                fields = dict(f.strip().split(" ", 1) for f in line.split(";") if f.strip().count(" "))
                names[fields["N"].strip()] = float(fields["WX"])
    space = names.get("space", 278.0)
    widths = []
    for code in range(256):
        try:
            ch = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            widths.append(space)
            continue
        name = UV2AGL.get(ord(ch), "")
        widths.append(names.get(name, names.get({"\xa0": "space", "\xad": "hyphen"}.get(ch, ""), space)))
    return tuple(widths)


def _cp1252(s: str) -> bytes | None:
    try:
        return s.encode("cp1252")
    except UnicodeEncodeError:
        return None


@functools.lru_cache(maxsize=4)
def _dejavu(bold: bool, italic: bool) -> Any:
    """(raw bytes, TTFont, cmap, advance widths by glyph id in 1/1000 em) of a DejaVu Sans face."""
    from fontTools.ttLib import TTFont

    with open(os.path.join(_font_dir(), "ttf", _DEJAVU[bold, italic]), "rb") as fh:
        raw = fh.read()
    font = TTFont(io.BytesIO(raw), lazy=False)
    scale = 1000.0 / font["head"].unitsPerEm
    order = font.getGlyphOrder()
    hmtx = font["hmtx"].metrics
    widths = [hmtx[name][0] * scale for name in order]
    ids = {name: i for i, name in enumerate(order)}
    cmap = {cp: ids[name] for cp, name in font.getBestCmap().items()}
    return raw, font, cmap, widths


def text_width(s: str, size: float, *, bold: bool = False, italic: bool = False) -> float:
    """Width of ``s`` in points as the PDF draws it (Helvetica, or DejaVu Sans beyond Windows-1252)."""
    s = pdf_safe(s)
    encoded = _cp1252(s)
    if encoded is not None:
        w = _helvetica_widths(bold, italic)
        return sum(w[b] for b in encoded) * size / 1000.0
    _, _, cmap, widths = _dejavu(bold, italic)
    return sum(widths[cmap.get(ord(c), 0)] for c in s) * size / 1000.0


@functools.lru_cache(maxsize=256)
def _rgb(colour: str) -> tuple[float, float, float]:
    c = colour.lstrip("#")
    return int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255


@functools.lru_cache(maxsize=256)
def _pdf_colour(colour: str) -> str:
    return "{:.3g} {:.3g} {:.3g}".format(*_rgb(colour))


def _n(v: float) -> str:
    """A short PDF/SVG number."""
    s = f"{v:.2f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def _pdf_string(b: bytes) -> str:
    return "(" + b.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)").replace(
        b"\r", b"\\r").replace(b"\n", b"\\n").decode("latin-1") + ")"


# ====================================================================== the canvas

# Item layouts (tuples, for speed):
#   ("path", group, points, closed, fill, stroke, width, dash, alpha, clip, cap)
#   ("segs", group, segments, stroke, width, clip, cap)
#   ("rects", group, rects, fill, stroke, width, alpha, clip, radius)
#   ("marks", group, points, shape, size, fill, edge, edge_width, clip)
#   ("text", group, x, y, s, size, bold, italic, colour, ha, rotation)


class Canvas:
    """Primitives of one page, in inches from the top-left corner, each tagged with a group.

    The group names which part of the page an item belongs to (e.g. ``"page"``, ``"footer"``
    or a plot panel), so :meth:`svg` can cut a few panels out for the HTML twin.
    """

    def __init__(self, width: float, height: float, items: Iterable[tuple[Any, ...]] = ()) -> None:
        self.width, self.height = width, height
        self.items: list[tuple[Any, ...]] = list(items)

    # ---- recording
    def path(self, points: Sequence[tuple[float, float]], *, group: str, closed: bool = False,
             fill: str | None = None, stroke: str | None = "#000000", width: float = 0.8,
             dash: Sequence[float] | None = None, alpha: float = 1.0,
             clip: tuple[float, float, float, float] | None = None, cap: str = "butt") -> None:
        """A polyline (or polygon when ``closed``); ``width`` and ``dash`` in points."""
        if len(points) < 1:
            return
        self.items.append(("path", group, points, closed, fill, stroke, width, tuple(dash) if dash else None,
                           alpha, clip, cap))

    def line(self, x0: float, y0: float, x1: float, y1: float, **kw: Any) -> None:
        self.path([(x0, y0), (x1, y1)], **kw)

    def segments(self, segs: Sequence[tuple[float, float, float, float]], *, group: str, stroke: str = "#000000",
                 width: float = 0.8, clip: tuple[float, float, float, float] | None = None,
                 cap: str = "butt") -> None:
        """Straight segments ``(x0, y0, x1, y1)`` sharing one style (grid lines, ticks), one path."""
        if segs:
            self.items.append(("segs", group, segs, stroke, width, clip, cap))

    def rects(self, rects: Sequence[tuple[float, float, float, float]], *, group: str, fill: str | None = None,
              stroke: str | None = None, width: float = 0.8, alpha: float = 1.0,
              clip: tuple[float, float, float, float] | None = None, radius: float = 0.0) -> None:
        """Rectangles ``(left, top, width, height)`` sharing one style (``radius``: rounded corners, inches)."""
        if rects:
            self.items.append(("rects", group, rects, fill, stroke, width, alpha, clip, radius))

    def rect(self, left: float, top: float, w: float, h: float, /, **kw: Any) -> None:
        """One rectangle (``w``, ``h`` in inches; ``width`` is the outline's, in points)."""
        self.rects([(left, top, w, h)], **kw)

    def marks(self, points: Sequence[tuple[float, float]], *, group: str, shape: str = "o", size: float = 5.0,
              fill: str = "#000000", edge: str | None = None, edge_width: float = 1.0,
              clip: tuple[float, float, float, float] | None = None) -> None:
        """Markers centred on ``points``: ``shape`` "o" (circle), "s" (square) or "v" (triangle down);
        ``size`` is the diameter in points (as matplotlib's markersize)."""
        if len(points):
            self.items.append(("marks", group, points, shape, size, fill, edge or fill, edge_width, clip))

    def text(self, x: float, y: float, s: str, *, group: str, size: float = 8.0, bold: bool = False,
             italic: bool = False, colour: str = "#000000", ha: str = "left", rotation: int = 0) -> None:
        """One line of text; ``y`` is its baseline. ``ha`` left/right/center; ``rotation`` 0 or 90."""
        if s:
            self.items.append(("text", group, x, y, s, size, bold, italic, colour, ha, rotation))

    def texts(self, groups: Iterable[str] | None = None) -> list[str]:
        """Every text on the page (or in ``groups``), in drawing order."""
        keep = None if groups is None else set(groups)
        return [it[4] for it in self.items if it[0] == "text" and (keep is None or it[1] in keep)]

    # ---- PDF
    def pdf_bytes(self) -> bytes:
        """The page as a one-page PDF (A4 when the canvas is 8.27 x 11.69 in)."""
        return _Pdf(self).write()

    # ---- SVG
    def svg(self, box: tuple[float, float, float, float], groups: Iterable[str]) -> str:
        """The items of ``groups`` inside ``box`` (x0, top, x1, bottom; inches) as an SVG document."""
        keep = set(groups)
        x0, top, x1, bottom = box
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n((x1 - x0) * _PT)}pt" '
               f'height="{_n((bottom - top) * _PT)}pt" viewBox="{_n(x0 * _PT)} {_n(top * _PT)} '
               f'{_n((x1 - x0) * _PT)} {_n((bottom - top) * _PT)}" font-family="{SVG_FONTS}" '
               'style="white-space:pre">']
        clips: dict[tuple[float, ...], str] = {}

        def clip_attr(clip: tuple[float, float, float, float] | None) -> str:
            if clip is None:
                return ""
            if clip not in clips:
                cid = f"c{len(clips)}"
                clips[clip] = cid
                cx0, ct, cx1, cb = clip
                out.append(f'<clipPath id="{cid}"><rect x="{_n(cx0 * _PT)}" y="{_n(ct * _PT)}" '
                           f'width="{_n((cx1 - cx0) * _PT)}" height="{_n((cb - ct) * _PT)}"/></clipPath>')
            return f' clip-path="url(#{clips[clip]})"'

        for it in self.items:
            if it[1] not in keep:
                continue
            kind = it[0]
            if kind == "path":
                _, _, pts, closed, fill, stroke, width, dash, alpha, clip, cap = it
                d = "M" + " L".join(f"{_n(x * _PT)} {_n(y * _PT)}" for x, y in pts) + (" Z" if closed else "")
                out.append(f'<path d="{d}"{_svg_paint(fill, stroke, width, alpha, dash, cap)}{clip_attr(clip)}/>')
            elif kind == "segs":
                _, _, segs, stroke, width, clip, cap = it
                d = "".join(f"M{_n(a * _PT)} {_n(b * _PT)}L{_n(c * _PT)} {_n(e * _PT)}" for a, b, c, e in segs)
                out.append(f'<path d="{d}"{_svg_paint(None, stroke, width, 1.0, None, cap)}{clip_attr(clip)}/>')
            elif kind == "rects":
                _, _, rects, fill, stroke, width, alpha, clip, radius = it
                paint = _svg_paint(fill, stroke, width, alpha, None, "butt") + clip_attr(clip)
                if radius:
                    r = _n(radius * _PT)
                    for left, t, w, h in rects:
                        out.append(f'<rect x="{_n(left * _PT)}" y="{_n(t * _PT)}" width="{_n(w * _PT)}" '
                                   f'height="{_n(h * _PT)}" rx="{r}"{paint}/>')
                else:
                    d = "".join(f"M{_n(left * _PT)} {_n(t * _PT)}h{_n(w * _PT)}v{_n(h * _PT)}h{_n(-w * _PT)}Z"
                                for left, t, w, h in rects)
                    out.append(f'<path d="{d}"{paint}/>')
            elif kind == "marks":
                _, _, pts, shape, size, fill, edge, edge_width, clip = it
                paint = _svg_paint(fill, edge, edge_width, 1.0, None, "butt") + clip_attr(clip)
                r = size / 2
                if shape == "o":
                    out += [f'<circle cx="{_n(x * _PT)}" cy="{_n(y * _PT)}" r="{_n(r)}"{paint}/>' for x, y in pts]
                else:
                    d = "".join(_marker_svg(shape, x * _PT, y * _PT, r) for x, y in pts)
                    out.append(f'<path d="{d}"{paint}/>')
            else:
                _, _, x, y, s, size, bold, italic, colour, ha, rotation = it
                anchor = {"left": "", "right": ' text-anchor="end"', "center": ' text-anchor="middle"'}[ha]
                style = (' font-weight="bold"' if bold else "") + (' font-style="italic"' if italic else "")
                where = (f'x="{_n(x * _PT)}" y="{_n(y * _PT)}"' if not rotation else
                         f'transform="translate({_n(x * _PT)} {_n(y * _PT)}) rotate(-{rotation})"')
                out.append(f'<text {where} font-size="{_n(size)}"{style}{anchor} fill="{colour}">'
                           f'{escape(s.translate(_XML_FORBIDDEN), quote=False)}</text>')
        out.append("</svg>")
        return "".join(out)

    def svg_data_uri(self, box: tuple[float, float, float, float], groups: Iterable[str]) -> str:
        """:meth:`svg` as a ``data:image/svg+xml;base64,`` URI (an ``<img>`` never runs scripts)."""
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg(box, groups).encode("utf-8", "replace")).decode("ascii")


def _svg_paint(fill: str | None, stroke: str | None, width: float, alpha: float, dash: Sequence[float] | None,
               cap: str) -> str:
    s = f' fill="{fill}"' if fill else ' fill="none"'
    if stroke:
        s += f' stroke="{stroke}" stroke-width="{_n(width)}"'
        if cap != "butt":
            s += f' stroke-linecap="{"square" if cap == "projecting" else cap}"'
        s += ' stroke-linejoin="round"'
        if dash:
            s += ' stroke-dasharray="' + " ".join(_n(d) for d in dash) + '"'
    if alpha < 1:
        s += f' opacity="{_n(alpha)}"'
    return s


def _marker_svg(shape: str, x: float, y: float, r: float) -> str:
    return "M" + " L".join(f"{_n(px)} {_n(py)}" for px, py in _marker_points(shape, x, y, r, down=True)) + "Z"


def _marker_points(shape: str, x: float, y: float, r: float, *, down: bool) -> list[tuple[float, float]]:
    """Polygon of a square or triangle marker of half-size ``r`` centred on (x, y) (matplotlib's "s"
    and "v": side, or base and height, equal to the marker size); ``down``: y grows downwards (SVG)."""
    s = 1 if down else -1
    if shape == "s":
        return [(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)]
    # "v": a triangle pointing down
    return [(x - r, y - s * r), (x + r, y - s * r), (x, y + s * r)]


_CAP = {"butt": 0, "round": 1, "projecting": 2}
_KAPPA = 0.5523


class _Pdf:
    """One canvas written as a one-page PDF 1.4 (content stream deflated)."""

    def __init__(self, canvas: Canvas) -> None:
        self.c = canvas
        self.alphas: dict[float, str] = {}
        self.core: dict[tuple[bool, bool], str] = {}
        self.unicode: dict[tuple[bool, bool], tuple[str, set[int]]] = {}

    def _gs(self, alpha: float) -> str:
        if alpha not in self.alphas:
            self.alphas[alpha] = f"A{len(self.alphas)}"
        return f"/{self.alphas[alpha]} gs "

    def _clip(self, clip: tuple[float, float, float, float] | None) -> str:
        if clip is None:
            return ""
        x0, top, x1, bottom = clip
        h = self.c.height
        return f"{_n(x0 * _PT)} {_n((h - bottom) * _PT)} {_n((x1 - x0) * _PT)} {_n((bottom - top) * _PT)} re W n "

    def content(self) -> str:
        h = self.c.height
        ops: list[str] = []
        add = ops.append
        for it in self.c.items:
            kind = it[0]
            if kind == "path":
                _, _, pts, closed, fill, stroke, width, dash, alpha, clip, cap = it
                head = "q " + self._clip(clip) + (self._gs(alpha) if alpha < 1 else "")
                if fill:
                    head += _pdf_colour(fill) + " rg "
                if stroke:
                    head += (f"{_pdf_colour(stroke)} RG {_n(width)} w {_CAP[cap]} J 1 j "
                             + (("[" + " ".join(_n(d) for d in dash) + "] 0 d ") if dash else ""))
                body = " ".join(f"{_n(x * _PT)} {_n((h - y) * _PT)} l" for x, y in pts)
                body = body.replace(" l", " m", 1)
                paint = ("b" if stroke else "f") if fill and closed else ("s" if closed else "S")
                if fill and not closed:
                    paint = "B" if stroke else "f"
                add(f"{head}{body} {paint} Q")
            elif kind == "segs":
                _, _, segs, stroke, width, clip, cap = it
                body = " ".join(f"{_n(a * _PT)} {_n((h - b) * _PT)} m {_n(c * _PT)} {_n((h - e) * _PT)} l"
                                for a, b, c, e in segs)
                add(f"q {self._clip(clip)}{_pdf_colour(stroke)} RG {_n(width)} w {_CAP[cap]} J {body} S Q")
            elif kind == "rects":
                _, _, rects, fill, stroke, width, alpha, clip, radius = it
                head = "q " + self._clip(clip) + (self._gs(alpha) if alpha < 1 else "")
                if fill:
                    head += _pdf_colour(fill) + " rg "
                if stroke:
                    head += f"{_pdf_colour(stroke)} RG {_n(width)} w 0 j "
                if radius:
                    body = " ".join(_round_rect(left * _PT, (h - t - hh) * _PT, w * _PT, hh * _PT, radius * _PT)
                                    for left, t, w, hh in rects)
                else:
                    body = " ".join(f"{_n(left * _PT)} {_n((h - t - hh) * _PT)} {_n(w * _PT)} {_n(hh * _PT)} re"
                                    for left, t, w, hh in rects)
                add(f"{head}{body} {'B' if fill and stroke else 'f' if fill else 'S'} Q")
            elif kind == "marks":
                _, _, pts, shape, size, fill, edge, edge_width, clip = it
                r = size / 2
                head = f"q {self._clip(clip)}{_pdf_colour(fill)} rg {_pdf_colour(edge)} RG {_n(edge_width)} w 0 J 0 j "
                parts = []
                for x, y in pts:
                    px, py = x * _PT, (h - y) * _PT
                    if shape == "o":
                        parts.append(_circle(px, py, r))
                    else:
                        poly = _marker_points(shape, px, py, r, down=False)
                        parts.append(f"{_n(poly[0][0])} {_n(poly[0][1])} m " + " ".join(
                            f"{_n(a)} {_n(b)} l" for a, b in poly[1:]) + " h")
                add(head + " ".join(parts) + " B Q")
            else:
                add(self._text(it, h))
        return "\n".join(ops)

    def _text(self, it: tuple[Any, ...], h: float) -> str:
        _, _, x, y, s, size, bold, italic, colour, ha, rotation = it
        s = pdf_safe(s)
        encoded = _cp1252(s)
        if encoded is not None:
            key = (bold, italic)
            if key not in self.core:
                self.core[key] = f"F{len(self.core) + 1}"
            font = self.core[key]
            shown = _pdf_string(encoded)
        else:
            key = (bold, italic)
            _, _, cmap, _ = _dejavu(bold, italic)
            if key not in self.unicode:
                self.unicode[key] = (f"U{len(self.unicode) + 1}", set())
            font, used = self.unicode[key]
            gids = [cmap.get(ord(c), 0) for c in s]
            used.update(gids)
            shown = "<" + "".join(f"{g:04X}" for g in gids) + ">"
        px, py = x * _PT, (h - y) * _PT
        if ha != "left":
            w = text_width(s, size, bold=bold, italic=italic) * (0.5 if ha == "center" else 1.0)
            if rotation:
                py -= w
            else:
                px -= w
        matrix = "0 1 -1 0" if rotation else "1 0 0 1"
        return f"BT /{font} {_n(size)} Tf {_pdf_colour(colour)} rg {matrix} {_n(px)} {_n(py)} Tm {shown} Tj ET"

    def write(self) -> bytes:
        stream = zlib.compress(self.content().encode("latin-1"), 6)
        objects: list[bytes] = []  # object i + 1

        def obj(body: bytes | str) -> int:
            objects.append(body.encode("latin-1") if isinstance(body, str) else body)
            return len(objects)

        def stream_obj(data: bytes, extra: str = "") -> int:
            return obj(f"<< /Length {len(data)} /Filter /FlateDecode{extra} >>\nstream\n".encode("latin-1")
                       + data + b"\nendstream")

        catalog = obj("<< /Type /Catalog /Pages 2 0 R >>")
        pages = obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        page = obj("")  # filled below, once the resources are known
        contents = stream_obj(stream)
        fonts = []
        for (bold, italic), name in self.core.items():
            ref = obj(f"<< /Type /Font /Subtype /Type1 /BaseFont /{_CORE[bold, italic]} /Encoding /WinAnsiEncoding >>")
            fonts.append(f"/{name} {ref} 0 R")
        for key, (name, used) in self.unicode.items():
            fonts.append(f"/{name} {_embed_dejavu(obj, stream_obj, key, used)} 0 R")
        gstates = " ".join(f"/{n} << /ca {_n(a)} /CA {_n(a)} >>" for a, n in self.alphas.items())
        w, h = _n(self.c.width * _PT), _n(self.c.height * _PT)
        objects[page - 1] = (f"<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 {w} {h}] /Resources << "
                             f"/Font << {' '.join(fonts)} >> /ExtGState << {gstates} >> >> "
                             f"/Contents {contents} 0 R >>").encode("latin-1")
        info = obj("<< /Creator (outcomes) /Producer (outcomes) >>")
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for i, body in enumerate(objects, 1):
            offsets.append(len(out))
            out += f"{i} 0 obj\n".encode("latin-1") + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("latin-1")
        out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode("latin-1")
        out += (f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R /Info {info} 0 R >>\n"
                f"startxref\n{xref}\n%%EOF\n").encode("latin-1")
        return bytes(out)


def _circle(x: float, y: float, r: float) -> str:
    k = r * _KAPPA
    return (f"{_n(x + r)} {_n(y)} m {_n(x + r)} {_n(y + k)} {_n(x + k)} {_n(y + r)} {_n(x)} {_n(y + r)} c "
            f"{_n(x - k)} {_n(y + r)} {_n(x - r)} {_n(y + k)} {_n(x - r)} {_n(y)} c "
            f"{_n(x - r)} {_n(y - k)} {_n(x - k)} {_n(y - r)} {_n(x)} {_n(y - r)} c "
            f"{_n(x + k)} {_n(y - r)} {_n(x + r)} {_n(y - k)} {_n(x + r)} {_n(y)} c h")


def _round_rect(x: float, y: float, w: float, h: float, r: float) -> str:
    """A rounded rectangle path; (x, y) is the lower-left corner (PDF coordinates, points)."""
    r = min(r, w / 2, h / 2)
    k = r * (1 - _KAPPA)
    return (f"{_n(x + r)} {_n(y)} m {_n(x + w - r)} {_n(y)} l "
            f"{_n(x + w - k)} {_n(y)} {_n(x + w)} {_n(y + k)} {_n(x + w)} {_n(y + r)} c "
            f"{_n(x + w)} {_n(y + h - r)} l {_n(x + w)} {_n(y + h - k)} {_n(x + w - k)} {_n(y + h)} "
            f"{_n(x + w - r)} {_n(y + h)} c {_n(x + r)} {_n(y + h)} l "
            f"{_n(x + k)} {_n(y + h)} {_n(x)} {_n(y + h - k)} {_n(x)} {_n(y + h - r)} c "
            f"{_n(x)} {_n(y + r)} l {_n(x)} {_n(y + k)} {_n(x + k)} {_n(y)} {_n(x + r)} {_n(y)} c h")


def _embed_dejavu(obj: Any, stream_obj: Any, key: tuple[bool, bool], used: set[int]) -> int:
    """Embed the glyphs ``used`` of a DejaVu Sans face as a Type0/CIDFontType2 font; return its object."""
    from fontTools import subset

    raw, full, _, widths = _dejavu(*key)
    font = _subset_copy(raw)
    opts = subset.Options()
    opts.retain_gids = True  # glyph ids stay those of the full font: the content stream uses them
    opts.notdef_outline = True
    opts.name_IDs = ["*"]
    opts.drop_tables += ["GSUB", "GPOS", "GDEF", "kern", "FFTM"]
    sub = subset.Subsetter(opts)
    order = full.getGlyphOrder()
    sub.populate(glyphs=[order[g] for g in sorted(used)])
    sub.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    data = buf.getvalue()
    tag = "".join(chr(65 + (sum(used) // 26 ** i) % 26) for i in range(6))
    base = f"{tag}+{os.path.splitext(_DEJAVU[key])[0].replace('-', '')}"
    head, hhea, os2 = full["head"], full["hhea"], full["OS/2"]
    scale = 1000.0 / head.unitsPerEm
    file_ref = stream_obj(zlib.compress(data, 6), f" /Length1 {len(data)}")
    flags = 32 + (64 if key[1] else 0)
    desc = obj(f"<< /Type /FontDescriptor /FontName /{base} /Flags {flags} /FontBBox [{_n(head.xMin * scale)} "
               f"{_n(head.yMin * scale)} {_n(head.xMax * scale)} {_n(head.yMax * scale)}] /ItalicAngle "
               f"{-11 if key[1] else 0} /Ascent {_n(hhea.ascent * scale)} /Descent {_n(hhea.descent * scale)} "
               f"/CapHeight {_n(getattr(os2, 'sCapHeight', 729) * scale)} /StemV 80 /FontFile2 {file_ref} 0 R >>")
    w = " ".join(f"{g} [{_n(widths[g])}]" for g in sorted(used))
    cid = obj(f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{base} /CIDSystemInfo << /Registry (Adobe) "
              f"/Ordering (Identity) /Supplement 0 >> /FontDescriptor {desc} 0 R /W [{w}] /DW 1000 "
              "/CIDToGIDMap /Identity >>")
    cmap = full.getBestCmap()
    to_uni: dict[int, int] = {}
    ids = {name: i for i, name in enumerate(order)}
    for cp, name in cmap.items():
        g = ids[name]
        if g in used and g not in to_uni:
            to_uni[g] = cp
    lines = [f"<{g:04X}> <{''.join(f'{u:04X}' for u in _utf16(cp))}>" for g, cp in sorted(to_uni.items())]
    body = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CIDSystemInfo << /Registry (Adobe) "
            "/Ordering (UCS) /Supplement 0 >> def /CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
            "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
            + "".join(f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar\n"
                      for chunk in (lines[i:i + 100] for i in range(0, len(lines), 100)))
            + "endcmap CMapName currentdict /CMap defineresource pop end end")
    to_unicode = stream_obj(zlib.compress(body.encode("ascii"), 6))
    return obj(f"<< /Type /Font /Subtype /Type0 /BaseFont /{base} /Encoding /Identity-H /DescendantFonts "
               f"[{cid} 0 R] /ToUnicode {to_unicode} 0 R >>")


def _subset_copy(raw: bytes) -> Any:
    from fontTools.ttLib import TTFont

    return TTFont(io.BytesIO(raw))


def _utf16(cp: int) -> list[int]:
    if cp < 0x10000:
        return [cp]
    cp -= 0x10000
    return [0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)]

