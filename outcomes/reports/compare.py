"""The schedule-comparison report for researchers: HTML and PDF from one template.

Sections: the answer in brief; every schedule effect with its CI (table and
forest plots); estimated marginal means over time and the contrast at the
endpoint; responder rates with both denominators and time to first response;
adherence, progression, flags and dropout by schedule; what the numbers can
and cannot say (missing data, causal reading); numbered remarks; every model's
full table; provenance.
"""

from __future__ import annotations

import os
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..cohort import Cohort  # noqa: E402
from ..io.writers import output_path, prepare_out_dir  # noqa: E402
from ..models.compare import Comparison  # noqa: E402
from ..plotting.cohort import plot_flare_rates  # noqa: E402
from ..plotting.models import plot_forest, plot_km, plot_marginal_means  # noqa: E402
from ..plotting.style import rc_params  # noqa: E402
from .audit import cohort_table  # noqa: E402
from ._html import figure_data_uri, html_to_pdf, provenance_footer, render, write_html  # noqa: E402

__all__ = ["compare_report_data", "write_compare_report"]

_ANALYSIS = {
    "trajectory": "Mixed model",
    "ancova": "ANCOVA at the endpoint",
    "responder_odds": "Responder odds ratio",
    "time_to_response": "Time to first response (Cox)",
    "flare_rates": "Flare rate per session",
}


def _p(p: Any) -> str:
    if p is None or (isinstance(p, float) and not np.isfinite(p)):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _analysis(name: str) -> str:
    return next((v for k, v in _ANALYSIS.items() if name.startswith(k)), name)


def _term_text(term: str, reference: str, *, trajectory: bool = False) -> str:
    """``week:schedule[T.guided]`` → ``change per week, guided vs weekly``."""
    if "schedule[T." not in term:
        return term
    arm = term.split("schedule[T.", 1)[1].rstrip("]")
    if term.startswith("week:"):
        return f"change per week, {arm} vs {reference}"
    return f"{arm} vs {reference}" + (" at week 0" if trajectory else "")


def _fig(draw, size=(6.2, 3.0)) -> str:
    with matplotlib.rc_context(rc_params()):
        fig, ax = plt.subplots(figsize=size)
        try:
            draw(ax)
            fig.tight_layout()
            return figure_data_uri(fig, fmt="svg")
        finally:
            plt.close(fig)


