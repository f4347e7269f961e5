"""Shared helpers for the HTML and PDF reports (patient, audit, comparison).

The whole API, small on purpose:

``render(template_name, **context) -> str``
    Render a template from ``outcomes/reports/templates`` with the shared
    :func:`environment` (``autoescape=True``: every text from the data is escaped).
``environment() -> jinja2.Environment``
    The shared environment (cached); filters ``num`` (``{{ x|num(1) }}``), ``pct`` and
    ``date``, which are :func:`fmt_num`, :func:`fmt_pct` and :func:`fmt_date`.
``fmt_num(x, digits=1)`` / ``fmt_pct(fraction, digits=0)`` / ``fmt_date(x)``
    Display text: fixed decimals with a true minus sign, "46 %", ISO date; "–" when missing.
``figure_data_uri(fig, *, fmt="svg", dpi=110, bbox_inches=None) -> str``
    A matplotlib figure (or, with ``bbox_inches``, a rectangle of it in inches) as a
    ``data:`` URI for ``<img src=…>``: self-contained HTML, and an ``<img>`` never runs
    scripts, so no text inside a figure can inject markup.
``provenance_footer(provenance) -> dict``
    :attr:`outcomes.Cohort.provenance` reduced to what a footer prints:
    ``version, created, dataset, options`` (text) and ``inputs`` (list of
    ``{"name", "file", "sha256", "sha256_short"}``).
``definitions(options) -> list[dict]``
    The definitions a report footer states (responder rules, reliable change,
    adherence, safety thresholds), each ``{"term", "text", "source"}``, from
    :class:`outcomes.config.Options` so they always match the analysis.
``write_html(html, path)`` / ``html_to_pdf(html, path, *, base_url=None)``
    Write atomically (:func:`outcomes.io.writers.atomic_write_bytes`); the PDF
    with WeasyPrint (imported only when called).

File names are not built here: callers pass a path from
:func:`outcomes.io.writers.output_path`.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import os
from datetime import date, datetime
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .._resources import template_dir
from ..config import Options
from ..io.writers import atomic_write_bytes

__all__ = [
    "TEMPLATES",
    "definitions",
    "environment",
    "figure_data_uri",
    "fmt_date",
    "fmt_num",
    "fmt_pct",
    "html_to_pdf",
    "provenance_footer",
    "render",
    "write_html",
]

#: Folder of the Jinja2 templates (installed with the package; `outcomes._resources`).
TEMPLATES = template_dir()

_MISSING = "–"


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like values are not "missing"
        return False


def fmt_num(value: Any, digits: int = 1) -> str:
    if _is_missing(value):
        return _MISSING
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isinf(x):
        return _MISSING
    return f"{x:.{digits}f}".replace("-", "−")


def fmt_pct(value: Any, digits: int = 0) -> str:
    if _is_missing(value):
        return _MISSING
    return f"{float(value) * 100:.{digits}f} %"


def fmt_date(value: Any) -> str:
    if _is_missing(value):
        return _MISSING
    if isinstance(value, (datetime, date)):
        return value.strftime("%Y-%m-%d")
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def fmt_count(value: Any) -> str:
    """A count with thousands separators; text (e.g. "suppressed") as it is."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared Jinja2 environment: templates folder, autoescape on, strict undefined."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt_num, pct=fmt_pct, date=fmt_date, count_cell=fmt_count)
    return env


def render(template_name: str, **context: Any) -> str:
    """Render ``templates/<template_name>`` with ``context`` (autoescaped)."""
    return environment().get_template(template_name).render(**context)


