"""Drawing a cohort from the generative model (`simulate`), and turning the draws into the exports.

The model is described in `outcomes.simulate`; its parameters are a `SimulationTruth`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .truth import (
    _DELTA_NO_FLARE,
    _DIAGNOSIS,
    _FLARE_NOTES,
    _LEVELS,
    _NOTES,
    _PROGRAM_DAYS,
    _REASONS,
    _RESPONSES,
    _SEX,
    _SIDE,
    _SLOTS,
    _WINDOW,
    KNOWN_SCHEDULES,
    SimulatedDataset,
    SimulationTruth,
    _make_truth,
)

__all__ = ["simulate"]


def simulate(
    n_patients: int = 200,
    *,
    seed: int = 0,
    schedules: Sequence[str] = KNOWN_SCHEDULES,
    start: str | dt.date = "2025-01-06",
    params: Mapping[str, float] | None = None,
) -> SimulatedDataset:
    """Simulate a glide-program cohort with known true effects.

    Parameters
    ----------
    n_patients : int, default 200
        Number of patients (at least 1).
    seed : int, default 0
        Seed for ``numpy.random.default_rng``; the same arguments give
        identical frames (and byte-identical files from `write_dataset`).
    schedules : sequence of str, default ('weekly', 'guided')
        Progression schedules to randomise between, 1:1; any non-empty
        subset of 'weekly' (one level per week) and 'guided' (symptom
        guided).
    start : str or datetime.date, default '2025-01-06'
        First possible enrolment date (ISO 'YYYY-MM-DD').
    params : mapping of str to number, optional
        Overrides of `SimulationTruth` model parameters by name, e.g.
        ``{"week_slope_diff_guided": 0.0}`` or ``{"dropout_alpha": -50}``
        (no dropout).

    Returns
    -------
    SimulatedDataset
        ``patients``, ``prescriptions``, ``sessions``, ``assessments`` in the
        data contract, and ``truth``.

    Notes
    -----
    The generative model is described in the module docstring. Work is
    vectorised over patients; only the 168 session slots are looped over.
    """
    truth = _make_truth(n_patients, seed, schedules, start, params)
    rng = np.random.default_rng(seed)
    n = truth.n_patients
    cohort = _draw_patients(truth, rng)
    truth = dataclasses.replace(truth, **cohort.pop("realised"))
    done = _draw_slots(truth, rng, n)
    # realised weekly adherence r_iw, its patient mean, lagged deviation
    r = done.reshape(12, 14, n).sum(axis=1) / truth.sessions_per_week
    abar = r.mean(axis=0)
    lag_dev = np.vstack([np.zeros((1, n)), r - abar])  # row w: r_(w-1) - abar
    within = truth.adherence_within * lag_dev
    z = rng.standard_normal((n, 2))
    rho = truth.corr_intercept_slope
    u0 = truth.sd_intercept * z[:, 0]
    u1 = truth.sd_slope * (rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1])
    guided = cohort["schedule"] == KNOWN_SCHEDULES.index("guided")
    base = (truth.intercept + u0 + cohort["site_effect"] + cohort["clinician_effect"]
            + truth.adherence_between * (abar - truth.adherence_centre))
    slope = truth.week_slope + truth.week_slope_diff_guided * guided + u1
    slots = _run_sessions(truth, rng, done, base, slope, within, guided)
    details = _draw_session_details(truth, rng, done, slots)
    visits = _draw_assessments(truth, rng, base, slope, within, slots["level_day"])
    end = _draw_dropout(truth, rng, cohort, visits)
    start_day = np.datetime64(truth.start, "D")
    enrolled = start_day + cohort["enrol_day"]
    ids = _codes("P", np.arange(1, n + 1), len(str(n)))
    return SimulatedDataset(
        patients=_patients_frame(truth, cohort, enrolled, ids, end),
        prescriptions=_prescriptions_frame(truth, slots["level_day"], enrolled, ids, end),
        sessions=_sessions_frame(truth, done, slots, details, enrolled, ids, end),
        assessments=_assessments_frame(visits, enrolled, ids),
        truth=truth,
    )


# ------------------------------------------------------------------ the model


def _draw_patients(truth: SimulationTruth, rng: np.random.Generator) -> dict[str, Any]:
    n, k = truth.n_patients, truth.n_sites
    site_w = rng.dirichlet(np.full(k, 4.0))
    per_site = rng.integers(2, 5, k)
    first = np.concatenate([[0], np.cumsum(per_site)[:-1]])
    site_eff = rng.normal(0.0, truth.sd_site, k)
    clin_eff = rng.normal(0.0, truth.sd_clinician, per_site.sum())
    site = rng.choice(k, n, p=site_w)
    clin = first[site] + (rng.random(n) * per_site[site]).astype(np.int64)
    site_ids = [f"S{i + 1:02d}" for i in range(k)]
    clin_ids = [f"C{i + 1:02d}" for i in range(per_site.sum())]
    clin_site = np.repeat(np.arange(k), per_site)
    realised = {
        "site_effects": dict(zip(site_ids, site_eff.tolist())),
        "clinician_effects": dict(zip(clin_ids, clin_eff.tolist())),
        "clinician_sites": {c: site_ids[s] for c, s in zip(clin_ids, clin_site)},
    }
    order = [KNOWN_SCHEDULES.index(s) for s in truth.schedules]
    return {
        "realised": realised,
        "enrol_day": np.sort(rng.integers(0, truth.enrolment_days, n)),
        "site": site, "clinician": clin, "site_ids": site_ids, "clinician_ids": clin_ids,
        "site_effect": site_eff[site], "clinician_effect": clin_eff[clin],
        "schedule": np.asarray(order)[rng.permutation(np.arange(n) % len(order))],
        "age": np.clip(np.rint(rng.normal(50, 14, n)), 18, 85).astype(np.int64),
        "sex": rng.choice(len(_SEX[0]), n, p=_SEX[1]),
        "side": rng.choice(len(_SIDE[0]), n, p=_SIDE[1]),
        "duration": np.clip(np.round(rng.lognormal(np.log(12), 1.0, n), 1), 1, 200),
        "diagnosis": rng.choice(len(_DIAGNOSIS[0]), n, p=_DIAGNOSIS[1]),
    }


def _draw_slots(truth: SimulationTruth, rng: np.random.Generator, n: int) -> np.ndarray:
    """Return done[slot, patient] (168 x n): slot j is day j // 2, j % 2 = evening."""
    m, c = truth.adherence_mean, truth.adherence_concentration
    a = rng.beta(m * c, (1 - m) * c, n)
    weekly = np.clip(a + rng.normal(0.0, truth.adherence_weekly_sd, (12, n)), 0, 1)
    return (rng.random((12, 14, n)) < weekly[:, None, :]).reshape(_SLOTS, n)