def compare_report_data(comparison: Comparison, cohort: Cohort) -> dict[str, Any]:
    """Everything the comparison report shows, as plain values and figure URIs."""
    spec = cohort.options.instruments.get(comparison.outcome)
    label = spec.label if spec else comparison.outcome.replace("_", " ")
    ref = comparison.reference or ""
    counts = cohort.patients["schedule"].value_counts().sort_index()

    effects, points, ratios, associations = [], [], [], []
    words = {"adherence_between": "Usual adherence (patient's mean, per 100 %)",
             "adherence_within": "Last week's adherence above the patient's usual (per 100 %)",
             "level": "Glide level (per level)"}
    for m in comparison.models:
        t = m.to_frame()
        if m.name.endswith("_adjusted"):
            for row in t[t["term"].isin(list(words))].itertuples(index=False):
                associations.append({"term": words[row.term], "estimate": row.estimate, "ci_lower": row.ci_lower,
                                     "ci_upper": row.ci_upper, "p": _p(row.p_value)})
            continue
        for row in t[t["term"].str.contains("schedule[T.", regex=False)].itertuples(index=False):
            m_outcome = m.meta.get("outcome", comparison.outcome)
            secondary = m_outcome != comparison.outcome
            e = {"analysis": _analysis(m.name) + (f" ({m_outcome})" if secondary else ""), "primary": not secondary,
                 "term": _term_text(row.term, ref, trajectory=m.name.startswith("trajectory")),
                 "estimate": row.estimate,
                 "ci_lower": row.ci_lower, "ci_upper": row.ci_upper, "p": _p(row.p_value), "scale": m.scale,
                 "n": m.n_patients}
            effects.append(e)
            arm = f" ({row.term.split('schedule[T.', 1)[1].rstrip(']')})" if len(comparison.schedules) > 2 else ""
            point = {"label": e["analysis"] + arm, **{k: e[k] for k in ("estimate", "ci_lower", "ci_upper")}}
            if "ratio" in m.scale:
                ratios.append(point)
            elif not m.name.startswith("trajectory") and not secondary:
                points.append(point)
    if comparison.contrasts is not None and not comparison.contrasts.empty:
        for c in comparison.contrasts.itertuples(index=False):
            arm = f" ({c.schedule})" if len(comparison.schedules) > 2 else ""
            points.insert(0, {"label": f"Mixed model at week {c.week:g}{arm}", "estimate": c.estimate,
                              "ci_lower": c.ci_lower, "ci_upper": c.ci_upper})
    headline = []
    for e in effects:
        if e["primary"] and (e["analysis"].startswith("ANCOVA") or e["analysis"].startswith("Responder odds")):
            unit = "points" if e["scale"] == "points" else e["scale"]
            headline.append(f"{e['analysis']} — {e['term']}: {e['estimate']:.2f} {unit} "
                            f"(95 % CI {e['ci_lower']:.2f} to {e['ci_upper']:.2f}; p {e['p']}).")
    if not headline:
        headline.append("No endpoint model could be fitted; see the remarks.")

    def forest(rows, ratio):
        return None if not rows else _fig(lambda ax: plot_forest(pd.DataFrame(rows), ratio=ratio, ax=ax),
                                          size=(7.5, 0.45 * len(rows) + 1.1))

    mm = comparison.marginal_means
    fig_means = None if mm is None or mm.empty else _fig(
        lambda ax: plot_marginal_means(mm, outcome=comparison.outcome, options=cohort.options, ax=ax))
    km = comparison.km
    fig_km = None if km is None or km.empty else _fig(
        lambda ax: plot_km(km, ylabel="Proportion not yet responded", ax=ax))
    fig_flares = None
    if cohort.sessions is not None and "flares" in cohort.patient_week.columns:
        pw = cohort.patient_week.merge(cohort.patients[["patient_id", "schedule"]], on="patient_id")
        per_patient = pw.groupby(["patient_id", "schedule"], as_index=False)[["flares", "sessions_done"]].sum()
        fig_flares = _fig(lambda ax: plot_flare_rates(per_patient, ax=ax), size=(6.0, 2.4))

    rates = comparison.responder_rates
    responder_rows = []
    if rates is not None and not rates.empty:
        for sched, g in rates.groupby("schedule", sort=True):
            a = g[g["denominator"] == "all"].iloc[0]
            s = g[g["denominator"] == "assessed"].iloc[0]
            responder_rows.append({"schedule": sched, "n_all": int(a["n"]), "n_assessed": int(s["n"]),
                                   "k": int(s["responders"]), "rate_all": a["rate"], "rate_assessed": s["rate"],
                                   "ci": f"{s['ci_lower']:.0%} to {s['ci_upper']:.0%}"})
    rule = spec.responder if spec else None
    if rule is not None:
        parts = [p for p in (f"≥ {rule.points:g} points" if rule.points else "",
                             f"≥ {rule.percent:g} %" if rule.percent else "") if p]
        rule_text = (f"A responder improved {(' and ' if rule.combine == 'all' else ' or ').join(parts)} from "
                     f"baseline at week {comparison.endpoint_week:g} ({spec.responder_source}). Rates are given "
                     "for every patient in the arm (missing counted as not responding) and for those assessed.")
    else:
        rule_text = "No responder rule is defined for this outcome."

    bs = comparison.by_schedule
    head, rows = [], []
    if bs is not None and not bs.empty:
        head = ["Schedule", "Patients", "Adherence median (IQR)", "Highest level median (IQR)",
                "Dropped out, n (%; 95 % CI)", "Flags per 100 sessions"]
        for r in bs.itertuples(index=False):
            adh = ("–" if pd.isna(r.adherence_median) else
                   f"{r.adherence_median:.0%} ({r.adherence_q1:.0%}–{r.adherence_q3:.0%})")
            lvl = ("–" if pd.isna(r.highest_level_median) else
                   f"{r.highest_level_median:g} ({r.highest_level_q1:g}–{r.highest_level_q3:g})")
            drop = f"{r.dropout_n} ({r.dropout_rate:.0%}; {r.dropout_ci_lower:.0%}–{r.dropout_ci_upper:.0%})"
            flags = "–" if pd.isna(r.flags_per_100_sessions) else f"{r.flags_per_100_sessions:.1f}"
            rows.append([r.schedule, r.n_patients, adh, lvl, drop, flags])

    contrasts = [] if comparison.contrasts is None or comparison.contrasts.empty else [
        {**c, "p": _p(c["p_value"])} for c in comparison.contrasts.to_dict("records")]
    models = [{**m.describe(), "rows": [{**t, "p": _p(t["p_value"])} for t in m.to_frame().to_dict("records")]}
              for m in comparison.models]
    trial = _trial_sections(comparison, cohort)
    return {
        "outcome_label": label, "outcome_unit": spec.unit if spec else "points",
        "dataset": cohort.provenance.get("dataset", ""), "n_patients": len(cohort.patients),
        "arms_text": ", ".join(f"{k} {v}" for k, v in counts.items()), "endpoint_week": comparison.endpoint_week,
        "reference": ref, "headline": headline, "effects": effects, "associations": associations,
        "fig_forest_points": forest(points, False), "fig_forest_ratios": forest(ratios, True),
        "fig_means": fig_means, "contrasts": contrasts, "responder_rule": rule_text,
        "responder_rows": responder_rows, "fig_km": fig_km, "by_schedule_head": head, "by_schedule": rows,
        "fig_flares": fig_flares, "assumptions": list(comparison.assumptions),
        "remarks": list(comparison.remarks), "models": models,
        "footer": provenance_footer(comparison.provenance or cohort.provenance), **trial,
    }


