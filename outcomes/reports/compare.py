"""The comparison report for researchers: HTML and PDF from one template.

Page 1: what was compared (arms, endpoint, reference, the plan's and the data's
SHA-256), any pre-specified analysis that could not run, the answer in brief (the
primary estimate at the endpoint in one plain sentence, supportive analyses that
point the other way), the estimand, and every analysis at the endpoint. Then: the
CONSORT-style flow diagram, Table 1 (every covariate, standardised mean
differences), Table 2 (observed means by visit), effect sizes; the MMRM and the
mixed model over time; responders (the plan's definitions) and time to first
response with numbers at risk; every pair of arms; missing-data sensitivity;
adherence, safety and dropout; what the numbers can and cannot say; remarks in
plain words (optimiser details stay in models.json); every model in full;
provenance. Labels, never codes; one minus sign (U+2212); percentages as "12 %".
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from ..cohort import Cohort  # noqa: E402
from ..io.writers import output_path, prepare_out_dir  # noqa: E402
from ..models.compare import Comparison  # noqa: E402
from ..models.comparison._common import in_sentence  # noqa: E402
from ..models.comparison.analyses import ANALYSIS_NAMES, SHORT_NAMES  # noqa: E402
from ..plotting.cohort import plot_flare_rates  # noqa: E402
from ..plotting.models import at_risk_table, plot_flow, plot_forest, plot_km, plot_marginal_means  # noqa: E402
from ..plotting.style import rc_params  # noqa: E402
from ..progress import status  # noqa: E402
from ._html import figure_data_uri, fmt_pct, html_to_pdf, provenance_footer, render, write_html  # noqa: E402
from .tables import write_comparison  # noqa: E402  (the comparison's tables; re-exported here)

__all__ = ["compare_report_data", "write_compare_report", "write_comparison"]

_MINUS = "\u2212"
_COVARIATE_WORDS = {"age_years": "Age (years)", "sex": "Sex", "symptom_duration_weeks": "Symptom duration (weeks)",
                    "site_id": "Site", "clinician_id": "Clinician", "bmi": "BMI"}
_ASSOCIATIONS = {"adherence_between": "Usual adherence (patient's mean, per 100 %)",
                 "adherence_within": "Last week's adherence above the patient's usual (per 100 %)",
                 "level": "Glide level (per level)"}
#: Remarks about the optimiser's internals: kept in models.json, not printed.
_INTERNALS = re.compile(r"\|grad|gradient|optimi[sz]er|Hessian|lbfgs|bfgs|powell|ConvergenceWarning|starting value",
                        re.IGNORECASE)


def _num(x: Any, digits: int = 2, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or pd.isna(x):
        return "–"
    return (f"{float(x):+.{digits}f}" if sign else f"{float(x):.{digits}f}").replace("-", _MINUS)


def _df(x: Any) -> str:
    """Degrees of freedom: whole for a linear model's residual df, one decimal for a Satterthwaite or
    Rubin df; thousands grouped (a registry's 175,903, not 175903.0)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or pd.isna(x):
        return "–"
    x = float(x)
    return f"{x:,.0f}" if x == round(x) else f"{x:,.1f}"


def _pct(x: Any, sign: bool = False) -> str:
    if x is None or pd.isna(x):
        return "–"
    return (f"{100 * float(x):+.0f} %" if sign else fmt_pct(x)).replace("-", _MINUS)


def _p(p: Any) -> str:
    if p is None or (isinstance(p, float) and not np.isfinite(p)) or pd.isna(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _text(s: str) -> str:
    """Numbers in running text with the minus sign: ``-0.23`` → ``−0.23`` (hyphens in words kept)."""
    return re.sub(r"(?<![\w])-(?=\d)", _MINUS, s)


def _lower(label: str) -> str:
    """An outcome label inside a sentence (:func:`outcomes.models.comparison._common.in_sentence`):
    ``Leg pain`` → ``leg pain``; ``Average back pain (BPI)`` and ``Oswestry Disability Index`` keep their case."""
    return in_sentence(label)


class _Labels:
    """Codes → words: outcomes (the dataset's registry), covariates, arms' terms, model names."""

    def __init__(self, cohort: Cohort, comparison: Comparison):
        self.cohort, self.ref = cohort, comparison.reference or ""
        self.outcome = comparison.outcome

    def plain(self, text: str) -> str:
        """``text`` with codes in words: outcome and covariate columns, model and column names."""
        text = re.sub(r"(?:week:)?(?:C\()?\w+\)?\[T\.[^\]]+\]", lambda m: self.term(m.group(0)), text)
        for old, new in (("std_error", "the standard error"), ("responder_rates also", "The responder table also"),
                         ("responder_rates", "the responder table"),
                         ("trajectory_lmm", "the linear mixed model"), (" (adjust_for)", ""),
                         ("adherence_between, adherence_within, level", "adherence or level")):
            text = text.replace(old, new)
        codes = set(getattr(self.cohort, "outcomes", ()) and self.cohort.outcomes.names) | set(
            self.cohort.options.instruments)
        for code in sorted(codes, key=len, reverse=True):
            if "_" in code or code in ("odi", "rmdq", "pgic"):
                text = re.sub(rf"(?<![\w']){re.escape(code)}(?![\w'])", _lower(self.outcome_label(code)), text)
        for code, words in _COVARIATE_WORDS.items():
            text = re.sub(rf"(?<![\w']){re.escape(code)}(?![\w'])", _lower(words), text)
        return _text(text)

    def outcome_label(self, code: str) -> str:
        reg = getattr(self.cohort, "outcomes", None)
        if reg is not None and code in reg:
            return reg.label(code)
        spec = self.cohort.options.instruments.get(code)
        return spec.label if spec else code.replace("_", " ").capitalize()

    def covariate(self, code: str) -> str:
        return _COVARIATE_WORDS.get(code, code.replace("_", " ").capitalize())

    def term(self, term: str, model: str = "", outcome: str | None = None) -> str:
        ref, out = self.ref, outcome or self.outcome
        m = re.fullmatch(r"(?:week:)?schedule\[T\.(.+)\]", term)
        if m:
            arm = m.group(1)
            if term.startswith("week:"):
                return f"Change per week, {arm} vs {ref}"
            return f"{arm} vs {ref}" + (" at week 0" if model.startswith("trajectory") else "")
        if term == "baseline":
            return f"Baseline {_lower(self.outcome_label(out))}"
        if term in _ASSOCIATIONS:
            return _ASSOCIATIONS[term]
        if term == "week":
            return "Per week (reference arm)"
        m = re.fullmatch(r"(?:C\()?(\w+?)\)?\[T\.(.+)\]", term)
        if m:
            return f"{self.covariate(m.group(1))}: {m.group(2)}"
        if term in ("Intercept", "Group Var", "Group x week Cov", "week Var"):
            return {"Group Var": "Patient intercept variance", "week Var": "Patient slope variance",
                    "Group x week Cov": "Intercept–slope covariance"}.get(term, term)
        return self.covariate(term)

    def model(self, name: str, outcome: str | None = None) -> str:
        if outcome is None:  # the outcome is part of a model's name: ancova_odi_week6, trajectory_lmm_odi
            codes = sorted(set(self.cohort.options.instruments) | set(getattr(self.cohort, "outcomes", ()) and
                                                                      self.cohort.outcomes.names), key=len, reverse=True)
            outcome = next((c for c in codes if re.search(rf"(^|_){re.escape(c)}(_|$)", name)), None)
        out = f" ({self.outcome_label(outcome)})" if outcome and outcome != self.outcome else ""
        if name == "trajectory_lmm_adjusted":
            return "Mixed model with adherence and level (associations)"
        for key, words in (("trajectory", "Linear mixed model of time × arm"), ("ancova", "ANCOVA"),
                           ("regression", "Regression of the endpoint on arm"),
                           ("responder_odds", "Responder odds ratio"),
                           ("time_to_response", "Time to first response (Cox)"),
                           ("flare_rates", "Flare rate per session"), ("mmrm", "MMRM")):
            if name.startswith(key):
                week = re.search(r"_week(\d+(?:\.\d+)?)$", name)
                return words + (f" at week {week.group(1)}" if week else "") + out
        return name.replace("_", " ") + out


def _short(analysis: str) -> str:
    name = SHORT_NAMES.get(analysis, analysis)
    return name[:1].upper() + name[1:]


def _fig(draw, size=(6.2, 3.0)) -> str:
    with matplotlib.rc_context(rc_params()):
        fig, ax = plt.subplots(figsize=size)
        try:
            draw(ax)
            fig.tight_layout()
            return figure_data_uri(fig, fmt="svg")
        finally:
            plt.close(fig)


# ------------------------------------------------------------------ Table 1


def _smd_numeric(x1: np.ndarray, x0: np.ndarray) -> float:
    if len(x1) < 2 or len(x0) < 2:
        return math.nan
    s = math.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2)
    return (x1.mean() - x0.mean()) / s if s > 0 else math.nan


def _smd_categorical(v1: pd.Series, v0: pd.Series, levels: list[str]) -> float:
    """Yang & Dalton (2012) multivariate SMD of a categorical variable (binary: the usual formula)."""
    if len(v1) == 0 or len(v0) == 0 or len(levels) < 2:
        return math.nan
    p1 = np.array([(v1 == lv).mean() for lv in levels[1:]])
    p0 = np.array([(v0 == lv).mean() for lv in levels[1:]])
    k = len(p1)
    s = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            s[i, j] = ((p1[i] * (1 - p1[i]) + p0[i] * (1 - p0[i])) / 2 if i == j
                       else -(p1[i] * p1[j] + p0[i] * p0[j]) / 2)
    d = p1 - p0
    try:
        value = float(d @ np.linalg.pinv(s) @ d)
    except np.linalg.LinAlgError:
        return math.nan
    return math.sqrt(max(value, 0.0)) if k > 1 else (float(d[0]) / math.sqrt(s[0, 0]) if s[0, 0] > 0 else math.nan)


def _table1(cohort: Cohort, comparison: Comparison, labels: _Labels) -> tuple[list[str], list[list[str]]]:
    """Baseline characteristics by arm: every covariate of the plan, the usual characteristics and the
    baseline of every planned outcome; standardised mean differences of each arm against the reference."""
    s = cohort.patient_summary[cohort.patient_summary["schedule"].notna()].copy()
    s["schedule"] = s["schedule"].astype(str)
    arms = list(comparison.schedules)
    ref = comparison.reference
    others = [a for a in arms if a != ref]
    plan = comparison.plan
    head = ["Characteristic", *arms, "All patients", *[f"SMD {a} vs {ref}" for a in others]]
    n = [int((s["schedule"] == a).sum()) for a in arms]
    rows = [["Patients, n", *[f"{x:,}" for x in n], f"{len(s):,}", *[""] * len(others)]]
    covs = list(dict.fromkeys([*(plan.covariates if plan else ()),
                               *[c for c in ("age_years", "sex", "symptom_duration_weeks") if c in s.columns]]))
    outcomes = list(plan.all_outcomes) if plan else [comparison.outcome]
    declared = getattr(cohort, "covariates", {}) or {}
    items = [(c, labels.covariate(c), declared.get(c)) for c in covs if c in s.columns]
    items += [(f"{o}_baseline", f"Baseline {_lower(labels.outcome_label(o))}", "numeric")
              for o in outcomes if f"{o}_baseline" in s.columns]
    for col, label, kind in items:
        values = s[col]
        numeric = pd.to_numeric(values, errors="coerce")
        if kind is None:
            kind = "numeric" if values.notna().any() and numeric.notna().sum() == values.notna().sum() \
                and values.nunique() > 2 else "categorical"
        if kind == "numeric":
            cells = []
            for part in [*(numeric[s["schedule"] == a] for a in arms), numeric]:
                x = part.dropna().to_numpy(float)
                cells.append(f"{_num(x.mean(), 1)} ({_num(x.std(ddof=1), 1)})" if len(x) > 1 else "–")
            smd = [_num(_smd_numeric(numeric[s["schedule"] == a].dropna().to_numpy(float),
                                     numeric[s["schedule"] == ref].dropna().to_numpy(float)), 2) for a in others]
            missing = int(numeric.isna().sum())
            rows.append([f"{label}, mean (SD)" + (f" [missing {missing}]" if missing else ""), *cells, *smd])
        else:
            text = values.astype("string")
            levels = sorted(text.dropna().unique())
            smd = [_num(_smd_categorical(text[s["schedule"] == a].dropna(), text[s["schedule"] == ref].dropna(),
                                         levels), 2) for a in others]
            rows.append([f"{label}, n (%)", *[""] * (len(arms) + 1), *smd])
            for lv in levels:
                cells = []
                for part in [*(text[s["schedule"] == a] for a in arms), text]:
                    k, m = int((part == lv).sum()), int(part.notna().sum())
                    cells.append(f"{k} ({_pct(k / m)})" if m else "–")
                rows.append([f"\u2003{lv}", *cells, *[""] * len(others)])
    return head, rows


# ------------------------------------------------------------------ the report data


def compare_report_data(comparison: Comparison, cohort: Cohort) -> dict[str, Any]:
    """Everything the comparison report shows, as plain values and figure URIs."""
    labels = _Labels(cohort, comparison)
    label = labels.outcome_label(comparison.outcome)
    spec = cohort.options.instruments.get(comparison.outcome)
    unit = (spec.unit if spec else "") or "points"
    ref = comparison.reference or ""
    arms = list(comparison.schedules)
    counts = cohort.patients["schedule"].value_counts()
    plan = comparison.plan
    higher_better = bool(getattr(cohort, "outcomes", None) is not None and comparison.outcome in cohort.outcomes
                         and cohort.outcomes.higher_is_better(comparison.outcome))

    # every analysis at the endpoint
    est = comparison.tables.get("estimates")
    adjusted = est is not None and not est.empty and (est["method"] != "none").any()
    estimates = [] if est is None or est.empty else [
        {"analysis": _short(r["analysis"]) + (" (primary)" if r["primary"] else ""),
         "primary": bool(r["primary"]), "term": f"{r['schedule']} vs {r['reference']}",
         "estimate": _num(r["estimate"]), "ci": f"{_num(r['ci_lower'])} to {_num(r['ci_upper'])}",
         "p": _p(r["p_value"]), "p_adj": _p(r["p_adjusted"]) if r["method"] != "none" else "",
         "df": _df(r["df"]), "n": "" if pd.isna(r["n"]) else f"{int(r['n']):,}"}
        for r in est.to_dict("records")]
    points = [] if est is None or est.empty else [
        {"label": _short(r["analysis"]) + (f" ({r['schedule']} vs {r['reference']})" if len(arms) > 2 else ""),
         "estimate": r["estimate"], "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"]}
        for r in est.to_dict("records") if np.isfinite(r["estimate"])]

    ratios, ratio_rows, associations = [], [], []
    for m in comparison.models:
        t = m.to_frame()
        if m.name.endswith("_adjusted"):
            for row in t[t["term"].isin(list(_ASSOCIATIONS))].itertuples(index=False):
                associations.append({"term": _ASSOCIATIONS[row.term], "estimate": _num(row.estimate),
                                     "ci": f"{_num(row.ci_lower)} to {_num(row.ci_upper)}", "p": _p(row.p_value)})
            continue
        if "ratio" not in m.scale:
            continue
        for row in t[t["term"].str.startswith("schedule[T.")].itertuples(index=False):
            name = labels.model(m.name, m.meta.get("outcome"))
            ratio_rows.append({"analysis": name, "term": labels.term(row.term, m.name), "scale": m.scale,
                               "estimate": _num(row.estimate), "ci": f"{_num(row.ci_lower)} to {_num(row.ci_upper)}",
                               "p": _p(row.p_value), "n": f"{m.n_patients:,}"})
            if np.isfinite([row.estimate, row.ci_lower, row.ci_upper]).all() and row.ci_lower > 0:
                ratios.append({"label": name + (f" ({labels.term(row.term)})" if len(arms) > 2 else ""),
                               "estimate": row.estimate, "ci_lower": row.ci_lower, "ci_upper": row.ci_upper})

    def forest(rows, ratio):
        return None if not rows else _fig(lambda ax: plot_forest(pd.DataFrame(rows), ratio=ratio, ax=ax),
                                          size=(7.5, 0.42 * len(rows) + 1.1))

    mm = comparison.marginal_means
    means_caption = (f"Estimated mean {_lower(label)} by arm from the linear mixed model of time × arm (every "
                     "assessment used), with 95 % confidence bands.")
    if plan is not None and plan.primary == "mmrm" and comparison.mmrm is not None:
        mm = comparison.mmrm.lsmeans.rename(columns={"arm": "schedule", "time": "week"})
        means_caption = (f"Least-squares mean {_lower(label)} by arm at each post-baseline visit from the MMRM, the "
                         "primary analysis (baseline and covariates at their means), with 95 % confidence bands.")
    fig_means = None if mm is None or mm.empty else _fig(
        lambda ax: plot_marginal_means(mm, outcome=comparison.outcome, options=cohort.options,
                                       ylabel=f"Estimated mean {_lower(label)}", ax=ax))

    # time to first response, with numbers at risk
    km, fig_km, km_caption = comparison.km, None, ""
    cox = next((m for m in comparison.models if m.name.startswith("time_to_response")), None)
    if km is not None and not km.empty:
        risk = None
        if cox is not None and cox.data is not None:
            top = float(cox.data["time"].max())
            times = [float(v) for v in (plan.visits if plan else cohort.options.visits) if v <= top + 1e-9]
            risk = at_risk_table(cox.data.assign(schedule=cox.data["schedule"].astype(str)), times)
        fig_km = _fig(lambda ax: plot_km(km, ylabel="Proportion not yet responded", at_risk=risk, ax=ax),
                      size=(6.6, 3.2 + 0.25 * len(arms)))
    definition = plan.primary_responder if plan else None
    if definition is not None:
        from ..models.comparison import definition_text

        km_caption = (f"Time to the first assessment at which {labels.plain(_lower(definition_text(cohort, definition)))} "
                      f"(the plan's definition \u201c{definition.name}\u201d)")
    fig_flares = None
    if cohort.sessions is not None and "flares" in cohort.patient_week.columns:
        pw = cohort.patient_week.merge(cohort.patients[["patient_id", "schedule"]], on="patient_id")
        per_patient = pw.groupby(["patient_id", "schedule"], as_index=False)[["flares", "sessions_done"]].sum()
        fig_flares = _fig(lambda ax: plot_flare_rates(per_patient, ax=ax), size=(6.0, 2.4))

    bs = comparison.by_schedule
    head, rows = [], []
    if bs is not None and not bs.empty:
        head = ["Arm", "Patients", "Adherence median (IQR)", "Highest level median (IQR)",
                "Dropped out, n (%; 95 % CI)", "Flags per 100 sessions"]
        for r in bs.itertuples(index=False):
            adh = ("–" if pd.isna(r.adherence_median) else
                   f"{_pct(r.adherence_median)} ({_pct(r.adherence_q1)} to {_pct(r.adherence_q3)})")
            lvl = ("–" if pd.isna(r.highest_level_median) else
                   f"{r.highest_level_median:g} ({r.highest_level_q1:g} to {r.highest_level_q3:g})")
            drop = (f"{r.dropout_n} ({_pct(r.dropout_rate)}; {_pct(r.dropout_ci_lower)} to "
                    f"{_pct(r.dropout_ci_upper)})")
            flags = "–" if pd.isna(r.flags_per_100_sessions) else f"{r.flags_per_100_sessions:.1f}"
            rows.append([r.schedule, r.n_patients, adh, lvl, drop, flags])

    models = []
    for m in comparison.models:
        info = m.describe()
        outcome = m.meta.get("outcome")
        models.append({"title": labels.model(m.name, outcome), "description": labels.plain(m.description),
                       "method": info.get("method", ""), "n_patients": m.n_patients,
                       "n_observations": m.n_observations, "converged": m.converged, "formula": m.formula,
                       "scale": m.scale,
                       "rows": [{"term": labels.term(t["term"], m.name, outcome), "estimate": _num(t["estimate"], 3),
                                 "std_error": _num(t["std_error"], 3),
                                 "ci": f"{_num(t['ci_lower'], 3)} to {_num(t['ci_upper'], 3)}",
                                 "p": _p(t["p_value"])} for t in m.to_frame().to_dict("records")]})
    footer = provenance_footer(comparison.provenance or cohort.provenance)
    plan_hash = comparison.plan_file.sha256() if comparison.plan_file is not None else ""
    return {
        "outcome_label": label, "outcome_label_in_sentence": _lower(label), "outcome_unit": unit, "arms": arms,
        "dataset": cohort.provenance.get("dataset", ""), "n_patients": f"{len(cohort.patients):,}",
        "arms_text": ", ".join(f"{a} {int(counts.get(a, 0)):,}" for a in arms),
        "endpoint_week": comparison.endpoint_week, "reference": ref,
        "reference_how": "as given" if comparison.reference_given else
        "the first arm in sorted order, as the plan names none",
        "plan_sha256": plan_hash, "inputs": footer["inputs"],
        "primary": ANALYSIS_NAMES.get(plan.primary, plan.primary) if plan else "",
        "multiplicity": plan.multiplicity if plan else "holm",
        "failures": [labels.plain(f) for f in comparison.failures],
        "headline": [labels.plain(h) for h in comparison.headline] or [
            "No endpoint analysis could be run; see the remarks."],
        "tipping": [] if comparison.tipping is None else [labels.plain(s) for s in comparison.tipping.tipping["sentence"]],
        "estimand": _estimand(plan), "estimates": estimates, "adjusted": adjusted,
        "direction": "higher is better" if higher_better else "lower is better",
        "fig_forest_points": forest(points, False), "fig_forest_ratios": forest(ratios, True),
        "ratio_rows": ratio_rows, "associations": associations,
        "fig_means": fig_means, "means_caption": means_caption, "fig_km": fig_km, "km_caption": km_caption,
        "by_schedule_head": head, "by_schedule": rows, "fig_flares": fig_flares,
        "assumptions": list(comparison.assumptions), "remarks": _remarks(comparison, labels),
        "models": models, "footer": footer, **_trial_sections(comparison, cohort, labels),
        **_mmrm_section(comparison), **_pairwise_section(comparison), **_sensitivity_section(comparison),
    }


