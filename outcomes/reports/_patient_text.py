"""The words of the one-page patient report, shared by the PDF page and its HTML twin: the STOP AND
CONSULT lines, the summary table's cells, the explanations and the footer's definitions."""

from __future__ import annotations

import re
import textwrap
from typing import Any

from . import _html


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


def _quiet_lines(d: dict[str, Any]) -> list[str]:
    """Resolved episodes and the high-pain-at-rest note: history, in one or two lines."""
    out = []
    if d["history"]:
        out.append("Earlier, resolved: " + "; ".join(d["history"]) + ".")
    if d["rest_note"]:
        out.append(d["rest_note"])
    return out


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


def _table_headers(endpoint_week: int) -> list[str]:
    return ["Outcome", "Baseline", f"Week {endpoint_week}", "Latest (week)", f"Change to wk {endpoint_week}",
            "Latest change", "Responder", "Reliable change"]


def _change(v: float | None, base: float | None, digits: int) -> str:
    if v is None:
        return "–"
    s = ("+" if v > 0 else "") + _fmt(v, digits)
    if base:
        pct = 100 * v / base
        s += f" ({'+' if pct > 0 else ''}{_fmt(pct, 0)} %)"
    return s


def _table_cells(r: dict[str, Any], endpoint_week: int) -> list[str]:
    digits = 0 if r.get("integer") else 1
    resp = {True: "yes", False: "no"}.get(r["responder"]) or (
        "no baseline" if r["baseline"] is None else f"no wk-{endpoint_week} score" if r["endpoint"] is None
        else "–")
    rc = "–" if r["rc_class"] is None else f"{r['rc_class']} (RC {_fmt(r['rc'], 1)})"
    latest = _fmt(r["latest"], digits)
    if r["latest"] is not None and r.get("latest_week") is not None:
        latest += f" ({r['latest_week']:.0f})"
    unit = f", {r['unit']}" if r["unit"] else ""
    return [f"{r['label']}{unit}", _fmt(r["baseline"], digits), _fmt(r["endpoint"], digits), latest,
            _change(r["change"], r["baseline"], digits), _change(r["latest_change"], r["baseline"], digits), resp, rc]


def _explain_lines(d: dict[str, Any]) -> list[str]:
    """What MIC, responder and reliable change mean, in words (one sentence each)."""
    first = next((r for r in d["table"]), None)
    example = ""
    if first is not None:
        mic = d["instruments"].get(first["outcome"], {}).get("mic")
        if mic:
            example = f" ({first['label'].lower()}: {mic:g} points)"
    ew = d["endpoint_week"]
    return [f"MIC (minimal important change) = the smallest change patients notice{example}; blue band = not yet "
            f"improved by it. Responder = improved by at least the MIC at week {ew}; reliable change = beyond the "
            "scale's measurement error (Jacobson-Truax); either can happen without the other."]


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


def _footer_definitions(d: dict[str, Any]) -> list[str]:
    """The definitions this page needs, short: responder rules of its outcomes, RC, flags, band, adherence."""
    labels = {r["label"] for r in d["table"]}
    merged: dict[tuple[str, str], list[str]] = {}
    other = []
    for item in d["definitions"]:
        term = item["term"]
        if term.startswith("Responder, "):
            if term.removeprefix("Responder, ") in labels:
                merged.setdefault((item["text"], item["source"]), []).append(term.removeprefix("Responder, "))
        elif term.startswith("Reliable change"):
            other.append(f"Reliable change (RC): (endpoint − baseline) ÷ (√2 × SD × √(1 − r)), |RC| > 1.96 is "
                         f"reliable. Source: {item['source']}.")
        elif term == "Adherence" and d["has_sessions"]:
            other.append(f"{term}: {item['text']}")
    rules = []
    for (text, source), terms in merged.items():
        rule = re.sub(r" from baseline \(.*?\) at week \d+\.?$", "", text)
        rules.append(f"{' and '.join(terms).lower()} {rule.removeprefix('improved ')} ({source})")
    ew = d["endpoint_week"]
    out = [f"Responder = improved by week {ew} from baseline: " + "; ".join(rules) + "."] if rules else []
    t = d["safety_terms"]
    out.append(f"Stop and consult: a red flag, sessions after one, sustained worsening (2 assessments in a row 2 points "
               f"worse than baseline), pain ≥ {t['severe']}/10 during or after a session, a flare (a 2-point rise "
               f"or rated worse), 7 days without a session. Consecutive flagged sessions are one episode, active "
               f"within {t['active_days']} days of the latest data or until {t['resolved_after']} sessions without "
               f"it. Pain ≥ {t['severe']}/10 before a session is a note. Source: the program's advice to stop when "
               "pain is severe or symptoms worsen; Farrar et al. 2001, Pain 94:149.")
    out.append("Expected range: the 50 % and 80 % prediction band for a new patient with this schedule and baseline "
               "from the cohort's linear mixed model (random intercept and slope per patient, REML); ahead or "
               "behind = outside the 80 % band.")
    return out + other


def _short(label: str) -> str:
    return label if len(label) <= 28 else "".join(w[0] for w in label.split() if w[0].isupper()) or label[:28]