def figure_data_uri(fig: Figure, *, fmt: str = "svg", dpi: int = 110, bbox_inches: Any = None) -> str:
    """``fig`` as a ``data:image/svg+xml;base64,…`` (or ``image/png``) URI.

    SVG keeps text sharp and searchable; PNG is smaller for dense plots (thousands of
    points). ``bbox_inches`` (a :class:`matplotlib.transforms.Bbox` in inches, or "tight")
    crops the output. The figure is not closed: the caller owns it.
    """
    if fmt not in ("svg", "png"):
        raise ValueError(f"fmt must be 'svg' or 'png', got {fmt!r}")
    import matplotlib as mpl

    buf = io.BytesIO()
    # no date, and element ids from a fixed salt (matplotlib draws them at random otherwise): the same
    # figure gives the same bytes, so a report re-run on the same data is the same file
    with mpl.rc_context({"svg.hashsalt": "outcomes"}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None,
                    bbox_inches=bbox_inches)
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def provenance_footer(provenance: dict[str, Any]) -> dict[str, Any]:
    """What a report footer prints of :attr:`outcomes.Cohort.provenance`.

    Returns ``{"version", "created", "dataset", "options", "inputs"}``; ``inputs`` lists
    ``{"name", "file", "sha256", "sha256_short"}`` per export (file name only, no folder).
    """
    inputs = []
    for name, info in (provenance.get("inputs") or {}).items():
        info = info or {}
        digest = str(info.get("sha256") or "")
        inputs.append({"name": str(name), "file": os.path.basename(str(info.get("path") or "")),
                       "sha256": digest, "sha256_short": digest[:12]})
    options = provenance.get("options") or {}
    opt_text = ", ".join(f"{k}={v}" for k, v in options.items()) if isinstance(options, dict) else str(options)
    return {
        "version": f"{provenance.get('package', 'outcomes')} {provenance.get('version', '?')}",
        "created": str(provenance.get("created", "")),
        "dataset": str(provenance.get("dataset", "")),
        "options": opt_text,
        "inputs": inputs,
    }


def _rule_text(rule: Any) -> str:
    parts = []
    if rule.points is not None:
        parts.append(f"≥ {rule.points:g} points")
    if rule.percent is not None:
        parts.append(f"≥ {rule.percent:g} %")
    text = (" and " if rule.combine == "all" else " or ").join(parts)
    if rule.endpoint_at_most is not None:
        text += f" and endpoint ≤ {rule.endpoint_at_most:g}"
    return f"improved {text}" if text else "—"


def definitions(options: Options) -> list[dict[str, str]]:
    """Definitions for a report footer, built from ``options`` (``{"term", "text", "source"}``)."""
    out = []
    for spec in options.instruments.values():
        out.append({"term": f"Responder, {spec.label}",
                    "text": f"{_rule_text(spec.responder)} from baseline ({spec.unit}) at week "
                            f"{options.endpoint_week}.",
                    "source": spec.responder_source})
    rel = ", ".join(f"{s.label} r = {s.reliability:g}" for s in options.instruments.values())
    out.append({"term": "Reliable change (RC)",
                "text": "Jacobson–Truax index RC = (endpoint − baseline) ÷ (√2 × SD × √(1 − r)), SD of the "
                        "cohort's baseline scores; |RC| > 1.96 is a reliable improvement or deterioration. "
                        f"Reliabilities: {rel}.",
                "source": "Jacobson & Truax 1991, J Consult Clin Psychol 59:12; " + "; ".join(
                    sorted({s.reliability_source for s in options.instruments.values()}))})
    out.append({"term": "Adherence",
                "text": "sessions done ÷ sessions prescribed per week (dose adherence: repetitions done ÷ "
                        "prescribed), shown raw and capped at 100 %; without a prescription, "
                        f"{options.default_sessions_per_week} sessions a week of {options.default_sets} × "
                        f"{options.default_reps} repetitions.",
                "source": "the prescription in force that week (prescriptions export), else the program's "
                          "default dose"})
    t = options.safety
    out.append({"term": "Stop-and-consult flags",
                "text": f"severe in-session pain (≥ {t.severe_pain}/10); session flare (pain after − before "
                        f"≥ {t.flare_rise}, or rated worse); sustained worsening (leg pain ≥ "
                        f"{t.worsening_points} above baseline at {t.worsening_consecutive} consecutive "
                        f"assessments); any red flag; disengagement (no session for {t.disengagement_days} "
                        "days while enrolled).",
                "source": "the program's advice to stop and consult when pain becomes severe or symptoms "
                          "worsen; a 2-point rise is the NRS minimal important change (Farrar et al. 2001, "
                          "Pain 94:149)"})
    return out


def write_html(html: str, path: str | os.PathLike[str]) -> None:
    """Write ``html`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, html.encode("utf-8"))


def html_to_pdf(html: str, path: str | os.PathLike[str], *, base_url: str | None = None) -> None:
    """Render ``html`` to a PDF at ``path`` with WeasyPrint, written atomically.

    ``base_url`` resolves relative links (defaults to the templates folder); reports should be
    self-contained (figures as data URIs), so nothing is fetched from the network.
    """
    from weasyprint import HTML

    pdf = HTML(string=html, base_url=base_url or str(TEMPLATES)).write_pdf()
    atomic_write_bytes(path, pdf)