def _estimand(plan: Any) -> list[dict[str, str]]:
    if plan is None or not plan.estimand.stated:
        return []
    names = {"population": "Population", "variable": "Variable (endpoint)",
             "intercurrent_events": "Intercurrent events", "summary": "Population-level summary"}
    return [{"what": names[k], "text": getattr(plan.estimand, k)} for k in names if getattr(plan.estimand, k)]


def _remarks(comparison: Comparison, labels: _Labels) -> list[str]:
    """Remarks in plain words: model codes replaced by names, sentences said before and optimiser
    internals left out (they are in models.json)."""
    out, internals, seen = [], False, set()
    prefix = re.compile(r"^([a-z][a-z0-9_]*(?:_week\d+)?): ")
    for r in comparison.remarks:
        if _INTERNALS.search(r):
            internals = True
            continue
        m = prefix.match(r)
        head = ""
        if m:
            head, r = f"{labels.model(m.group(1))}: ", r[m.end():]
        sentences = [x for x in re.split(r"(?<=[.;])\s+(?=[A-Z])", r) if x.strip()]
        fresh = [x for x in sentences if x not in seen]
        seen.update(sentences)
        if fresh:
            out.append(labels.plain(head + " ".join(fresh)))
    if internals:
        out.append("Fitting details (optimiser, gradient and convergence checks) are in models.json.")
    return list(dict.fromkeys(out))


