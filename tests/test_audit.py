"""Audit KPIs, funnel limits, case mix, suppression and the audit report (outcomes.models.audit,
outcomes.plotting.audit, outcomes.reports.audit)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from conftest import PATIENTS, replace_line, write_dataset
from numpy.testing import assert_allclose
from scipy import stats

from outcomes import Cohort, load_dataset
from outcomes.models.audit import (
    AuditTargets,
    audit_kpis,
    casemix_model,
    casemix_oe,
    funnel_data,
    funnel_limits,
    patient_indicators,
    suppress_counts,
)
from outcomes.plotting.audit import plot_funnel
from outcomes.reports.audit import (
    SUPPRESSED,
    _xlsx_bytes,
    audit_document,
    write_audit_report,
)
from outcomes.simulate import simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(400, seed=5)


@pytest.fixture(scope="module")
def sim_cohort(sim) -> Cohort:
    return Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
                              prescriptions=sim.prescriptions)


def _with_summary(cohort: Cohort, summary: pd.DataFrame) -> Cohort:
    """The cohort with an edited patient summary (the audit reads only that and the patient weeks)."""
    return dataclasses.replace(cohort, patient_summary=summary.reset_index(drop=True),
                               remarks=list(cohort.remarks))


# ------------------------------------------------------------------ Wilson and KPIs


def test_wilson_interval_matches_stack_md(sim_cohort):
    """33 responders of 50 assessed → Wilson 0.5215 to 0.7756 (STACK.md; R prop.test, audit_funnel.R)."""
    s = sim_cohort.patient_summary.copy()
    resp = pd.array([pd.NA] * len(s), dtype="boolean")
    resp[:50] = [True] * 33 + [False] * 17
    s["leg_pain_responder"] = resp
    row = audit_kpis(_with_summary(sim_cohort, s)).set_index("kpi").loc["responder"]
    assert (row["numerator"], row["denominator"]) == (33, 50)
    assert_allclose([row["rate"], row["ci_lower"], row["ci_upper"]],
                    [0.66, 0.521538260502326, 0.775630507774999], rtol=1e-9)
    assert row["method"] == "Wilson" and row["status"] == "met" and bool(row["met"])


def test_kpis_have_denominators_targets_and_verdicts(sim_cohort):
    k = audit_kpis(sim_cohort)
    assert list(k["kpi"]) == ["prom_completion", "responder", "responder_itt", "adherence",
                              "flares_per_100_sessions", "active_flag", "sessions_after_red_flag", "dropout",
                              "fidelity"]
    counted = k[k["kpi"] != "sessions_after_red_flag"]
    assert counted["denominator"].notna().all() and k["denominator_label"].str.len().gt(0).all()
    red = k.set_index("kpi").loc["sessions_after_red_flag"]  # a few patients with a red flag: suppressed
    assert pd.isna(red["denominator"]) and red["status"] in ("met", "not met")
    assert set(k["status"]) <= {"met", "not met", "too few to say"}
    assert set(k["direction"]) == {"higher is better", "lower is better"}
    ind = patient_indicators(sim_cohort)
    dropout = k.set_index("kpi").loc["dropout"]
    # dropout: a fixed horizon, the program's end (+ visit window), among patients whose program is over
    ps, opts = sim_cohort.patient_summary, sim_cohort.options
    end = ps["enrolled_on"] + pd.Timedelta(days=7 * opts.program_weeks + opts.visit_window_days)
    over = end <= sim_cohort.as_of
    assert dropout["denominator"] == ind["dropout"].notna().sum() == over.sum() < len(ps)
    early = ps["status"].eq("dropped_out") & (pd.to_datetime(ps["discharged_on"]) <= end)
    assert dropout["numerator"] == (over & early).sum()
    # the ITT responder denominator is every patient due, the complete-case one those assessed
    itt, cc = k.set_index("kpi").loc["responder_itt"], k.set_index("kpi").loc["responder"]
    assert itt["numerator"] == cc["numerator"] and itt["denominator"] >= cc["denominator"]
    by = audit_kpis(sim_cohort, by="schedule", k=1)
    assert by.groupby("kpi")["denominator"].sum().loc["dropout"] == dropout["denominator"]


def test_targets_and_arguments_are_checked(sim_cohort):
    with pytest.raises(ValueError, match=r"by must be one of .*'ward'"):
        audit_kpis(sim_cohort, by="ward")
    with pytest.raises(ValueError, match=r"AuditTargets.responder .*1.5"):
        AuditTargets(responder=1.5)
    with pytest.raises(ValueError, match=r"k must be .* 0"):
        audit_kpis(sim_cohort, k=0)
    with pytest.raises(ValueError, match=r"kpi must be one of"):
        funnel_data(sim_cohort, kpi="adherence")
    t = AuditTargets(responder=0.9)
    row = audit_kpis(sim_cohort, targets=t).set_index("kpi").loc["responder"]
    assert row["target"] == 0.9 and row["status"] == "not met"


# ------------------------------------------------------------------ funnel limits

# From tests/reference/audit_funnel.R (R 4.2.2 qbinom/pbinom, Spiegelhalter 2005 appendix A.1.1).
R_LIMITS = pd.DataFrame(
    [(0.1, 43, 0.00642572178018379, 0.185643813967800, 0.0, 0.253305558877778),
     (0.1, 1000, 0.08127865674466031, 0.118482926530510, 0.071340846312636014, 0.129917843946863),
     (0.509677419354839, 10, 0.14057998056516455, 0.774754685084793, 0.002357284904612678, 0.915463148516200),
     (0.509677419354839, 43, 0.34913889055090425, 0.647457769460419, 0.263155896202467376, 0.731677802524045),
     (0.509677419354839, 250, 0.44561095915134086, 0.569669310715786, 0.409947005762877736, 0.605142806544082),
     (0.75, 5, 0.22133333333333338, 0.978930041152263, 0.000320000000000009, 0.999157201646091),
     (0.75, 100, 0.65767675040685558, 0.827645033504002, 0.604393377193555792, 0.870432832681871)],
    columns=["p", "n", "lower_95", "upper_95", "lower_99_8", "upper_99_8"])


def test_funnel_limits_match_r():
    for p, rows in R_LIMITS.groupby("p"):
        got = funnel_limits(float(p), rows["n"].to_numpy())
        assert list(got.columns) == ["n", "lower_95", "upper_95", "lower_99_8", "upper_99_8"]
        assert_allclose(got[["lower_95", "upper_95", "lower_99_8", "upper_99_8"]].to_numpy(),
                        rows[["lower_95", "upper_95", "lower_99_8", "upper_99_8"]].to_numpy(), rtol=1e-9, atol=1e-12)


def test_funnel_limit_by_hand():
    """Spiegelhalter 2005, appendix A.1.1, with exact fractions.

    p = 0.5, n = 10, upper 95 %: P(R ≤ 7) = 968/1024, P(R ≤ 8) = 1013/1024, so r = 8 and
    α = (1013/1024 − 0.975) / (45/1024); limit = (8 − α) / 10."""
    f8, f7 = Fraction(1013, 1024), Fraction(968, 1024)
    alpha = (f8 - Fraction(975, 1000)) / (f8 - f7)
    expected = float((8 - alpha) / 10)
    got = funnel_limits(0.5, 10, levels=(0.95,))
    assert_allclose(got["upper_95"].iloc[0], expected, rtol=1e-12)
    # lower 95 %: P(R ≤ 1) = 11/1024, P(R ≤ 2) = 56/1024, so r = 2 (the interpolation is not
    # mirror-symmetric: each limit is placed between its own pair of whole counts)
    f2, f1 = Fraction(56, 1024), Fraction(11, 1024)
    alpha = (f2 - Fraction(25, 1000)) / (f2 - f1)
    assert_allclose(got["lower_95"].iloc[0], float((2 - alpha) / 10), rtol=1e-12)


def test_funnel_limits_approach_the_normal_and_are_checked():
    n = np.array([200_000])
    got = funnel_limits(0.3, n)
    half = stats.norm.ppf(0.999) * np.sqrt(0.3 * 0.7 / n)
    assert_allclose(got["upper_99_8"], 0.3 + half, atol=2e-5)
    assert_allclose(got["lower_99_8"], 0.3 - half, atol=2e-5)
    with pytest.raises(ValueError, match="p must be"):
        funnel_limits(1.2, 10)
    with pytest.raises(ValueError, match="n must be"):
        funnel_limits(0.5, [10, 0])
    with pytest.raises(ValueError, match="levels must be"):
        funnel_limits(0.5, 10, levels=(95,))


def test_a_worse_unit_falls_below_the_lower_limit(sim_cohort):
    s = sim_cohort.patient_summary.copy()
    site = "S03"  # the largest site
    assessed = s["site_id"].eq(site) & s["leg_pain_responder"].notna()
    idx = np.flatnonzero(assessed.to_numpy())
    worse = pd.array([False] * len(idx), dtype="boolean")
    worse[: len(idx) // 6] = True  # about 17 % responders instead of about half
    resp = s["leg_pain_responder"].astype("boolean")
    resp[idx] = worse
    s["leg_pain_responder"] = resp
    cohort = _with_summary(sim_cohort, s)
    f = funnel_data(cohort, by="site_id").set_index("unit")
    assert f.loc[site, "position"] == "below" and f.loc[site, "position_inner"] == "below"
    assert f.loc[site, "rate"] < f.loc[site, "lower_99_8"]
    assert (f.drop(site)["position"] != "below").all()
    ax = plot_funnel(f.reset_index())
    units = [line for line in ax.get_lines() if line.get_gid() == "unit"]
    assert len(units) == int((~f["suppressed"]).sum())
    assert site in [t.get_text() for t in ax.texts]  # outside units are labelled with their code
    assert "(%)" in ax.get_ylabel() and "(n)" in ax.get_xlabel()
    assert {line.get_gid() for line in ax.get_lines()} >= {"overall", "limit_inner", "limit_outer", "unit"}


# ------------------------------------------------------------------ case mix


def test_casemix_oe_is_one_overall(sim_cohort):
    model = casemix_model(sim_cohort)
    assert model.meta["covariates"] == ["baseline", "log_duration", "age"]
    assert model.converged and model.n_patients == len(model.data)
    overall = casemix_oe(sim_cohort, by=None, model=model)
    assert len(overall) == 1
    assert_allclose(overall["oe"].iloc[0], 1.0, rtol=1e-6)
    by_site = casemix_oe(sim_cohort, by="site_id", model=model, k=1)
    assert_allclose(by_site["expected"].sum(), by_site["observed"].sum(), rtol=1e-6)
    assert (by_site["ci_lower"] < by_site["oe"]).all() and (by_site["oe"] < by_site["ci_upper"]).all()


# ------------------------------------------------------------------ suppression


def test_suppress_counts_primary_complement_and_secondary():
    hide_n, hide_d = suppress_counts([7, 20, 30, 40], [50, 60, 70, 80], k=11)
    assert list(hide_n) == [True, True, False, False]  # 7, then the next smallest (20) so 7 ≠ total − rest
    assert not hide_d.any()
    hide_n, _ = suppress_counts([45, 20, 30], [50, 60, 70], k=11)  # 50 − 45 = 5 non-events
    assert hide_n[0]
    hide_n, hide_d = suppress_counts([3, 20, 30], [8, 60, 70], k=11)
    assert list(hide_d) == [True, True, False] and hide_n[:2].all()
    hide_n, hide_d = suppress_counts([7, 0], [50, 40], k=1)
    assert not hide_n.any() and not hide_d.any()


def _cohort_with_seven(sim_cohort: Cohort) -> Cohort:
    """Site S01 gets exactly 7 dropouts (discharged as dropped out, by program end) among its patients."""
    s = sim_cohort.patient_summary.copy()
    site = s["site_id"].eq("S01").to_numpy()
    ended = site & s["status"].ne("active").to_numpy()
    status = s["status"].to_numpy(dtype=object)
    status[ended] = "completed"
    status[np.flatnonzero(ended)[:7]] = "dropped_out"
    s["status"] = pd.array(status, dtype="str")
    return _with_summary(sim_cohort, s)


def _numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def test_a_count_of_seven_never_appears(sim_cohort, tmp_path):
    cohort = _cohort_with_seven(sim_cohort)
    raw = audit_kpis(cohort, by="site_id", k=1).set_index(["group", "kpi"])
    assert raw.loc[("S01", "dropout"), "numerator"] == 7  # the small cell exists before suppression
    paths = write_audit_report(cohort, tmp_path / "out", pdf=False)
    assert set(paths) == {"audit.html", "kpis.csv", "kpis.xlsx", "kpis.json"}
    for p in paths.values():
        assert Path(p).parent == (tmp_path / "out").resolve()
    kpis = pd.read_csv(paths["kpis.csv"], dtype=str, keep_default_na=False)
    row = kpis[(kpis["group"] == "S01") & (kpis["kpi"] == "dropout")].iloc[0]
    assert row["numerator"] == SUPPRESSED and row["rate"] == SUPPRESSED and row["suppressed"] == "true"
    counts = kpis[["numerator", "denominator"]].to_numpy().ravel()
    small = {str(i) for i in range(1, 11)}
    assert not small & set(counts)
    doc = json.loads(Path(paths["kpis.json"]).read_text(encoding="utf-8"))
    for part in ("kpis", "kpis_by", "funnel", "casemix"):
        recs = [r for r in _walk_records(doc[part])]
        for rec in recs:
            for key in ("numerator", "denominator", "n", "events", "observed"):
                if rec.get(key) is not None:
                    assert not 1 <= rec[key] <= 10, (part, key, rec)
    for table in doc["cohort_tables"].values():  # Table 1: patient and female counts
        for row in table:
            if row["characteristic"] in ("Patients, n", "Female, n (%)"):
                for cell in list(row.values())[1:]:
                    lead = re.match(r"[\d,]+", cell)
                    assert not lead or not 1 <= int(lead.group().replace(",", "")) <= 10, row
    book = openpyxl.load_workbook(paths["kpis.xlsx"])
    for ws in book.worksheets:
        for r in ws.iter_rows(values_only=True):
            assert 7 not in r and "7" not in r, ws.title
    html = re.sub(r'src="data:[^"]*"', "", Path(paths["audit.html"]).read_text(encoding="utf-8"))  # figures
    seven = r"(?<![\d,.])7(?![\d,.])"  # 7 as a whole number, not part of 1,007 or 0.7
    for pattern in (rf">\s*{seven}\s*<", rf"{seven}\s*/", rf"/\s*{seven}", rf"{seven} of\b", rf"\bof {seven}",
                    rf"{seven} flags", rf"{seven} flares"):
        assert not re.search(pattern, html), pattern
    assert SUPPRESSED in html


def _walk_records(value):
    if isinstance(value, dict):
        if any(k in value for k in ("numerator", "events", "observed")):
            yield value
        for v in value.values():
            yield from _walk_records(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_records(v)


# ------------------------------------------------------------------ report safety


def test_xlsx_text_cells_are_neutralised():
    frame = pd.DataFrame({"note": ["=HYPERLINK(\"http://x\",\"click\")", "@SUM(A1)", "+cmd|' /C calc'!A0",
                                   "-2+3", "-3", "plain"], "value": [1, 2, 3, 4, 5, 6]})
    book = openpyxl.load_workbook(io.BytesIO(_xlsx_bytes({"Notes": frame})))
    ws = book["Notes"]
    cells = [ws.cell(row=i, column=1) for i in range(2, 8)]
    assert [c.value for c in cells] == ["'=HYPERLINK(\"http://x\",\"click\")", "'@SUM(A1)", "'+cmd|' /C calc'!A0",
                                        "'-2+3", "-3", "plain"]
    assert all(c.data_type == "s" for c in cells)


def test_report_escapes_data_text_and_renders_pdf(tmp_path):
    bad = "<script>alert(1)</script>"
    patients = replace_line(PATIENTS, 3, f"P002,S01,C02,2026-01-12,61,{bad},right,30.5,sciatica,guided,,")
    ds = load_dataset(write_dataset(tmp_path / "data", {"patients": patients}))
    cohort = Cohort.from_dataset(ds)
    cohort.remarks.append("note with <b>markup</b> & " + bad)
    paths = write_audit_report(cohort, tmp_path / "out", dataset=ds)
    html = Path(paths["audit.html"]).read_text(encoding="utf-8")
    assert bad not in html and "<b>markup</b>" not in html
    assert "&lt;b&gt;markup&lt;/b&gt;" in html  # the remark, shown as text
    assert "alert(1)" not in html.split("8. Remarks")[0]  # the failing value is never quoted by the audit
    assert "a value is not one of those allowed" in html  # the rule in plain words instead
    assert "1. Data quality" in html and "rows read" in html
    assert "could not be fitted" in html  # two patients: no case-mix model, said in words
    assert Path(paths["audit.pdf"]).read_bytes()[:5] == b"%PDF-"
    doc = audit_document(cohort, dataset=ds)
    patients_row = doc["data_quality"]["reconciliation"][0]
    assert patients_row["quarantined"] == patients_row["accepted"] == "suppressed"  # 1 row, and the rest would tell
    assert audit_document(cohort, dataset=ds, k=1)["data_quality"]["reconciliation"][0]["quarantined"] == 1
    assert "P002" not in json.dumps(doc["data_quality"])
    assert doc["casemix"]["model"] is None and doc["casemix"]["error"]


def test_without_sessions_the_session_kpis_say_so_once(sim, tmp_path):
    no_sessions = Cohort.from_frames(sim.patients, sim.assessments)
    k = audit_kpis(no_sessions).set_index("kpi")
    for kpi in ("adherence", "flares_per_100_sessions", "fidelity"):
        assert k.loc[kpi, "status"] == "not available" and k.loc[kpi, "note"] == "not available: no sessions export"
    assert k.loc["responder", "status"] != "not available"
    paths = write_audit_report(no_sessions, tmp_path / "out", pdf=False)
    html = Path(paths["audit.html"]).read_text(encoding="utf-8")
    assert html.count("not available: no sessions export") == 1
    assert "No validation results were given" in html


def test_small_counts_in_sentences_are_masked_but_other_numbers_stay():
    from outcomes.reports.audit import mask_small_counts

    assert mask_small_counts("3 patient(s) have no baseline assessment (on or before enrolment + 7 days)", 11) == (
        "fewer than 11 patient(s) have no baseline assessment (on or before enrolment + 7 days)")
    assert mask_small_counts("12 patients logged 4 sessions in week 6", 11) == (
        "12 patients logged fewer than 11 sessions in week 6")
    assert mask_small_counts("0 rows left out", 11) == "0 rows left out"
    assert mask_small_counts("3 patients", 1) == "3 patients"


# ------------------------------------------------------------------ lifecycle KPIs, fidelity, SPC, overdispersion


def test_active_flag_and_sessions_after_red_flag_kpis(sim_cohort):
    from outcomes.measures.safety import patient_flag_summary

    k = audit_kpis(sim_cohort, k=1).set_index("kpi")
    summ = patient_flag_summary(sim_cohort.flags, sim_cohort.patient_summary["patient_id"])
    act = k.loc["active_flag"]
    assert act["numerator"] == summ["stop_and_consult"].sum() and act["denominator"] == len(summ)
    red = k.loc["sessions_after_red_flag"]
    assert red["numerator"] == summ["sessions_after_red_flag"].sum()
    assert red["denominator"] == (summ["red_flags"] > 0).sum()
    assert red["status"] == ("met" if red["numerator"] == 0 else "not met")


def test_fidelity_counts_a_level_held_longer_than_a_time_schedule_allows(sim):
    from outcomes.models.audit import stayed_too_long

    s = sim.sessions.copy()
    pid = sim.patients.loc[sim.patients["schedule"] == "weekly", "patient_id"].iloc[0]
    mine = s["patient_id"] == pid
    s.loc[mine, "level"] = 1  # never moved up: no level change, yet three weeks late
    c = Cohort.from_frames(sim.patients, sim.assessments, sessions=s, prescriptions=sim.prescriptions)
    late = stayed_too_long(c)
    assert late[pid] is True or bool(late[pid])
    ind = patient_indicators(c).set_index("patient_id")
    assert not ind.loc[pid, "fidelity"]
    guided = sim.patients.loc[sim.patients["schedule"] == "guided", "patient_id"]
    assert late.reindex(guided).isna().all()  # a symptom-guided stay is not judged by time


def test_spc_rows_p_chart_limits_and_anhoej_rules(sim_cohort):
    from outcomes.models.audit import spc_data
    from outcomes.models.audit.spc import anhoej_signals

    spc = spc_data(sim_cohort, k=1, period="quarter")
    assert list(spc.columns[:10]) == ["table", "kpi", "label", "chart", "period", "n", "value", "center", "lower",
                                      "upper"]
    r = spc[spc["kpi"] == "responder"]
    ind = patient_indicators(sim_cohort)
    p = ind["responder"].dropna().astype(bool).mean()
    assert_allclose(r["center"], p)
    n = r["n"].to_numpy(dtype=float)
    assert_allclose(r["upper"], np.clip(p + 3 * np.sqrt(p * (1 - p) / n), 0, 1))
    assert set(spc.loc[spc["kpi"] == "adherence", "chart"]) == {"xmr"}
    # Anhøj: 12 points, 9 in a row above the centre is a shift (limit round(log2(12) + 3) = 7)
    shift, few, longest, _ = anhoej_signals([1, -1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1], 0.0)
    assert shift and longest == 9
    assert not anhoej_signals([1, -1] * 6, 0.0)[0]
    # suppression: a period with fewer than k patients shows no value and no limits
    hidden = spc_data(sim_cohort, k=11, period="month")
    assert hidden.loc[hidden["suppressed"], ["value", "lower", "upper"]].isna().all().all()


def test_funnel_overdispersion_widens_the_limits(sim_cohort):
    plain = funnel_data(sim_cohort, by="clinician_id", k=1)
    wide = funnel_data(sim_cohort, by="clinician_id", k=1, overdispersion=True)
    assert plain["tau2"].isna().all() and wide["phi"].notna().all()
    if wide["tau2"].iloc[0] > 0:
        assert (wide["upper_99_8"] - wide["lower_99_8"] >= plain["upper_99_8"] - plain["lower_99_8"] - 1e-9).all()
    else:
        assert_allclose(wide["upper_99_8"], plain["upper_99_8"])
    # strongly overdispersed: every patient of half the clinicians responds, none of the others
    s = sim_cohort.patient_summary.copy()
    clin = sorted(s["clinician_id"].unique())
    s["leg_pain_responder"] = s["clinician_id"].isin(clin[::2]).astype("boolean")
    extreme = _with_summary(sim_cohort, s)
    f = funnel_data(extreme, by="clinician_id", k=1, overdispersion=True)
    g = funnel_data(extreme, by="clinician_id", k=1)
    assert f["tau2"].iloc[0] > 0.1 and f["phi"].iloc[0] > 10
    assert (f["upper_95"] - f["lower_95"] > g["upper_95"] - g["lower_95"]).all()
    assert f["position"].eq("within").sum() > g["position"].eq("within").sum()


def test_audit_runs_without_site_clinician_sessions_or_discharge_on_a_declared_outcome(tmp_path):
    from outcomes.measures.instruments import BUILTIN_OUTCOMES, OutcomeRegistry, OutcomeSpec

    rng = np.random.default_rng(3)
    n = 60
    pats = pd.DataFrame({"patient_id": [f"S{i:03d}" for i in range(n)],
                         "enrolled_on": pd.to_datetime("2025-01-06") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
                         "schedule": np.where(np.arange(n) % 2, "A", "B")})
    rows = []
    for pid, day0 in zip(pats["patient_id"], pats["enrolled_on"]):
        b = rng.normal(40, 8)
        for w in (0, 6, 12):
            rows.append({"patient_id": pid, "assessed_on": day0 + pd.Timedelta(days=7 * w),
                         "wellbeing": float(np.clip(b + w + rng.normal(0, 5), 0, 100))})
    ass = pd.DataFrame(rows)
    reg = OutcomeRegistry(BUILTIN_OUTCOMES.specs + (OutcomeSpec("wellbeing", "Wellbeing", "0-100", 0, 100, True,
                                                                 False, 5.0),))
    c = Cohort.from_frames(pats, ass, outcomes=reg)
    paths = write_audit_report(c, tmp_path / "out", pdf=False)
    doc = json.loads(Path(paths["kpis.json"]).read_text())
    assert doc["outcome"] == "wellbeing"
    assert any(x.startswith("No site column") for x in doc["left_out"])
    assert any(x.startswith("No discharge data") for x in doc["left_out"])
    kp = {r["kpi"]: r for r in doc["kpis"]}
    assert kp["dropout"]["status"] == "not available" and "discharge" in kp["dropout"]["note"]
    assert kp["responder"]["label"].startswith("Wellbeing responders")
    assert doc["headline"][0].startswith("Audit of 60 patients")
    assert all(set(r) >= {"table", "kpi", "period", "value", "center", "lower", "upper", "signal"} for r in doc["spc"])
    html = Path(paths["audit.html"]).read_text()
    assert "No site or clinician column" in html and "KeyError" not in html


def test_cli_audit_options_and_headline(tmp_path, capsys):
    from outcomes.cli import main

    data = write_dataset(tmp_path / "data", {})
    with pytest.raises(SystemExit) as exc:
        main(["audit", str(data), "--out", str(tmp_path / "bad"), "--funnel-limits", "99.8,95"])
    assert exc.value.code == 2 and "inner first" in capsys.readouterr().err
    assert main(["audit", str(data), "--out", str(tmp_path / "x"), "--outcome", "nope"]) == 2
    assert "--outcome nope" in capsys.readouterr().err
    code = main(["audit", str(data), "--out", str(tmp_path / "ok"), "--overdispersion", "--funnel-limits", "90,99",
                 "--spc-period", "month"])
    out = capsys.readouterr().out
    assert code in (0, 1) and out.startswith("Audit of 3 patients")
    doc = json.loads((tmp_path / "ok" / "kpis.json").read_text())
    assert doc["funnel_levels"] == [0.9, 0.99] and doc["funnel_overdispersion"] and doc["spc_period"] == "month"


def test_spc_signals_are_worded_once_with_their_periods():
    """A run rule belongs to a stretch of periods: the report says it once, with the stretch, not once
    a period (a 200,000-patient audit listed "too few crossings of the centre line" 19 times)."""
    from outcomes.reports.audit import _signal_words

    periods = [f"2025-{m:02d}" for m in range(1, 13)]
    sig = ["shift: 9 points in a row on one side of the centre"] * 9 + ["", "above the upper limit",
                                                                          "above the upper limit"]
    sig[3] += "; below the lower limit"
    sig = [s + ("; " if s else "") + "too few crossings of the centre line" for s in sig]
    words = _signal_words(pd.DataFrame({"period": periods, "signal": sig}))
    assert words == ("above the upper limit (2025-11, 2025-12); below the lower limit (2025-04); "
                     "shift: 9 points in a row on one side of the centre (2025-01 to 2025-09); "
                     "too few crossings of the centre line (the whole series)")
    one = _signal_words(pd.DataFrame({"period": ["Q1", "Q2", "Q3", "Q4"], "signal": ["", "above the upper limit",
                                                                                   "", "above the upper limit"]}))
    assert one == "above the upper limit (Q2, Q4)"


def test_dropout_counts_a_fixed_horizon_so_recent_enrolments_do_not_look_worse(sim_cohort):
    """Among 'patients whose program has ended', a recent month holds its early leavers but not yet its
    completers: its dropout rate rose towards 100 % (a false signal). Dropout is now by program end, among
    patients whose program (and visit window) is over."""
    s = sim_cohort.patient_summary.copy()
    as_of, opts = sim_cohort.as_of, sim_cohort.options
    i_recent, i_late, i_early = 0, 1, 2
    s.loc[i_recent, ["enrolled_on", "discharged_on"]] = [as_of - pd.Timedelta(days=20), as_of - pd.Timedelta(days=5)]
    length = 7 * opts.program_weeks + opts.visit_window_days
    s.loc[i_late, ["enrolled_on", "discharged_on"]] = [as_of - pd.Timedelta(days=400),
                                                       as_of - pd.Timedelta(days=400 - length - 10)]
    s.loc[i_early, ["enrolled_on", "discharged_on"]] = [as_of - pd.Timedelta(days=400),
                                                        as_of - pd.Timedelta(days=380)]
    s.loc[[i_recent, i_late, i_early], "status"] = "dropped_out"
    ind = patient_indicators(_with_summary(sim_cohort, s)).set_index("patient_id")
    pid = s["patient_id"]
    assert pd.isna(ind.loc[pid[i_recent], "dropout"])   # program not over: not yet in the denominator
    late = ind.loc[pid[i_late], "dropout"]
    assert pd.notna(late) and not late                  # left after the program's end: not a dropout
    assert bool(ind.loc[pid[i_early], "dropout"])      # left in week 3
    k = audit_kpis(sim_cohort).set_index("kpi").loc["dropout"]
    assert "12-week program" in k["label"] and "was over by" in k["denominator_label"]


def test_funnel_axis_fits_large_caseloads_and_keeps_0_to_100_for_small_ones(sim_cohort):
    """At large caseloads the limits are a point or two apart: on a 0-100 % axis the units outside them
    sat on the line. The axis now spans the rates and the outer limits at half the smallest caseload."""
    from outcomes.models.audit import funnel_limits

    overall, ns = 0.45, np.array([19_000, 26_000, 30_000, 31_000, 40_000])
    rates = np.array([0.445, 0.462, 0.440, 0.466, 0.457])
    lim = funnel_limits(overall, ns)
    frame = pd.DataFrame({"unit": [f"S0{i}" for i in range(1, 6)], "n": ns, "rate": rates,
                          "overall_rate": overall, "suppressed": False, **{c: lim[c] for c in lim if c != "n"}})
    frame["position"] = np.where(rates > frame["upper_99_8"], "above",
                                 np.where(rates < frame["lower_99_8"], "below", "within"))
    frame["position_inner"] = np.where(rates > frame["upper_95"], "above",
                                       np.where(rates < frame["lower_95"], "below", "within"))
    lo, hi = plot_funnel(frame).get_ylim()
    edge = funnel_limits(overall, [9_500])
    assert lo <= min(rates.min(), edge["lower_99_8"].iloc[0]) and hi >= max(rates.max(), edge["upper_99_8"].iloc[0])
    assert hi - lo < 0.1  # a few points, not 0-100 %
    small = funnel_data(sim_cohort, by="site_id")
    assert plot_funnel(small).get_ylim() == (-0.02, 1.02)
