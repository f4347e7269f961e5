"""Tests for outcomes.simulate: contract conformance, rules and known truth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from outcomes.simulate import SimulatedDataset, SimulationTruth, simulate, write_dataset

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "data" / "schemas"
TABLES = ("patients", "prescriptions", "sessions", "assessments")
NO_DROPOUT = {"dropout_alpha": -50.0}
LEVEL_LOOK = {1: ("slider", "seated"), 2: ("slider", "supine"), 3: ("slider", "supine"),
              4: ("tensioner", "leg_raised"), 5: ("tensioner", "standing"),
              6: ("tensioner", "standing")}


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict]:
    return {t: json.loads((SCHEMA_DIR / f"{t}.schema.json").read_text()) for t in TABLES}


@pytest.fixture(scope="module")
def small() -> SimulatedDataset:
    return simulate(300, seed=11)


@pytest.fixture(scope="module")
def cohort() -> SimulatedDataset:
    """2,000 patients with dropout."""
    return simulate(2000, seed=2024)


@pytest.fixture(scope="module")
def complete() -> SimulatedDataset:
    """The same 2,000 patients with dropout switched off."""
    return simulate(2000, seed=2024, params=NO_DROPOUT)


def _with_days(frame: pd.DataFrame, patients: pd.DataFrame, col: str) -> pd.DataFrame:
    out = frame.merge(patients[["patient_id", "schedule", "enrolled_on", "discharged_on",
                                "discharge_reason"]], on="patient_id", how="left")
    out["day"] = (out[col].dt.normalize() - out["enrolled_on"]).dt.days
    return out


def _settled(ds: SimulatedDataset) -> pd.Series:
    """Patients enrolled long enough before study 'today' to have finished (ids)."""
    today = pd.Timestamp(ds.truth.study_today)
    p = ds.patients
    return p.loc[p["enrolled_on"] < today - pd.Timedelta(days=100), "patient_id"]


# ------------------------------------------------------------ determinism


def test_same_seed_gives_identical_frames_and_files(small, tmp_path):
    again = simulate(300, seed=11)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))
    assert again.truth == small.truth
    for fmt in ("csv", "parquet"):
        a = write_dataset(small, tmp_path / f"a_{fmt}", format=fmt)
        b = write_dataset(again, tmp_path / f"b_{fmt}", format=fmt)
        for key in a:
            assert a[key].read_bytes() == b[key].read_bytes(), (fmt, key)


def test_different_seed_gives_different_data(small):
    other = simulate(300, seed=12)
    for name in ("patients", "sessions", "assessments"):
        assert not getattr(other, name).equals(getattr(small, name)), name
    assert other.truth.site_effects != small.truth.site_effects


# ------------------------------------------------------------ the contract


def _problems(frame: pd.DataFrame, schema: dict, patients: pd.DataFrame) -> list[str]:
    fields = {f["name"]: f for f in schema["fields"]}
    order = [f["name"] for f in schema["fields"] if f["name"] in frame.columns]
    bad = [] if list(frame.columns) == order else [f"column order {list(frame.columns)}"]
    bad += [f"{c}: not in schema" for c in frame.columns if c not in fields]
    for name, f in fields.items():
        cons = f.get("constraints", {})
        if name not in frame.columns:
            if cons.get("required"):
                bad.append(f"{name}: required column missing")
            continue
        s = frame[name]
        ok = s.dropna()
        kind = f["type"]
        expected = {"string": "str", "integer": "Int64", "number": "float64",
                    "boolean": "bool"}.get(kind)
        if expected and s.dtype != expected:
            bad.append(f"{name}: dtype {s.dtype} for {kind}")
        if kind in ("date", "datetime"):
            if not pd.api.types.is_datetime64_dtype(s):
                bad.append(f"{name}: dtype {s.dtype} for {kind}")
            elif kind == "date" and not (ok == ok.dt.normalize()).all():
                bad.append(f"{name}: a date has a time")
        if kind == "number" and not np.isfinite(ok).all():
            bad.append(f"{name}: non-finite numbers")
        if cons.get("required") and s.isna().any():
            bad.append(f"{name}: {s.isna().sum()} missing required values")
        if cons.get("unique") and s.duplicated().any():
            bad.append(f"{name}: duplicates")
        if "pattern" in cons and not ok.str.fullmatch(cons["pattern"]).all():
            bad.append(f"{name}: values not matching {cons['pattern']}")
        if "enum" in cons and not ok.isin(cons["enum"]).all():
            bad.append(f"{name}: values {sorted(set(ok) - set(cons['enum']))} not in enum")
        if "maxLength" in cons and (ok.str.len() > cons["maxLength"]).any():
            bad.append(f"{name}: too long")
        if "minimum" in cons and (ok < cons["minimum"]).any():
            bad.append(f"{name}: below {cons['minimum']}")
        if "maximum" in cons and (ok > cons["maximum"]).any():
            bad.append(f"{name}: above {cons['maximum']}")
    if frame.duplicated(schema["primaryKey"]).any():
        bad.append(f"primary key {schema['primaryKey']} not unique")
    for fk in schema.get("foreignKeys", []):
        if not frame[fk["fields"]].isin(patients[fk["reference"]["fields"]]).all():
            bad.append(f"foreign key {fk['fields']} has unknown patients")
    if "x-atLeastOneOf" in schema:
        cols = [c for c in schema["x-atLeastOneOf"] if c in frame.columns]
        if frame[cols].isna().all(axis=1).any():
            bad.append("a row has no outcome")
    return bad


@pytest.mark.parametrize("name", TABLES)
def test_frames_conform_to_the_schema(small, cohort, schemas, name):
    for ds in (small, cohort):
        assert _problems(getattr(ds, name), schemas[name], ds.patients) == []
    emitted = set(getattr(small, name).columns)
    missing = {f["name"] for f in schemas[name]["fields"]} - emitted
    assert missing == ({"odi"} if name == "assessments" else set())


def test_value_mix_is_plausible(cohort):
    p, s, a = cohort.patients, cohort.sessions, cohort.assessments
    assert set(p["sex"]) == {"female", "male", "other", "unknown"}
    assert set(p["affected_side"]) == {"left", "right", "bilateral"}
    assert p["site_id"].nunique() == 6
    assert (p.groupby("clinician_id")["site_id"].nunique() == 1).all()
    assert p.groupby("site_id")["clinician_id"].nunique().between(2, 4).all()
    assert p["age_years"].between(18, 85).all() and 45 < p["age_years"].mean() < 55
    assert p["symptom_duration_weeks"].between(1, 200).all()
    assert (p["diagnosis"] == "lumbar radiculopathy").mean() > 0.6
    assert abs((p["schedule"] == "guided").sum() - (p["schedule"] == "weekly").sum()) <= 1
    span = (p["enrolled_on"].max() - p["enrolled_on"].min()).days
    assert 500 < span < 548
    assert 0.005 < p["discharged_on"].isna().mean() < 0.08
    assert 80 < len(s) / len(p) < 150  # about 2 million sessions per 20,000 patients
    assert 0.001 < (s["response"] == "worse").mean() < 0.01  # flares are uncommon (config.SIMULATION_FIGURES)
    assert 0 < s["note"].notna().mean() < 0.1
    assert a["pgic"].notna().sum() > 0
    week0 = a.groupby("patient_id").head(1)
    assert week0["pgic"].isna().all()
    for c in ("rf_saddle_anaesthesia", "rf_bladder_bowel", "rf_progressive_weakness"):
        assert a[c].mean() < 0.01
    assert 0.005 < a["odi_1"].isna().mean() < 0.05
    assert a["leg_pain"].corr(a["slr_deg"]) < -0.3
    assert a["leg_pain"].corr(a["back_pain"]) > 0.3
    odi = a[[f"odi_{i}" for i in range(1, 11)]].sum(axis=1)
    assert a["rmdq"].astype(float).corr(odi.astype(float)) > 0.5


def test_patient_codes_are_padded_to_the_width_of_n():
    assert list(simulate(5, seed=1).patients["patient_id"]) == ["P1", "P2", "P3", "P4", "P5"]
    ids = simulate(120, seed=1).patients["patient_id"]
    assert ids.iloc[0] == "P001" and ids.iloc[-1] == "P120"


def test_everything_lies_inside_enrolment_and_before_today(cohort):
    today = pd.Timestamp(cohort.truth.study_today)
    p = cohort.patients
    assert (p["discharged_on"].dropna() < today).all()
    assert (p["discharged_on"].isna() == p["discharge_reason"].isna()).all()
    for name, col in (("sessions", "performed_at"), ("assessments", "assessed_on"),
                      ("prescriptions", "valid_from")):
        f = _with_days(getattr(cohort, name), p, col)
        assert (f["day"] >= 0).all(), name
        assert (f[col] < today).all(), name
        closed = f["discharged_on"].notna()
        assert (f.loc[closed, col].dt.normalize() <= f.loc[closed, "discharged_on"]).all(), name
    s = _with_days(cohort.sessions, p, "performed_at")
    assert s["day"].max() <= 83
    assert not (s["performed_at"].dt.normalize() == s["discharged_on"]).any()
    hour = s["performed_at"].dt.hour
    assert hour.between(6, 10).sum() + hour.between(17, 21).sum() == len(s)
    assert s.groupby("patient_id")["performed_at"].is_monotonic_increasing.all()


def test_visits_follow_the_plan_and_discharge(cohort):
    p = cohort.patients.set_index("patient_id")
    a = _with_days(cohort.assessments, cohort.patients, "assessed_on")
    a["visit"] = a.groupby("patient_id").cumcount()
    weeks = np.array(cohort.truth.visit_weeks)
    target = 7 * weeks[a["visit"]]
    offset = a["day"] - target
    assert offset[a["visit"] == 0].between(0, 3).all()
    assert offset[a["visit"] > 0].between(-3, 3).all()
    last = a.groupby("patient_id").tail(1).set_index("patient_id")
    done = p["discharge_reason"] == "completed"
    assert (last.loc[done[done].index, "visit"] == 5).all()
    assert (last.loc[done[done].index, "assessed_on"] == p.loc[done, "discharged_on"]).all()
    dropped = p.index[p["discharge_reason"] == "dropped_out"]
    assert last.loc[dropped, "visit"].between(1, 4).all()
    assert (last.loc[dropped, "assessed_on"] < p.loc[dropped, "discharged_on"]).all()
    active = p.index[p["discharged_on"].isna()]
    assert (pd.Timestamp(cohort.truth.study_today) - p.loc[active, "enrolled_on"]
            ).dt.days.max() <= 88


def test_prescriptions_and_sessions_agree(cohort):
    t = cohort.truth
    rx = cohort.prescriptions
    first = rx.groupby("patient_id").head(1).merge(cohort.patients, on="patient_id")
    assert (first["valid_from"] == first["enrolled_on"]).all() and (first["level"] == 1).all()
    assert (rx.groupby("patient_id")["level"].diff().dropna() == 1).all()
    assert (rx["reps"] == t.reps_level1 + t.reps_per_level * (rx["level"] - 1)).all()
    assert (rx["sessions_per_week"] == 14).all() and (rx["sets"] == 2).all()
    s = cohort.sessions.sort_values("performed_at")
    rx = rx.sort_values("valid_from")
    merged = pd.merge_asof(s, rx.rename(columns={"level": "rx_level"}), by="patient_id",
                           left_on="performed_at", right_on="valid_from")
    assert (merged["level"] == merged["rx_level"]).all()
    assert (merged["exercise_x"] == merged["exercise_y"]).all()
    look = merged["level"].map(LEVEL_LOOK)
    assert (merged["glide_type"] == look.str[0]).all()
    assert (merged["position"] == look.str[1]).all()
    full = merged["sets"] * merged["reps"]
    assert (merged["reps_done"] <= full).all() and (merged["sets_done"] <= merged["sets"]).all()
    assert (merged["reps_done"] < full)[merged["stopped_early"]].all()


def test_flares_and_responses_are_consistent(cohort):
    s = cohort.sessions
    rise = s["pain_after"] - s["pain_before"]
    worse = s["response"] == "worse"
    assert worse[rise >= 2].all()
    assert ((rise >= 2) | (s["pain_after"] == 10))[worse].all()
    assert (s.loc[~worse, "response"] == np.where(rise[~worse] < 0, "better", "same")).all()
    assert s.loc[worse, "stopped_early"].mean() > 5 * s.loc[~worse, "stopped_early"].mean()


# ------------------------------------------------------------ schedules


def test_weekly_schedule_moves_up_one_level_every_seven_days(cohort):
    s = _with_days(cohort.sessions, cohort.patients, "performed_at")
    s = s[s["schedule"] == "weekly"]
    assert (s["level"] == np.minimum(1 + s["day"] // 7, 6)).all()
    rx = _with_days(cohort.prescriptions, cohort.patients, "valid_from")
    rx = rx[rx["schedule"] == "weekly"]
    assert (rx["day"] == 7 * (rx["level"] - 1)).all()


def test_guided_schedule_advances_only_after_five_qualifying_sessions(cohort):
    t = cohort.truth
    s = _with_days(cohort.sessions, cohort.patients, "performed_at")
    s = s[s["schedule"] == "guided"]
    qualifies = ((s["response"] != "worse") & (s["pain_after"] <= t.guided_max_pain_after))
    expected = np.empty(len(s), np.int64)
    pid_prev, level, run, day_prev = None, 1, 0, -1
    rows = zip(s["patient_id"], s["day"], qualifies)
    for i, (pid, day, ok) in enumerate(rows):
        if pid != pid_prev:
            pid_prev, level, run, day_prev = pid, 1, 0, -1
        if day != day_prev and run >= t.guided_sessions_to_advance and level < t.max_level:
            level, run = level + 1, 0
        expected[i] = level
        run = run + 1 if ok else 0
        day_prev = day
    assert (s["level"].to_numpy() == expected).all()
    top = s.groupby("patient_id")["level"].max()
    assert (top == 1).sum() > 50 and (top >= 4).sum() > 50  # the rule is exercised
    # a level starts on the day after the run that earned it ended
    rx = _with_days(cohort.prescriptions, cohort.patients, "valid_from")
    rx = rx[(rx["schedule"] == "guided") & (rx["level"] > 1)]
    at = s.groupby(["patient_id", "level"])["day"].agg(["min", "max"])
    prev = at.reindex(list(zip(rx["patient_id"], rx["level"] - 1)))
    assert (rx["day"].to_numpy() == prev["max"].to_numpy() + 1).all()


def test_single_schedule_is_allowed():
    ds = simulate(40, seed=3, schedules=("guided",))
    assert set(ds.patients["schedule"]) == {"guided"}
    assert ds.truth.schedules == ("guided",)


# ------------------------------------------------------------ dropout


def test_dropout_only_cuts_later_data(cohort, complete):
    pd_, pc_ = cohort.patients, complete.patients
    assert (pc_["discharge_reason"] != "dropped_out").all()
    dropped = pd_["discharge_reason"] == "dropped_out"
    assert 0.15 < dropped.mean() < 0.5
    same = pd_.columns.drop(["discharged_on", "discharge_reason"])
    pd.testing.assert_frame_equal(pd_[same], pc_[same])
    pd.testing.assert_frame_equal(pd_[~dropped], pc_[~dropped])
    cut = pd_.set_index("patient_id")["discharged_on"].where(dropped.to_numpy())
    for name, col in (("assessments", "assessed_on"), ("sessions", "performed_at"),
                      ("prescriptions", "valid_from")):
        full = getattr(complete, name)
        end = full["patient_id"].map(cut)
        kept = full[end.isna() | (full[col] < end)].drop(columns="session_id", errors="ignore")
        got = getattr(cohort, name).drop(columns="session_id", errors="ignore")
        assert len(got) < len(full), name
        pd.testing.assert_frame_equal(got.reset_index(drop=True), kept.reset_index(drop=True))


def test_dropout_model_is_recovered(cohort):
    import statsmodels.api as sm

    t = cohort.truth
    p = cohort.patients.set_index("patient_id")
    a = cohort.assessments[cohort.assessments["patient_id"].isin(_settled(cohort))].copy()
    a["visit"] = a.groupby("patient_id").cumcount()
    a["is_last"] = ~a["patient_id"].duplicated(keep="last")
    follow = a[a["visit"].between(1, len(t.visit_weeks) - 2)]
    event = (follow["is_last"]
             & (follow["patient_id"].map(p["discharge_reason"]) == "dropped_out"))
    fit = sm.Logit(event.astype(float).to_numpy(),
                   sm.add_constant(follow["leg_pain"].astype(float).to_numpy())).fit(disp=0)
    (alpha, beta), (se_a, se_b) = fit.params, fit.bse
    assert abs(beta - t.dropout_beta) < 4 * se_b, (beta, se_b)
    assert abs(alpha - t.dropout_alpha) < 4 * se_a, (alpha, se_a)


# ------------------------------------------------------------ known truth


def _adherence(ds: SimulatedDataset, ids: pd.Series) -> pd.DataFrame:
    """Realised sessions / 14 per patient and program week 0-11 (ids only)."""
    s = _with_days(ds.sessions[ds.sessions["patient_id"].isin(ids)], ds.patients,
                   "performed_at")
    counts = s.groupby(["patient_id", s["day"] // 7]).size().unstack(fill_value=0)
    return counts.reindex(index=ids, columns=range(12), fill_value=0) / 14


def test_weekly_slopes_and_difference_are_recovered(complete):
    t = complete.truth
    ids = _settled(complete)
    a = _with_days(complete.assessments[complete.assessments["patient_id"].isin(ids)],
                   complete.patients, "assessed_on")
    rx = complete.prescriptions.sort_values("valid_from")
    a = pd.merge_asof(a.sort_values("assessed_on"), rx[["patient_id", "valid_from", "level"]],
                      by="patient_id", left_on="assessed_on", right_on="valid_from")
    a["week"] = a["day"] / 7
    a["y"] = a["leg_pain"].astype(float) - t.level * a["level"].astype(float)
    g = a.groupby("patient_id")
    dt = a["week"] - g["week"].transform("mean")
    dy = a["y"] - g["y"].transform("mean")
    slope = (dt * dy).groupby(a["patient_id"]).sum() / (dt**2).groupby(a["patient_id"]).sum()
    arm = g["schedule"].first()
    est = slope.groupby(arm).agg(["mean", "var", "count"])
    se = np.sqrt(est["var"] / est["count"])
    assert abs(est.loc["weekly", "mean"] - t.week_slope) < 4 * se["weekly"]
    truth_guided = t.week_slope + t.week_slope_diff_guided
    assert abs(est.loc["guided", "mean"] - truth_guided) < 4 * se["guided"]
    diff = est.loc["guided", "mean"] - est.loc["weekly", "mean"]
    se_diff = np.hypot(se["weekly"], se["guided"])
    assert se_diff < 0.02  # precise enough to tell -0.10 from 0
    assert abs(diff - t.week_slope_diff_guided) < 4 * se_diff, (diff, se_diff)


def test_adherence_matches_the_truth(complete):
    t = complete.truth
    ids = _settled(complete)
    weekly = _adherence(complete, ids)
    assert abs(weekly.iloc[:, :11].to_numpy().mean() - t.adherence_mean) < 0.03
    # between-patient effect: week-0 leg pain falls with the patient's mean adherence
    a0 = complete.assessments.groupby("patient_id").head(1).set_index("patient_id")
    x = weekly.mean(axis=1).reindex(a0.index).dropna()
    y = a0.loc[x.index, "leg_pain"].astype(float)
    slope, icept = np.polyfit(x, y, 1)
    resid = y - (icept + slope * x)
    se = np.sqrt(resid.var() / ((x - x.mean()) ** 2).sum())
    assert abs(slope - t.adherence_between) < 4 * se, (slope, se)
    assert se < 0.5


# ------------------------------------------------------------ truth and writing


def test_truth_holds_the_numbers_used(small):
    t = small.truth
    assert (t.intercept, t.week_slope, t.week_slope_diff_guided) == (6.5, -0.20, -0.10)
    assert (t.adherence_between, t.adherence_within, t.level) == (-2.0, -0.8, -0.10)
    assert (t.n_patients, t.seed, t.schedules) == (300, 11, ("weekly", "guided"))
    assert set(t.site_effects) == set(small.patients["site_id"])
    pairs = small.patients[["clinician_id", "site_id"]].drop_duplicates()
    assert all(t.clinician_sites[c] == s for c, s in pairs.itertuples(index=False))
    assert t.study_today == "2026-09-06"
    d = t.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert SimulationTruth.from_dict(json.loads(json.dumps(d))) == t
    tuned = simulate(20, seed=1, params={"week_slope_diff_guided": 0.0,
                                         "guided_sessions_to_advance": 3}).truth
    assert tuned.week_slope_diff_guided == 0.0 and tuned.guided_sessions_to_advance == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"n_patients": 0}, "n_patients"),
    ({"seed": -1}, "seed"),
    ({"schedules": ("weekly", "daily")}, "schedules"),
    ({"schedules": ()}, "schedules"),
    ({"start": "06/01/2025"}, "start"),
    ({"params": {"no_such": 1.0}}, "no_such"),
    ({"params": {"flare_prob": 1.5}}, "flare_prob"),
    ({"params": {"guided_sessions_to_advance": 2.5}}, "guided_sessions_to_advance"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate(**{"n_patients": 10, **kwargs})


def test_csv_layout_and_round_trip(small, schemas, tmp_path):
    out = tmp_path / "new" / "folder"
    paths = write_dataset(small, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{t}.csv" for t in TABLES] + ["truth.json"])
    assert SimulationTruth.from_dict(json.loads(paths["truth"].read_text())) == small.truth
    for name in TABLES:
        frame = getattr(small, name)
        raw = pd.read_csv(paths[name], dtype=str, keep_default_na=False)
        assert list(raw.columns) == list(frame.columns)
        assert len(raw) == len(frame)
        assert not raw.isin(["nan", "NaN", "<NA>", "NaT", "None", "True", "False"]).any().any()
        for f in schemas[name]["fields"]:
            col = f["name"]
            if col not in raw:
                continue
            text, value = raw[col], frame[col]
            assert ((text == "") == value.isna().to_numpy()).all(), col
            if f["type"] == "date":
                assert text[text != ""].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all(), col
                expected = value.dt.strftime("%Y-%m-%d").fillna("")
            elif f["type"] == "datetime":
                expected = value.dt.strftime("%Y-%m-%dT%H:%M")
            elif f["type"] == "boolean":
                expected = value.map({True: "true", False: "false"})
            elif f["type"] == "number":
                parsed = pd.to_numeric(text.replace("", np.nan))
                np.testing.assert_allclose(parsed, value.to_numpy(), equal_nan=True)
                continue
            else:
                expected = value.astype("string").fillna("")
            assert (text.to_numpy() == expected.to_numpy()).all(), col
    note = paths["sessions"].read_text(encoding="utf-8")
    assert re.search(r',"[^"]*,[^"]*"\n', note)  # a note with a comma is quoted


def test_parquet_round_trip(small, tmp_path):
    paths = write_dataset(small, tmp_path, format="parquet")
    for name in TABLES:
        back = pd.read_parquet(paths[name])
        frame = getattr(small, name)
        for col in frame.columns:
            if pd.api.types.is_datetime64_dtype(frame[col]) and col != "performed_at":
                back[col] = pd.to_datetime(back[col]).astype(frame[col].dtype)
        pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_write_is_atomic_and_overwrites(small, tmp_path):
    write_dataset(small, tmp_path)
    (tmp_path / "patients.csv").write_text("stale")
    write_dataset(small, tmp_path)
    assert (tmp_path / "patients.csv").read_text().startswith("patient_id,site_id")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    with pytest.raises(ValueError, match="format"):
        write_dataset(small, tmp_path, format="xlsx")


def test_calibrated_flags_a_small_minority_and_red_flags_stay_visible():
    from outcomes import Cohort
    from outcomes.measures.safety import patient_flag_summary

    ds = simulate(1000, seed=2026)
    c = Cohort.from_frames(**ds.frames())
    s = patient_flag_summary(c.flags, c.patient_summary["patient_id"])
    share = (s["active_flags"] > 0).mean()
    assert 0.02 < share < 0.15, share            # well under a fifth, not none
    assert 3 <= (s["red_flags"] > 0).sum() <= 40  # rare but present
    assert s.loc[s["red_flags"] > 0, "stop_and_consult"].all()
    # most red flags are referred on the day (discharge reason 'referred')
    p = ds.patients.set_index("patient_id")
    assert (p.loc[s.loc[s["red_flags"] > 0, "patient_id"], "discharge_reason"] == "referred").mean() > 0.5


def test_completers_end_with_the_program_not_an_empty_week():
    ds = simulate(300, seed=3, params=NO_DROPOUT)
    p = ds.patients[ds.patients["discharge_reason"] == "completed"]
    days = (p["discharged_on"] - p["enrolled_on"]).dt.days
    assert days.between(7 * ds.truth.program_weeks - 3, 7 * ds.truth.program_weeks - 1).all()
    last = ds.sessions.groupby("patient_id")["performed_at"].max().dt.normalize()
    gap = (p.set_index("patient_id")["discharged_on"] - last.reindex(p["patient_id"]).to_numpy()).dt.days
    assert gap.median() <= 1


def test_every_calibrated_default_names_its_figure():
    from outcomes.config import SIMULATION_FIGURES

    t = SimulationTruth()
    for name in ("session_pain_sd", "flare_prob", "flare_prob_after_level_change", "red_flag_prob",
                 "red_flag_referral_prob", "adherence_mean"):
        assert getattr(t, name) == SIMULATION_FIGURES[name].value
        assert SIMULATION_FIGURES[name].source