def _mmrm_section(comparison: Comparison) -> dict[str, Any]:
    res = comparison.mmrm
    if res is None:
        return {"mmrm": None}
    means = res.lsmeans
    visits = list(res.visits)
    ls_rows = []
    for arm in res.arms:
        cells = []
        for v in visits:
            r = means[(means["arm"] == arm) & np.isclose(means["time"].astype(float), float(v))]
            cells.append("–" if r.empty else f"{_num(r['estimate'].iloc[0])} ({_num(r['ci_lower'].iloc[0])} to "
                                             f"{_num(r['ci_upper'].iloc[0])})")
        ls_rows.append({"arm": arm, "cells": cells})
    diffs = [{"term": f"{r['arm']} vs {r['reference']}", "week": f"{float(r['time']):g}",
              "estimate": _num(r["estimate"]), "ci": f"{_num(r['ci_lower'])} to {_num(r['ci_upper'])}",
              "p": _p(r["p_value"]), "df": _df(r["df"]),
              "endpoint": bool(np.isclose(float(r["time"]), float(comparison.endpoint_week)))}
             for r in res.contrasts.to_dict("records")]
    return {"mmrm": {"method": res.method, "formula": res.meta.get("formula", ""), "n": f"{res.n_patients:,}",
                     "obs": f"{res.n_observations:,}", "visits": [f"{float(v):g}" for v in visits],
                     "lsmeans": ls_rows, "diffs": diffs,
                     "converged": res.converged}}