def _cell(mean: Any, sd: Any, n: Any) -> str:
    if n is None or pd.isna(n) or int(n) == 0:
        return "–"
    return f"{mean:.2f} ({sd:.2f}), n = {int(n)}" if pd.notna(sd) else f"{mean:.2f}, n = {int(n)}"


def _trial_sections(comparison: Comparison, cohort: Cohort) -> dict[str, Any]:
    """Table 1, Table 2 (descriptives with adjusted differences), the plan's responder table, flow."""
    arms = list(comparison.schedules)
    t1 = cohort_table(cohort, by="schedule", k=1)  # a trial reports every arm in full
    out: dict[str, Any] = {"arms": arms, "table1_head": list(t1.columns), "table1": t1.astype(str).values.tolist()}
    desc = comparison.tables.get("descriptives")
    rows = []
    if desc is not None and not desc.empty:
        adjusted = {}
        for m in comparison.models:
            if m.name.startswith("ancova"):
                t = m.to_frame().set_index("term")
                adjusted[m.meta.get("outcome", comparison.outcome)] = t
        for (outcome, week), g in desc.groupby(["outcome", "week"], sort=False):
            g = g.set_index("schedule")
            cells = [_cell(*(g.loc[a, c] if a in g.index else None for c in ("mean", "sd", "n"))) for a in arms]
            diff = ""
            if float(week) == float(comparison.endpoint_week) and outcome in adjusted:
                parts = []
                for a in arms:
                    term = f"schedule[T.{a}]"
                    if term in adjusted[outcome].index:
                        r = adjusted[outcome].loc[term]
                        parts.append(f"{a}: {r['estimate']:.2f} ({r['ci_lower']:.2f} to {r['ci_upper']:.2f})")
                diff = "; ".join(parts)
            rows.append({"outcome": outcome, "week": week, "cells": cells, "adjusted": diff})
    out["table2"] = rows
    resp = comparison.tables.get("responders")
    out["plan_responders"] = [] if resp is None or resp.empty else [
        {"responder": r["responder"], "schedule": r["schedule"], "n_randomised": r["n_randomised"],
         "n_assessed": r["n_assessed"], "n_responders": r["n_responders"], "rate_itt": r["rate_itt"],
         "rate_complete": r["rate_complete"],
         "ci": "–" if pd.isna(r["ci_lower"]) else f"{r['ci_lower']:.0%} to {r['ci_upper']:.0%}",
         "rd": "reference" if r["schedule"] == comparison.reference else (
             "–" if pd.isna(r.get("rd_itt")) else f"{r['rd_itt']:+.0%} ({r['rd_itt_ci_lower']:+.0%} to "
                                                  f"{r['rd_itt_ci_upper']:+.0%})")}
        for r in resp.to_dict("records")]
    fl = comparison.tables.get("flow")
    if fl is not None and not fl.empty:
        wide = fl.pivot_table(index="stage", columns="schedule", values="n", sort=False, aggfunc="first")
        out["flow_head"] = ["Stage", *[a for a in arms if a in wide.columns]]
        out["flow"] = [[stage.replace("_", " "), *[int(wide.loc[stage, a]) for a in arms if a in wide.columns]]
                       for stage in wide.index]
    else:
        out["flow_head"], out["flow"] = [], []
    es = comparison.tables.get("effect_size")
    out["effect_sizes"] = [] if es is None or es.empty else [
        {"outcome": r["outcome"], "schedule": r["schedule"], "reference": r["reference"], "g": r["g"],
         "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"]} for r in es.to_dict("records")]
    return out


def write_compare_report(comparison: Comparison, cohort: Cohort, out_dir: str | os.PathLike[str], *,
                         pdf: bool = True) -> dict[str, str]:
    """Write ``compare.html`` (self-contained) and ``compare.pdf`` into ``out_dir``, atomically."""
    out = prepare_out_dir(out_dir)
    html = render("compare.html.j2", r=compare_report_data(comparison, cohort))
    written = {}
    p = output_path(out, "compare.html")
    write_html(html, p)
    written["compare.html"] = str(p)
    if pdf:
        q = output_path(out, "compare.pdf")
        html_to_pdf(html, q)
        written["compare.pdf"] = str(q)
    return written
