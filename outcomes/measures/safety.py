"""Stop-and-consult flags: the events a clinician must see first.

The program tells patients to move gently and to stop and consult if pain
becomes severe or symptoms worsen (DOMAIN.md, "The program being measured").
The rules and their defaults (:class:`outcomes.config.SafetyThresholds`) follow
DESIGN.md §5 and DOMAIN.md "Safety":

``red_flag``
    any red-flag item recorded true at an assessment (saddle anaesthesia,
    new bladder or bowel dysfunction: possible cauda equina; progressive
    motor weakness) — urgent referral;
``sustained_worsening``
    leg pain at least ``worsening_points`` (2) above the patient's baseline at
    ``worsening_consecutive`` (2) consecutive assessments after baseline;
``severe_pain``
    in-session pain (before or after a session) of ``severe_pain`` (8) or more;
``session_flare``
    pain after − pain before of ``flare_rise`` (2) or more, or the patient
    rating the session ``worse``;
``disengagement``
    ``disengagement_days`` (7) or more days in a row without a logged session
    while enrolled (between enrolment, sessions and the end of follow-up).

Every flag is one row: patient, date, rule, priority (1 = most urgent), the
evidence as values and as words, and advice a clinician can act on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import SafetyThresholds

__all__ = ["FLAG_COLUMNS", "RULES", "stop_and_consult_flags"]

#: Rules in priority order (1 = most urgent).
RULES: dict[str, int] = {
    "red_flag": 1,
    "sustained_worsening": 2,
    "severe_pain": 3,
    "session_flare": 4,
    "disengagement": 5,
}

FLAG_COLUMNS = ["patient_id", "date", "rule", "priority", "source", "source_id", "value", "threshold",
                "evidence", "advice"]

_RED_FLAGS = {
    "rf_saddle_anaesthesia": "saddle anaesthesia",
    "rf_bladder_bowel": "new bladder or bowel dysfunction",
    "rf_progressive_weakness": "progressive leg weakness",
}


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("value", "threshold") else
                                      "datetime64[us]" if c == "date" else "int64" if c == "priority"
                                      else "str") for c in FLAG_COLUMNS})


def _frame(rule: str, patient_id, date, source: str, source_id, value, threshold, evidence,
           advice) -> pd.DataFrame:
    n = len(patient_id)
    return pd.DataFrame({
        "patient_id": np.asarray(patient_id, dtype=object),
        "date": pd.to_datetime(np.asarray(date)).astype("datetime64[us]"),
        "rule": rule,
        "priority": RULES[rule],
        "source": source,
        "source_id": np.asarray(source_id, dtype=object).astype(str) if n else [],
        "value": np.asarray(value, dtype="float64"),
        "threshold": float(threshold),
        "evidence": np.asarray(evidence, dtype=object),
        "advice": np.asarray(advice, dtype=object),
    })


def _num(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _txt(x: np.ndarray) -> np.ndarray:
    """Whole numbers as text ('7'), vectorised."""
    return np.char.mod("%d", np.nan_to_num(x).astype(np.int64)).astype(object)


def _session_flags(sessions: pd.DataFrame, t: SafetyThresholds) -> list[pd.DataFrame]:
    out = []
    s = sessions
    day = s["performed_at"].dt.normalize().to_numpy()
    before = _num(s["pain_before"]) if "pain_before" in s.columns else np.full(len(s), np.nan)
    after = _num(s["pain_after"]) if "pain_after" in s.columns else np.full(len(s), np.nan)
    sid = s["session_id"].to_numpy(dtype=object) if "session_id" in s.columns else np.arange(len(s))
    pid = s["patient_id"].to_numpy(dtype=object)

    worst = np.fmax(before, after)
    severe = worst >= t.severe_pain
    if severe.any():
        b, a = before[severe], after[severe]
        ev = ("in-session pain " + np.where(np.isnan(b), "?", _txt(b)).astype(object) + " before, "
              + np.where(np.isnan(a), "?", _txt(a)).astype(object) + " after (0-10)")
        adv = ("Severe pain (" + _txt(worst[severe]) + "/10) during a glide session: the patient should "
               "stop the glides and consult before continuing.")
        out.append(_frame("severe_pain", pid[severe], day[severe], "session", sid[severe], worst[severe],
                          t.severe_pain, ev, adv))

    rise = after - before
    worse = (s["response"].astype(object).to_numpy() == "worse") if "response" in s.columns else np.zeros(
        len(s), dtype=bool)
    flare = (rise >= t.flare_rise) | worse
    if flare.any():
        r, b, a = rise[flare], before[flare], after[flare]
        known = ~np.isnan(r)
        ev = np.where(known, "pain rose from " + _txt(b) + " to " + _txt(a) + " during the session",
                      "session rated 'worse' by the patient").astype(object)
        ev = np.where(known & worse[flare], ev + "; rated 'worse'", ev)
        adv = ("Symptoms flared during a glide session: review the level and dose before progressing; "
               "the patient should stop and consult if it happens again.")
        out.append(_frame("session_flare", pid[flare], day[flare], "session", sid[flare], r,
                          t.flare_rise, ev, adv))
    return out


def _disengagement(sessions: pd.DataFrame, patients: pd.DataFrame, t: SafetyThresholds,
                   as_of: pd.Timestamp) -> pd.DataFrame | None:
    """Runs of ≥ ``disengagement_days`` days without a session inside follow-up."""
    p = patients[["patient_id", "enrolled_on"]].copy()
    end = patients["discharged_on"] if "discharged_on" in patients.columns else pd.Series(pd.NaT, index=p.index)
    p["end"] = end.fillna(as_of).clip(upper=as_of)
    days = (pd.DataFrame({"patient_id": sessions["patient_id"].to_numpy(dtype=object),
                          "day": sessions["performed_at"].dt.normalize().to_numpy()})
            .drop_duplicates())
    # Sentinels: the day before enrolment and the day after follow-up ends bound the first and last gap.
    starts = pd.DataFrame({"patient_id": p["patient_id"].to_numpy(dtype=object),
                           "day": (p["enrolled_on"] - pd.Timedelta(days=1)).to_numpy()})
    ends = pd.DataFrame({"patient_id": p["patient_id"].to_numpy(dtype=object),
                         "day": (p["end"] + pd.Timedelta(days=1)).to_numpy()})
    allday = pd.concat([starts, days, ends], ignore_index=True)
    allday["day"] = allday["day"].astype("datetime64[us]")
    allday = allday[allday["patient_id"].isin(p["patient_id"])].sort_values(["patient_id", "day"], kind="stable")
    pid = allday["patient_id"].to_numpy(dtype=object)
    d = allday["day"].to_numpy()
    same = pid[1:] == pid[:-1]
    gap = (d[1:] - d[:-1]).astype("timedelta64[D]").astype(np.int64) - 1  # days without a session
    hit = same & (gap >= t.disengagement_days)
    if not hit.any():
        return None
    first_missing = d[:-1][hit] + np.timedelta64(1, "D")
    last_missing = d[1:][hit] - np.timedelta64(1, "D")
    g = gap[hit]
    notice = first_missing + np.timedelta64(t.disengagement_days - 1, "D")
    fmt = lambda x: np.datetime_as_string(x, unit="D").astype(object)  # noqa: E731
    ev = "no session logged from " + fmt(first_missing) + " to " + fmt(last_missing) + " (" + _txt(
        g.astype(float)) + " days)"
    adv = ("No glide session logged for " + _txt(g.astype(float)) + " days: contact the patient about "
           "barriers to the program and whether symptoms stopped them.")
    return _frame("disengagement", pid[:-1][hit], notice, "sessions", fmt(first_missing), g,
                  t.disengagement_days, ev, adv)


def _assessment_flags(assessments: pd.DataFrame, baseline: pd.DataFrame | None,
                      t: SafetyThresholds) -> list[pd.DataFrame]:
    out = []
    a = assessments
    pid = a["patient_id"].to_numpy(dtype=object)
    day = a["assessed_on"].to_numpy()
    present = [c for c in _RED_FLAGS if c in a.columns]
    if present:
        flags = np.column_stack([a[c].fillna(False).to_numpy(dtype=bool) for c in present])
        anyf = flags.any(axis=1)
        if anyf.any():
            names = np.array([_RED_FLAGS[c] for c in present], dtype=object)
            ev = np.array([", ".join(names[row]) for row in flags[anyf]], dtype=object)
            adv = ("Red flag recorded (" + ev + "): stop the glide program and refer urgently for medical "
                   "assessment (possible cauda equina syndrome or progressive neurological deficit).")
            out.append(_frame("red_flag", pid[anyf], day[anyf], "assessment", np.datetime_as_string(
                day[anyf], unit="D"), flags[anyf].sum(axis=1), 1, "red flag: " + ev, adv))
    if baseline is not None and "leg_pain" in a.columns and len(a):
        k = max(int(t.worsening_consecutive), 1)
        x = a[["patient_id", "assessed_on", "leg_pain"]].dropna(subset=["leg_pain"])
        x = x.merge(baseline[["patient_id", "baseline", "baseline_date"]], on="patient_id", how="inner")
        x = x[x["assessed_on"] > x["baseline_date"]].sort_values(["patient_id", "assessed_on"], kind="stable")
        if len(x):
            worse = (_num(x["leg_pain"]) - _num(x["baseline"])) >= t.worsening_points
            ids = x["patient_id"].to_numpy(dtype=object)
            new_patient = np.r_[True, ids[1:] != ids[:-1]]
            # run length of consecutive "worse" assessments within a patient
            breaks = np.cumsum(new_patient | ~worse)
            run = pd.Series(worse.astype(np.int64)).groupby(breaks).cumsum().to_numpy()
            hit = worse & (run == k)
            if hit.any():
                vals = _num(x["leg_pain"])
                base = _num(x["baseline"])
                dates = x["assessed_on"].to_numpy()
                idx = np.flatnonzero(hit)
                prev = np.stack([vals[idx - j] for j in range(k - 1, -1, -1)], axis=1)
                seq = np.array([", ".join(map(str, r.astype(int))) for r in prev], dtype=object)
                ev = ("leg pain " + seq + " at " + str(k) + " consecutive assessments vs baseline "
                      + _txt(base[idx]))
                adv = (f"Leg pain has stayed {t.worsening_points} or more points above baseline at {k} "
                       "assessments in a row: pause progression, review, and consult before continuing.")
                out.append(_frame("sustained_worsening", ids[idx], dates[idx], "assessment",
                                  np.datetime_as_string(dates[idx], unit="D"), vals[idx] - base[idx],
                                  t.worsening_points, ev, adv))
    return out


def stop_and_consult_flags(
    patients: pd.DataFrame,
    *,
    sessions: pd.DataFrame | None = None,
    assessments: pd.DataFrame | None = None,
    baseline: pd.DataFrame | None = None,
    thresholds: SafetyThresholds | None = None,
    as_of: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Every stop-and-consult flag, most urgent first.

    Parameters
    ----------
    patients : DataFrame
        ``patient_id``, ``enrolled_on`` and optionally ``discharged_on``.
    sessions : DataFrame, optional
        The session log (``patient_id``, ``performed_at``, ``pain_before``,
        ``pain_after``, ``response``, ``session_id``). Without it the session
        rules and disengagement are not evaluated.
    assessments : DataFrame, optional
        ``patient_id``, ``assessed_on``, ``leg_pain`` and red-flag columns.
    baseline : DataFrame, optional
        ``patient_id``, ``baseline``, ``baseline_date`` for leg pain (see
        :func:`outcomes.measures.change.select_baseline`); without it sustained
        worsening is not evaluated.
    thresholds : SafetyThresholds, optional
        The rules' thresholds (defaults from DESIGN.md §5).
    as_of : date, optional
        End of follow-up for patients still enrolled (default: the latest date
        in the sessions and assessments).

    Returns
    -------
    DataFrame
        Columns ``patient_id, date, rule, priority, source, source_id, value,
        threshold, evidence, advice``, sorted by priority, patient and date.
        ``value`` is the number the rule compared with ``threshold`` (pain,
        rise, points above baseline, days without a session, red flags
        recorded); ``evidence`` says it in words; ``advice`` is the sentence
        for the clinician.

    Notes
    -----
    Thresholds: severe pain ≥ 8/10, a rise ≥ 2 points, leg pain ≥ 2 above
    baseline at 2 consecutive assessments, 7 days without a session
    (DESIGN.md §5, following the program's advice to stop when pain is
    severe or symptoms worsen; DOMAIN.md "Safety"). Red flags follow the
    usual cauda equina and progressive-weakness referral criteria.
    """
    t = thresholds or SafetyThresholds()
    for name in ("severe_pain", "flare_rise", "worsening_points", "worsening_consecutive", "disengagement_days"):
        v = getattr(t, name)
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"thresholds.{name} must be a whole number of at least 1, not {v!r}")
    parts: list[pd.DataFrame] = []
    dates = []
    if sessions is not None and len(sessions):
        parts += _session_flags(sessions, t)
        dates.append(sessions["performed_at"].max())
    if assessments is not None and len(assessments):
        parts += _assessment_flags(assessments, baseline, t)
        dates.append(assessments["assessed_on"].max())
    if sessions is not None and len(patients):
        end = pd.Timestamp(as_of) if as_of is not None else (max(dates) if dates else None)
        if end is not None and not pd.isna(end):
            d = _disengagement(sessions if len(sessions) else sessions.iloc[:0], patients, t,
                               pd.Timestamp(end).normalize())
            if d is not None:
                parts.append(d)
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["priority", "patient_id", "date"], kind="stable", ignore_index=True)[FLAG_COLUMNS]