def _pairwise_section(comparison: Comparison) -> dict[str, Any]:
    pw = comparison.tables.get("pairwise")
    if pw is None or pw.empty:
        return {"pairwise": []}
    return {"pairwise": [{"term": r["term"], "estimate": _num(r["estimate"]),
                          "ci": f"{_num(r['ci_lower'])} to {_num(r['ci_upper'])}", "p": _p(r["p_value"]),
                          "p_adj": _p(r["p_adjusted"]), "method": r["method"]} for r in pw.to_dict("records")],
            "pairwise_method": str(pw["method"].iloc[0])}


def _sensitivity_section(comparison: Comparison) -> dict[str, Any]:
    s = comparison.tables.get("sensitivity")
    if s is None or s.empty:
        return {"sensitivity": [], "imputations": 0}
    rows = [{"method": "Multiple imputation (MAR)" if r["method"] == "multiple_imputation" else "Tipping point",
             "delta": _num(r["delta"], 1), "term": r["term"].replace(" at ", " at week ", 1),
             "estimate": _num(r["estimate"]), "ci": f"{_num(r['ci_lower'])} to {_num(r['ci_upper'])}",
             "p": _p(r["p_value"])} for r in s.to_dict("records")]
    mi = comparison.imputation
    return {"sensitivity": rows, "imputations": getattr(mi, "imputations", 0),
            "imputed": int(mi.counts["n_imputed"].sum()) if mi is not None else 0,
            "seed": getattr(mi, "seed", "")}