def _run_sessions(truth: SimulationTruth, rng: np.random.Generator, done: np.ndarray,
                  base: np.ndarray, slope: np.ndarray, within: np.ndarray,
                  guided: np.ndarray) -> dict[str, np.ndarray]:
    """Step through the slots, applying the progression rules to every patient."""
    n = done.shape[1]
    level = np.ones(n, np.int8)
    run = np.zeros(n, np.int32)
    since = np.full(n, 1 << 20, np.int32)  # sessions since the last level change
    level_day = np.empty((_PROGRAM_DAYS, n), np.int8)
    out = {k: np.empty((_SLOTS, n), np.int8) for k in ("level", "before", "after")}
    out["flare"] = np.empty((_SLOTS, n), bool)
    d_values, d_probs = _DELTA_NO_FLARE
    d_cum = np.cumsum(d_probs)[:-1]
    for day in range(_PROGRAM_DAYS):
        new = np.where(guided, level + ((run >= truth.guided_sessions_to_advance)
                                        & (level < truth.max_level)),
                       min(1 + day // truth.weekly_days_per_level, truth.max_level))
        changed = new != level
        level = new.astype(np.int8)
        run[changed] = 0
        since[changed] = 0
        level_day[day] = level
        mu = base + slope * (day / 7) + within[day // 7] + truth.level * level
        for j in (2 * day, 2 * day + 1):
            before = np.clip(np.rint(mu + truth.session_pain_sd * rng.standard_normal(n)), 0, 10)
            u = rng.random(n)
            p = np.where(since < truth.flare_after_level_change_sessions,
                         truth.flare_prob_after_level_change, truth.flare_prob)
            flare = u < p
            calm = np.asarray(d_values)[np.searchsorted(d_cum, (u - p) / (1 - p), "right")]
            after = np.clip(before + np.where(flare, 2 + (u < 0.3 * p), calm), 0, 10)
            ok = ~flare & (after <= truth.guided_max_pain_after)
            m = done[j]
            run = np.where(m, np.where(ok, run + 1, 0), run)
            since += m
            out["level"][j], out["before"][j], out["after"][j] = level, before, after
            out["flare"][j] = flare
    out["level_day"] = level_day
    return out


def _draw_session_details(truth: SimulationTruth, rng: np.random.Generator,
                          done: np.ndarray, slots: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Dose, time and note of every session done (patient-major), before dropout."""
    slot, pat = np.nonzero(done.T)[::-1]
    k = slot.size
    flare = slots["flare"][slot, pat]
    full_reps = truth.reps_level1 + truth.reps_per_level * (slots["level"][slot, pat] - 1)
    u = rng.random(k)
    p_stop = np.where(flare, truth.stopped_early_prob_flare, truth.stopped_early_prob)
    stopped = u < p_stop
    partial = ~stopped & (u < p_stop + 0.05)
    v = rng.random(k)
    total = truth.sets * full_reps
    reps = np.where(stopped, 1 + (v * (total - 1)).astype(np.int64),
                    total - partial * (1 + (v * (full_reps - 1)).astype(np.int64)))
    sets_done = np.where(stopped, reps // full_reps, truth.sets)
    minute = np.where(slot % 2 == 0, 390 + (rng.random(k) * 270).astype(np.int64),
                      1020 + (rng.random(k) * 300).astype(np.int64))
    w = rng.random(k)
    p_note = np.where(flare, truth.note_prob_flare, truth.note_prob)
    has_note = w < p_note
    pick = w / p_note
    note = np.where(~has_note, -1,
                    np.where(flare, len(_NOTES) + (pick * len(_FLARE_NOTES)).astype(np.int64),
                             (pick * len(_NOTES)).astype(np.int64)))
    return {"slot": slot, "patient": pat, "reps": reps, "sets": sets_done,
            "stopped": stopped, "minute": minute, "note": note}


def _draw_assessments(truth: SimulationTruth, rng: np.random.Generator, base: np.ndarray,
                      slope: np.ndarray, within: np.ndarray,
                      level_day: np.ndarray) -> dict[str, np.ndarray]:
    """All six planned visits of every patient, before dropout (n x 6)."""
    n, v = base.size, len(truth.visit_weeks)
    wk = np.asarray(truth.visit_weeks)
    day = 7 * wk + rng.integers(-_WINDOW, _WINDOW + 1, (n, v))
    day[:, 0] = rng.integers(0, _WINDOW + 1, n)
    # A visit at program end falls in the program's last days (not after it), so a completer's
    # follow-up ends with the sessions and has no short empty final week.
    at_end = 7 * wk >= _PROGRAM_DAYS
    day[:, at_end] = _PROGRAM_DAYS - 1 - (day[:, at_end] - 7 * wk[at_end] + _WINDOW) * _WINDOW // (2 * _WINDOW + 1)
    cols = np.arange(n)[:, None]
    lvl = level_day[np.minimum(day, _PROGRAM_DAYS - 1), cols]
    y = (base[:, None] + slope[:, None] * day / 7 + within[day // 7, cols]
         + truth.level * lvl + truth.sd_residual * rng.standard_normal((n, v)))
    t = truth
    odi_lat = (t.odi_offset + t.odi_per_leg_pain * y + rng.normal(0, t.odi_sd_patient, (n, 1))
               + rng.normal(0, t.odi_sd, (n, v)))
    item_offset = np.linspace(-0.3, 0.3, 10)
    items = odi_lat[..., None] / 20 + item_offset + rng.normal(0, t.odi_item_sd, (n, v, 10))
    pgic = 4 + t.pgic_per_change * (y - y[:, :1]) + rng.normal(0, t.pgic_sd, (n, v))
    out = {
        "day": day,
        "leg_pain": _score(y, 0, 10),
        "back_pain": _score(t.back_pain_per_leg_pain * y + t.back_pain_offset
                            + rng.normal(0, t.back_pain_sd, (n, v)), 0, 10),
        "numbness": _score(t.numbness_per_leg_pain * y
                           + rng.normal(t.numbness_mean, t.numbness_sd_patient, (n, 1))
                           + rng.normal(0, t.numbness_sd, (n, v)), 0, 10),
        **{f"odi_{i + 1}": _score(items[..., i], 0, 5) for i in range(10)},
        "rmdq": _score(t.rmdq_per_odi * odi_lat + rng.normal(0, t.rmdq_sd, (n, v)), 0, 24),
        "slr_deg": _score(t.slr_intercept + t.slr_per_leg_pain * y
                          + rng.normal(0, t.slr_sd, (n, v)), 30, 90).astype(float),
        "pgic": _score(pgic, 1, 7),
    }
    miss = rng.random((n, v, 15))
    for i in range(10):
        out[f"odi_{i + 1}"] = np.ma.masked_array(out[f"odi_{i + 1}"],
                                                 miss[..., i] < t.odi_item_missing_prob)
    for i, name in enumerate(("back_pain", "numbness", "rmdq", "slr_deg", "pgic")):
        gone = miss[..., 10 + i] < t.secondary_missing_prob
        if name == "pgic":
            gone[:, 0] = True  # no impression of change at baseline
        out[name] = np.ma.masked_array(out[name], gone)
    flags = rng.random((n, v, 3)) < t.red_flag_prob
    for i, name in enumerate(("rf_saddle_anaesthesia", "rf_bladder_bowel",
                              "rf_progressive_weakness")):
        out[name] = flags[..., i]
    return out


def _draw_dropout(truth: SimulationTruth, rng: np.random.Generator, cohort: dict[str, Any],
                  visits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Apply MAR dropout and study "today"; mark visits observed; return end days."""
    n = truth.n_patients
    day = visits["day"]
    today = truth.today_offset_days - cohort["enrol_day"]
    u_drop, u_day = rng.random((2, n, len(truth.visit_weeks) - 2))
    u_ref = rng.random(n)
    red = visits["rf_saddle_anaesthesia"] | visits["rf_bladder_bowel"] | visits["rf_progressive_weakness"]
    alive = np.ones(n, bool)
    referred = np.zeros(n, bool)
    drop_day = np.full(n, np.iinfo(np.int64).max)
    seen = np.zeros(day.shape, bool)
    last = day.shape[1] - 1
    for k in range(day.shape[1]):
        seen[:, k] = alive & (day[:, k] < today)
        # a red flag: referred (discharged that day) with probability red_flag_referral_prob
        refer = seen[:, k] & red[:, k] & (u_ref < truth.red_flag_referral_prob)
        drop_day = np.where(refer, day[:, k], drop_day)
        referred |= refer
        alive &= ~refer
        if 0 < k < last:
            eta = truth.dropout_alpha + truth.dropout_beta * visits["leg_pain"][:, k]
            drop = seen[:, k] & alive & (u_drop[:, k - 1] < 1 / (1 + np.exp(-eta)))
            lo = day[:, k] + 1
            hi = 7 * truth.visit_weeks[k + 1] - _WINDOW - 1
            drop_day = np.where(drop, lo + (u_day[:, k - 1] * (hi - lo + 1)).astype(np.int64), drop_day)
            alive &= ~drop
    discharge = np.where(alive, day[:, -1], drop_day)
    left = discharge < today
    visits["seen"] = seen
    return {"discharge": np.where(left, discharge, -1),
            "reason": np.where(left, np.where(alive, 0, np.where(referred, 2, 1)), -1),
            "last": np.minimum(np.where(left, discharge, today), _PROGRAM_DAYS)}


def _score(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.rint(x), lo, hi).astype(np.int64)


# ------------------------------------------------------------------- frames


def _codes(prefix: str, numbers_: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers_), pa.large_string()), width, "0")
    return pc.binary_join_element_wise(_lit(prefix), digits, _lit(""))


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _text(values: Sequence[str], index: np.ndarray) -> pd.Series:
    """A ``str`` Series of ``values[index]``; index -1 gives a missing value."""
    missing = index < 0
    idx = pa.array(index, mask=missing) if missing.any() else pa.array(index)
    return pd.Series(pa.array(values, pa.large_string()).take(idx), dtype="str")


def _ids(ids: pa.Array, index: np.ndarray) -> pd.Series:
    return pd.Series(ids.take(pa.array(index)), dtype="str")


def _int(values: np.ndarray) -> pd.arrays.IntegerArray:
    if np.ma.isMaskedArray(values):
        return pd.arrays.IntegerArray(values.data.astype(np.int64), np.ma.getmaskarray(values))
    return pd.arrays.IntegerArray(np.asarray(values, np.int64), np.zeros(len(values), bool))


def _dates(days: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(days, "datetime64[D]").astype("datetime64[us]"))


def _patients_frame(truth: SimulationTruth, c: dict[str, Any], enrolled: np.ndarray,
                    ids: pa.Array, end: dict[str, np.ndarray]) -> pd.DataFrame:
    left = end["discharge"] >= 0
    discharged = np.where(left, enrolled + end["discharge"], np.datetime64("NaT"))
    return pd.DataFrame({
        "patient_id": pd.Series(ids, dtype="str"),
        "site_id": _text(c["site_ids"], c["site"]),
        "clinician_id": _text(c["clinician_ids"], c["clinician"]),
        "enrolled_on": _dates(enrolled),
        "age_years": _int(c["age"]),
        "sex": _text(_SEX[0], c["sex"]),
        "affected_side": _text(_SIDE[0], c["side"]),
        "symptom_duration_weeks": c["duration"],
        "diagnosis": _text(_DIAGNOSIS[0], c["diagnosis"]),
        "schedule": _text(KNOWN_SCHEDULES, c["schedule"]),
        "discharged_on": _dates(discharged),
        "discharge_reason": _text(_REASONS, end["reason"]),
    })


def _prescriptions_frame(truth: SimulationTruth, level_day: np.ndarray, enrolled: np.ndarray,
                         ids: pa.Array, end: dict[str, np.ndarray]) -> pd.DataFrame:
    start = np.vstack([np.ones((1, level_day.shape[1]), bool), level_day[1:] != level_day[:-1]])
    start &= np.arange(_PROGRAM_DAYS)[:, None] < end["last"]
    pat, day = np.nonzero(start.T)
    level = level_day[day, pat].astype(np.int64)
    k = pat.size
    return pd.DataFrame({
        "patient_id": _ids(ids, pat),
        "valid_from": _dates(enrolled[pat] + day),
        "level": _int(level),
        "exercise": _text([x[0] for x in _LEVELS], level - 1),
        "sessions_per_week": _int(np.full(k, truth.sessions_per_week)),
        "sets": _int(np.full(k, truth.sets)),
        "reps": _int(truth.reps_level1 + truth.reps_per_level * (level - 1)),
    })


def _sessions_frame(truth: SimulationTruth, done: np.ndarray, slots: dict[str, np.ndarray],
                    d: dict[str, np.ndarray], enrolled: np.ndarray, ids: pa.Array,
                    end: dict[str, np.ndarray]) -> pd.DataFrame:
    keep = d["slot"] // 2 < end["last"][d["patient"]]
    slot, pat = d["slot"][keep], d["patient"][keep]
    level = slots["level"][slot, pat].astype(np.int64)
    before = slots["before"][slot, pat].astype(np.int64)
    after = slots["after"][slot, pat].astype(np.int64)
    flare = slots["flare"][slot, pat]
    at = ((enrolled[pat] + slot // 2).astype("datetime64[m]")
          + d["minute"][keep].astype("timedelta64[m]"))
    return pd.DataFrame({
        "session_id": pd.Series(_codes("X", np.arange(1, slot.size + 1), 1), dtype="str"),
        "patient_id": _ids(ids, pat),
        "performed_at": pd.Series(at.astype("datetime64[us]")),
        "exercise": _text([x[0] for x in _LEVELS], level - 1),
        "glide_type": _text([x[1] for x in _LEVELS], level - 1),
        "position": _text([x[2] for x in _LEVELS], level - 1),
        "level": _int(level),
        "sets_done": _int(d["sets"][keep]),
        "reps_done": _int(d["reps"][keep]),
        "pain_before": _int(before),
        "pain_after": _int(after),
        "response": _text(_RESPONSES, np.where(flare, 2, np.where(after < before, 0, 1))),
        "stopped_early": d["stopped"][keep],
        "note": _text(_NOTES + _FLARE_NOTES, d["note"][keep]),
    })


def _assessments_frame(v: dict[str, np.ndarray], enrolled: np.ndarray,
                       ids: pa.Array) -> pd.DataFrame:
    pat, k = np.nonzero(v["seen"])
    frame = {"patient_id": _ids(ids, pat), "assessed_on": _dates(enrolled[pat] + v["day"][pat, k])}
    for name, values in v.items():
        if name in ("day", "seen"):
            continue
        x = values[pat, k]
        if name == "slr_deg":
            frame[name] = np.ma.filled(x.astype(float), np.nan)
        elif x.dtype == bool:
            frame[name] = np.asarray(x)
        else:
            frame[name] = _int(x)
    return pd.DataFrame(frame)