def _cell(mean: Any, sd: Any, n: Any) -> str:
    if n is None or pd.isna(n) or int(n) == 0:
        return "–"
    return f"{_num(mean)} ({_num(sd)}), n = {int(n)}" if pd.notna(sd) else f"{_num(mean)}, n = {int(n)}"


def _adjusted_g(comparison: Comparison) -> list[dict[str, Any]]:
    """Hedges g from the ANCOVA's adjusted difference: estimate / pooled SD of the endpoint, small-sample
    corrected, with the large-sample interval of Hedges & Olkin (1985)."""
    out = []
    for m in comparison.models:
        if not m.name.startswith("ancova") or m.data is None:
            continue
        data = m.data.assign(schedule=m.data["schedule"].astype(str))
        t = m.to_frame().set_index("term")
        x0 = data.loc[data["schedule"] == comparison.reference, "endpoint"].to_numpy(float)
        for arm in [a for a in comparison.schedules if a != comparison.reference]:
            term = f"schedule[T.{arm}]"
            x1 = data.loc[data["schedule"] == arm, "endpoint"].to_numpy(float)
            n1, n0 = len(x1), len(x0)
            if term not in t.index or n1 < 2 or n0 < 2:
                continue
            sp = math.sqrt(((n1 - 1) * x1.var(ddof=1) + (n0 - 1) * x0.var(ddof=1)) / (n1 + n0 - 2))
            if sp <= 0:
                continue
            g = (1 - 3 / (4 * (n1 + n0) - 9)) * t.loc[term, "estimate"] / sp
            se = math.sqrt((n1 + n0) / (n1 * n0) + g ** 2 / (2 * (n1 + n0)))
            q = stats.norm.ppf(0.975)
            out.append({"outcome": m.meta.get("outcome", comparison.outcome), "schedule": arm, "g": g,
                        "ci_lower": g - q * se, "ci_upper": g + q * se})
    return out


def _trial_sections(comparison: Comparison, cohort: Cohort, labels: _Labels) -> dict[str, Any]:
    """Flow diagram, Table 1, Table 2 (descriptives with adjusted differences), the plan's responder table,
    effect sizes."""
    arms = list(comparison.schedules)
    head1, rows1 = _table1(cohort, comparison, labels)
    out: dict[str, Any] = {"table1_head": head1, "table1": rows1}
    desc = comparison.tables.get("descriptives")
    rows = []
    if desc is not None and not desc.empty:
        adjusted = {}
        for m in comparison.models:
            if m.name.startswith("ancova"):
                adjusted[m.meta.get("outcome", comparison.outcome)] = m.to_frame().set_index("term")
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
                        parts.append(f"{a}: {_num(r['estimate'])} ({_num(r['ci_lower'])} to {_num(r['ci_upper'])})")
                diff = "; ".join(parts)
            rows.append({"outcome": labels.outcome_label(outcome), "week": week, "cells": cells, "adjusted": diff})
    out["table2"] = rows
    resp = comparison.tables.get("responders")
    plan = comparison.plan
    defs = {r.name: r for r in (plan.responders if plan else ())}
    out["plan_responders"] = [] if resp is None or resp.empty else [
        {"responder": r["responder"], "schedule": r["schedule"], "n_randomised": r["n_randomised"],
         "n_assessed": r["n_assessed"], "n_responders": r["n_responders"], "rate_itt": _pct(r["rate_itt"]),
         "rate_complete": _pct(r["rate_complete"]),
         "ci": "–" if pd.isna(r["ci_lower"]) else f"{_pct(r['ci_lower'])} to {_pct(r['ci_upper'])}",
         "rd": "reference" if r["schedule"] == comparison.reference else (
             "–" if pd.isna(r.get("rd_itt")) else f"{_pct(r['rd_itt'], True)} ({_pct(r['rd_itt_ci_lower'], True)} to "
                                                  f"{_pct(r['rd_itt_ci_upper'], True)})")}
        for r in resp.to_dict("records")]
    if defs:
        from ..models.comparison import definition_text

        out["responder_definitions"] = [
            {"name": name, "text": definition_text(cohort, d) + f" at week {comparison.endpoint_week:g}",
             "primary": "every randomised patient, missing = non-responder" if d.missing == "nonresponder"
             else "the patients assessed"} for name, d in defs.items()]
    else:
        out["responder_definitions"] = []
    fl = comparison.tables.get("flow")
    out["fig_flow"] = None
    if fl is not None and not fl.empty:
        stages = fl["stage"].nunique()
        out["fig_flow"] = _fig(lambda ax: plot_flow(fl, arms=arms, ax=ax),
                               size=(min(7.5, 2.4 * len(arms) + 1.2), 0.62 * (stages + 1) + 0.5))
    es = comparison.tables.get("effect_size")
    out["effect_sizes"] = [] if es is None or es.empty else [
        {"outcome": labels.outcome_label(r["outcome"]), "schedule": r["schedule"], "reference": r["reference"],
         "g": _num(r["g"]), "ci": f"{_num(r['ci_lower'])} to {_num(r['ci_upper'])}"} for r in es.to_dict("records")]
    out["effect_sizes_adjusted"] = [
        {"outcome": labels.outcome_label(r["outcome"]), "schedule": r["schedule"], "g": _num(r["g"]),
         "ci": f"{_num(r['ci_lower'])} to {_num(r['ci_upper'])}"} for r in _adjusted_g(comparison)]
    return out


def write_compare_report(comparison: Comparison, cohort: Cohort, out_dir: str | os.PathLike[str], *,
                         pdf: bool = True) -> dict[str, str]:
    """Write ``compare.html`` (self-contained) and ``compare.pdf`` into ``out_dir``, atomically."""
    out = prepare_out_dir(out_dir)
    status("drawing the comparison's figures and writing compare.html")
    html = render("compare.html.j2", r=compare_report_data(comparison, cohort))
    written = {}
    p = output_path(out, "compare.html")
    write_html(html, p)
    written["compare.html"] = str(p)
    if pdf:
        status("writing compare.pdf")
        q = output_path(out, "compare.pdf")
        html_to_pdf(html, q)
        written["compare.pdf"] = str(q)
    return written
