"""Stop-and-consult flags with a lifecycle: the events a clinician must see first.

The program tells patients to move gently and to stop and consult if pain
becomes severe or symptoms worsen. The rules and their defaults
(:class:`outcomes.config.SafetyThresholds`):

``red_flag``
    any red-flag item recorded true at an assessment (saddle anaesthesia,
    new bladder or bowel dysfunction: possible cauda equina; progressive
    motor weakness) — urgent referral;
``sessions_after_red_flag``
    glide sessions logged on a day after the patient's first red flag (the
    program should have stopped): a safety signal of its own, one row per
    patient, ``value`` = how many;
``sustained_worsening``
    the outcome (leg pain by default) at least ``worsening_points`` (2) worse
    than the patient's baseline, in the outcome's own direction, at
    ``worsening_consecutive`` (2) or more consecutive assessments;
``severe_pain``
    pain *during or after* a session of ``severe_pain`` (8) or more that was
    below it before the session started (pain_after ≥ 8);
``session_flare``
    pain after − pain before of ``flare_rise`` (2) or more, or the patient
    rating the session ``worse``;
``disengagement``
    ``disengagement_days`` (7) or more days in a row without a logged session
    while enrolled;
``high_pain_at_rest``
    pain already ``severe_pain`` (8) or more *before* a session started: a
    milder note (:data:`NOTE_RULES`), never a reason for STOP AND CONSULT on
    its own.

Lifecycle. Consecutive flagged records of one rule (sessions in the order they
were logged, assessments in date order) form one **episode**. An episode is
**active** when it ended within ``active_days`` (14) of the patient's latest
data, or when it has not been followed by ``resolved_after_sessions`` (3)
sessions without that flag (for the assessment rules: one later assessment
without it); otherwise it is **resolved**. A patient needs STOP AND CONSULT
when any episode of a rule outside :data:`NOTE_RULES` is active, or when any
red flag was ever recorded (:func:`patient_flag_summary`).

Every flagged record is one row of :func:`stop_and_consult_flags`: patient,
date, rule, priority (1 = most urgent), the evidence as values and as words,
advice a clinician can act on, and its ``episode`` and ``status``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..config import SafetyThresholds

__all__ = ["EPISODE_COLUMNS", "FLAG_COLUMNS", "NOTE_RULES", "RULES", "SUMMARY_COLUMNS", "flag_episodes",
           "patient_flag_summary", "stop_and_consult_flags"]

#: Rules in priority order (1 = most urgent).
RULES: dict[str, int] = {
    "red_flag": 1,
    "sessions_after_red_flag": 2,
    "sustained_worsening": 3,
    "severe_pain": 4,
    "session_flare": 5,
    "disengagement": 6,
    "high_pain_at_rest": 7,
}
#: Milder notes: shown, never a reason for STOP AND CONSULT on their own.
NOTE_RULES: frozenset[str] = frozenset({"high_pain_at_rest"})

FLAG_COLUMNS = ["patient_id", "date", "rule", "priority", "source", "source_id", "value", "threshold",
                "evidence", "advice", "episode", "status"]
EPISODE_COLUMNS = ["patient_id", "rule", "priority", "episode", "first", "last", "records", "status", "value",
                   "evidence", "advice"]
SUMMARY_COLUMNS = ["patient_id", "active_flags", "resolved_flags", "red_flags", "sessions_after_red_flag",
                   "rest_pain_notes", "stop_and_consult", "most_urgent_active"]

_RED_FLAGS = {
    "rf_saddle_anaesthesia": "saddle anaesthesia",
    "rf_bladder_bowel": "new bladder or bowel dysfunction",
    "rf_progressive_weakness": "progressive leg weakness",
}
_INTERNAL = ["_code", "_pos", "_n", "_end", "_follow", "_resolve"]


def _empty() -> pd.DataFrame:
    kinds = {"value": "float64", "threshold": "float64", "date": "datetime64[us]", "priority": "int64",
             "episode": "int64"}
    return pd.DataFrame({c: pd.Series(dtype=kinds.get(c, "str")) for c in FLAG_COLUMNS})


class _Keys:
    """Patient codes shared by every frame of one call: ``code`` = position of the patient in
    ``ids`` (sorted, so ordering by code is ordering by patient_id); a missing patient_id gets the
    last code (it sorts last, as pandas sorts missing values)."""

    def __init__(self, *columns: pd.Series | None) -> None:
        parts = []
        for col in columns:
            if col is None:
                parts.append(None)
            elif isinstance(col.dtype, pd.CategoricalDtype):
                parts.append((col.cat.codes.to_numpy(), col.cat.categories))
            else:
                parts.append(pd.factorize(col))
        uniques = [np.asarray(u, dtype=object) for p in parts if p is not None for u in [p[1]]]
        ids = (pd.Index(np.concatenate(uniques) if uniques else np.array([], dtype=object), dtype=object)
               .unique().dropna().sort_values())
        self.ids = np.r_[ids.to_numpy(dtype=object), np.array([np.nan], dtype=object)]
        self.missing = len(ids)
        self.codes = []
        for p in parts:
            if p is None:
                self.codes.append(None)
                continue
            codes, uniq = p
            where = np.r_[ids.get_indexer(pd.Index(np.asarray(uniq, dtype=object), dtype=object)),
                          self.missing].astype(np.int64)
            where[where < 0] = self.missing
            self.codes.append(where[np.where(codes >= 0, codes, len(where) - 1)])

    def patient_id(self, code: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(code, dtype=np.int64)]


def _frame(rule: str, code, date, source: str, source_id, value, threshold, evidence, advice, *,
           keys: _Keys, pos, n, resolve: int, end=None, follow=None) -> pd.DataFrame:
    k = len(code)
    date = pd.to_datetime(np.asarray(date)).astype("datetime64[us]")
    return pd.DataFrame({
        "patient_id": keys.patient_id(code),
        "date": date,
        "rule": rule,
        "priority": RULES[rule],
        "source": source,
        "source_id": np.asarray(source_id, dtype=object).astype(str) if k else [],
        "value": np.asarray(value, dtype="float64"),
        "threshold": float(threshold),
        "evidence": np.asarray(evidence, dtype=object),
        "advice": np.asarray(advice, dtype=object),
        # internal: the patient's code, position in the patient's sequence, its length, the
        # episode's end, and how many unflagged records resolve it (removed before returning)
        "_code": np.asarray(code, dtype=np.int64),
        "_pos": np.asarray(pos, dtype=np.int64),
        "_n": np.asarray(n, dtype=np.int64),
        "_end": date if end is None else pd.to_datetime(np.asarray(end)).astype("datetime64[us]"),
        "_follow": np.full(k, np.nan) if follow is None else np.asarray(follow, dtype="float64"),
        "_resolve": resolve,
    })


def _num(s: pd.Series, dtype: str = "float64") -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=dtype, na_value=np.nan)


def _pain(s: pd.Series) -> np.ndarray:
    """A score column as float32 when that is exact (whole numbers below 2**24), else float64 (NaN missing)."""
    x = pd.to_numeric(s, errors="coerce")
    if pd.api.types.is_integer_dtype(x.dtype) or pd.api.types.is_bool_dtype(x.dtype):
        lo, hi = x.min(), x.max()
        if pd.isna(lo) or (abs(lo) < 1 << 24 and abs(hi) < 1 << 24):
            return x.to_numpy(dtype="float32", na_value=np.nan)
    return x.to_numpy(dtype="float64", na_value=np.nan)


def _txt(x: np.ndarray) -> np.ndarray:
    """Whole numbers as text ('7'), vectorised."""
    return np.char.mod("%d", np.nan_to_num(x).astype(np.int64)).astype(object)


def _is(values: pd.Series, text: str) -> np.ndarray:
    """values == text as a plain bool array (missing values are False), without an object copy."""
    eq = values.eq(text)
    return eq.fillna(False).to_numpy(dtype=bool) if eq.dtype != bool else eq.to_numpy()


def _sequence(code: np.ndarray, order_key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, position within patient, records of that patient), rows sorted by patient code then key
    (stable: ties keep their row order)."""
    code = np.asarray(code)
    key = np.asarray(order_key)
    if len(code) > 1 and ((code[1:] > code[:-1]) | ((code[1:] == code[:-1]) & (key[1:] >= key[:-1]))).all():
        order = np.arange(len(code))  # already in order (a NaT key is never >=, so it sorts below)
    else:
        order = np.lexsort((key, code))
    p = code[order]
    start = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, bool)
    group = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    pos = np.arange(len(p)) - first[group]
    n = np.diff(np.r_[first, len(p)])[group]
    return order, pos, n


def _day_ints(values: pd.Series | np.ndarray) -> np.ndarray:
    """Calendar day of each timestamp as int64 days since 1970 (NaT: the int64 minimum)."""
    arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    return arr.astype("datetime64[D]").astype(np.int64)


_NAT = np.iinfo(np.int64).min


def _session_flags(sessions: pd.DataFrame, t: SafetyThresholds, code0: np.ndarray, keys: _Keys
                   ) -> list[pd.DataFrame]:
    out = []
    order, pos, n = _sequence(code0, sessions["performed_at"].to_numpy())
    identity = len(order) and order[0] == 0 and order[-1] == len(order) - 1 and bool((np.diff(order) == 1).all())

    def take(a: np.ndarray) -> np.ndarray:
        return a if identity else a[order]

    before = take(_pain(sessions["pain_before"])) if "pain_before" in sessions.columns else np.full(
        len(order), np.nan, np.float32)
    after = take(_pain(sessions["pain_after"])) if "pain_after" in sessions.columns else np.full(
        len(order), np.nan, np.float32)
    code = take(code0)
    r = t.resolved_after_sessions
    q = lambda x: np.where(np.isnan(x), "?", _txt(x)).astype(object)  # noqa: E731

    def rows(mask: np.ndarray) -> np.ndarray:
        return order[mask]

    def day(mask: np.ndarray) -> np.ndarray:
        return sessions["performed_at"].iloc[rows(mask)].dt.normalize().to_numpy()

    def sid(mask: np.ndarray) -> np.ndarray:
        return (sessions["session_id"].iloc[rows(mask)].to_numpy(dtype=object) if "session_id" in sessions.columns
                else rows(mask))

    with np.errstate(invalid="ignore"):
        rest = before >= t.severe_pain
        severe = (after >= t.severe_pain) & ~rest
    if severe.any():
        b, a = before[severe].astype(np.float64), after[severe].astype(np.float64)
        ev = "pain " + q(b) + " before the session, " + q(a) + " after (0-10)"
        adv = ("Severe pain (" + _txt(a) + "/10) during or after a glide session: the patient should "
               "stop the glides and consult before continuing.")
        out.append(_frame("severe_pain", code[severe], day(severe), "session", sid(severe), a,
                          t.severe_pain, ev, adv, keys=keys, pos=pos[severe], n=n[severe], resolve=r))
    if rest.any():
        b, a = before[rest].astype(np.float64), after[rest].astype(np.float64)
        ev = "pain " + q(b) + " before the session, " + q(a) + " after (0-10)"
        adv = ("Pain was already " + _txt(b) + "/10 before the session: check how the patient is "
               "managing and whether the dose suits them.")
        out.append(_frame("high_pain_at_rest", code[rest], day(rest), "session", sid(rest), b,
                          t.severe_pain, ev, adv, keys=keys, pos=pos[rest], n=n[rest], resolve=r))

    rise = after - before
    worse = take(_is(sessions["response"], "worse")) if "response" in sessions.columns else np.zeros(
        len(order), dtype=bool)
    with np.errstate(invalid="ignore"):
        flare = (rise >= t.flare_rise) | worse
    if flare.any():
        rf = rise[flare].astype(np.float64)
        b, a = before[flare].astype(np.float64), after[flare].astype(np.float64)
        known = ~np.isnan(rf)
        ev = np.where(known, "pain rose from " + _txt(b) + " to " + _txt(a) + " during the session",
                      "session rated 'worse' by the patient").astype(object)
        ev = np.where(known & worse[flare], ev + "; rated 'worse'", ev)
        adv = ("Symptoms flared during a glide session: review the level and dose before progressing; "
               "the patient should stop and consult if it happens again.")
        out.append(_frame("session_flare", code[flare], day(flare), "session", sid(flare), rf,
                          t.flare_rise, ev, adv, keys=keys, pos=pos[flare], n=n[flare], resolve=r))
    return out


def _disengagement(sessions: pd.DataFrame, patients: pd.DataFrame, t: SafetyThresholds,
                   as_of: pd.Timestamp, s_code: np.ndarray, p_code: np.ndarray, keys: _Keys
                   ) -> pd.DataFrame | None:
    """Runs of ≥ ``disengagement_days`` days without a session inside follow-up.

    Works on (patient code, day number) pairs packed into one int64 (code in the high 32 bits)."""
    end = patients["discharged_on"] if "discharged_on" in patients.columns else pd.Series(
        pd.NaT, index=patients.index)
    end = end.fillna(as_of).clip(upper=as_of)
    p_start = _day_ints(patients["enrolled_on"])
    p_end = _day_ints(end)
    s_day = _day_ints(sessions["performed_at"])
    known_patient = np.zeros(keys.missing + 1, bool)
    known_patient[p_code] = True
    known_patient[keys.missing] = False
    off = np.int64(1 << 31)

    def pack(code: np.ndarray, day: np.ndarray) -> np.ndarray:
        return (code.astype(np.int64) << 32) + (day + off)

    s_ok = (s_day != _NAT) & known_patient[s_code]
    s_key = pack(s_code[s_ok], s_day[s_ok])
    s_key.sort(kind="stable")  # sessions mostly arrive in order: a near-linear merge sort
    # Sentinels: the day before enrolment and the day after follow-up ends bound the first and last gap.
    p_ok = p_code != keys.missing
    has_start, has_end = p_ok & (p_start != _NAT), p_ok & (p_end != _NAT)
    sentinels = np.r_[pack(p_code[has_start], p_start[has_start] - 1), pack(p_code[has_end], p_end[has_end] + 1)]
    allday = np.r_[s_key, sentinels]
    allday.sort(kind="stable")
    allday = allday[np.r_[True, allday[1:] != allday[:-1]]] if len(allday) else allday
    code = allday >> 32
    d = (allday & np.int64(0xFFFFFFFF)) - off
    same = code[1:] == code[:-1]
    gap = d[1:] - d[:-1] - 1  # days without a session
    hit = same & (gap >= t.disengagement_days)
    del allday, same
    if not hit.any():
        return None
    hit_code = code[:-1][hit]
    first_day = d[:-1][hit] + 1
    last_day = d[1:][hit] - 1
    g = gap[hit]
    # sessions after each gap (a resumed program resolves the gap after enough sessions)
    lo = np.searchsorted(s_key, pack(hit_code, last_day), side="right")
    hi = np.searchsorted(s_key, hit_code.astype(np.int64) + 1 << 32, side="left")
    after = (hi - lo).astype(float)
    first_missing = first_day.astype("datetime64[D]").astype("datetime64[us]")
    last_missing = last_day.astype("datetime64[D]").astype("datetime64[us]")
    notice = first_missing + np.timedelta64(t.disengagement_days - 1, "D")
    fmt = lambda x: np.datetime_as_string(x, unit="D").astype(object)  # noqa: E731
    ev = "no session logged from " + fmt(first_missing) + " to " + fmt(last_missing) + " (" + _txt(
        g.astype(float)) + " days)"
    adv = ("No glide session logged for " + _txt(g.astype(float)) + " days: contact the patient about "
           "barriers to the program and whether symptoms stopped them.")
    k = len(g)
    return _frame("disengagement", hit_code, notice, "sessions", fmt(first_missing), g,
                  t.disengagement_days, ev, adv, keys=keys, pos=2 * np.arange(k), n=np.full(k, 1 << 30),
                  resolve=t.resolved_after_sessions, end=last_missing, follow=after)


def _assessment_flags(assessments: pd.DataFrame, baseline: pd.DataFrame | None, t: SafetyThresholds, *,
                      outcome: str, label: str, higher_is_better: bool, code0: np.ndarray,
                      base_code: np.ndarray | None, keys: _Keys) -> list[pd.DataFrame]:
    out = []
    order, pos, n = _sequence(code0, assessments["assessed_on"].to_numpy())
    code = code0[order]
    day = assessments["assessed_on"].to_numpy()[order]
    present = [c for c in _RED_FLAGS if c in assessments.columns]
    if present:
        flags = np.column_stack([assessments[c].astype("boolean").fillna(False).to_numpy(dtype=bool)[order]
                                 for c in present])
        anyf = flags.any(axis=1)
        if anyf.any():
            names = np.array([_RED_FLAGS[c] for c in present], dtype=object)
            ev = np.array([", ".join(names[row]) for row in flags[anyf]], dtype=object)
            adv = ("Red flag recorded (" + ev + "): stop the glide program and refer urgently for medical "
                   "assessment (possible cauda equina syndrome or progressive neurological deficit).")
            out.append(_frame("red_flag", code[anyf], day[anyf], "assessment", np.datetime_as_string(
                day[anyf], unit="D"), flags[anyf].sum(axis=1), 1, "red flag: " + ev, adv, keys=keys,
                pos=pos[anyf], n=n[anyf], resolve=1))
    if baseline is not None and outcome in assessments.columns and len(assessments):
        k = max(int(t.worsening_consecutive), 1)
        x = pd.DataFrame({"_code": code, "assessed_on": day,
                          outcome: assessments[outcome].iloc[order].reset_index(drop=True)}).dropna(subset=[outcome])
        b = pd.DataFrame({"_code": base_code, "baseline": baseline["baseline"].to_numpy(),
                          "baseline_date": baseline["baseline_date"].to_numpy()})
        x = x.merge(b, on="_code", how="inner")
        x = x[x["assessed_on"] > x["baseline_date"]]
        if len(x):
            ids0 = x["_code"].to_numpy()
            o2, p2, n2 = _sequence(ids0, x["assessed_on"].to_numpy())
            x = x.iloc[o2]
            vals, base = _num(x[outcome]), _num(x["baseline"])
            delta = vals - base
            worse = (-delta if higher_is_better else delta) >= t.worsening_points
            ids = ids0[o2]
            new_patient = np.r_[True, ids[1:] != ids[:-1]]
            # run length of consecutive "worse" assessments within a patient
            breaks = np.cumsum(new_patient | ~worse)
            run = pd.Series(worse.astype(np.int64)).groupby(breaks).cumsum().to_numpy()
            hit = worse & (run >= k)
            if hit.any():
                dates = x["assessed_on"].to_numpy()
                idx = np.flatnonzero(hit)
                prev = np.stack([vals[idx - j] for j in range(k - 1, -1, -1)], axis=1)
                seq = np.array([", ".join(f"{v:g}" for v in r) for r in prev], dtype=object)
                ev = (f"{label} " + seq + " at " + str(k) + " consecutive assessments vs baseline "
                      + np.char.mod("%g", base[idx]).astype(object))
                word = "below" if higher_is_better else "above"
                adv = (f"{label} has stayed {t.worsening_points} or more points {word} baseline at {k} "
                       "assessments in a row: pause progression, review, and consult before continuing.")
                out.append(_frame("sustained_worsening", ids[idx], dates[idx], "assessment",
                                  np.datetime_as_string(dates[idx], unit="D"), np.abs(delta[idx]),
                                  t.worsening_points, ev, adv, keys=keys, pos=p2[idx], n=n2[idx], resolve=1))
    return out


def _sessions_after_red_flag(sessions: pd.DataFrame, red: pd.DataFrame, s_code: np.ndarray,
                             keys: _Keys) -> pd.DataFrame | None:
    """One row per patient with sessions logged on a day after their first red flag."""
    first = red.groupby("_code")["date"].min()
    flagged = np.zeros(keys.missing + 1, bool)
    flagged[first.index.to_numpy()] = True
    rows = np.flatnonzero(flagged[s_code])
    if not len(rows):
        return None
    cols = ["performed_at"] + (["session_id"] if "session_id" in sessions.columns else [])
    s = sessions[cols].iloc[rows].assign(_code=s_code[rows])
    day = s["performed_at"].dt.normalize().astype("datetime64[us]")
    after = s[day.to_numpy() > s["_code"].map(first).to_numpy()]
    if not len(after):
        return None
    g = after.sort_values("performed_at", kind="stable").groupby("_code", sort=True)
    cnt, last = g.size(), g["performed_at"].max().dt.normalize()
    firstsid = g["session_id"].first().astype(str) if "session_id" in after.columns else cnt.astype(str)
    flagged = first.loc[cnt.index].dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    ev = (_txt(cnt.to_numpy(float)) + " glide sessions logged after the red flag of " + flagged + " (last on "
          + last.dt.strftime("%Y-%m-%d").to_numpy(dtype=object) + ")")
    adv = ("Sessions continued after a red flag: make sure the patient stopped the glides and was referred, "
           "and review why the program went on.")
    k = len(cnt)
    return _frame("sessions_after_red_flag", cnt.index.to_numpy(), last.to_numpy(), "sessions",
                  firstsid.to_numpy(dtype=object), cnt.to_numpy(float), 1, ev, adv, keys=keys, pos=np.zeros(k),
                  n=np.ones(k), resolve=1 << 30, follow=np.zeros(k))


def _lifecycle(out: pd.DataFrame, last_data: np.ndarray, t: SafetyThresholds) -> pd.DataFrame:
    """Number the episodes (per patient and rule) and mark each active or resolved.

    ``last_data``: the latest data day of each patient code (datetime64[us], NaT for none)."""
    out = out.sort_values(["_code", "rule", "_pos", "date"], kind="stable", ignore_index=True)
    pid, rule, pos = out["_code"].to_numpy(), out["rule"].to_numpy(dtype=object), out["_pos"].to_numpy()
    new_group = np.r_[True, (pid[1:] != pid[:-1]) | (rule[1:] != rule[:-1])]
    new_episode = new_group | np.r_[True, pos[1:] != pos[:-1] + 1]
    ep_id = np.cumsum(new_episode) - 1
    out["episode"] = (ep_id - np.maximum.accumulate(np.where(new_group, ep_id, 0))) + 1
    ep = out.groupby(ep_id).agg(start=("_pos", "min"), end=("_pos", "max"), n=("_n", "first"),
                                finished=("_end", "max"), follow=("_follow", "max"), resolve=("_resolve", "first"),
                                code=("_code", "first"))
    same_next = np.r_[new_group[1:], True]  # row is the last of its (patient, rule) group
    last_of_group = pd.Series(same_next, index=ep_id).groupby(level=0).max().to_numpy()
    next_start = np.r_[ep["start"].to_numpy()[1:], 0]
    gap = np.where(last_of_group, ep["n"].to_numpy() - ep["end"].to_numpy() - 1, next_start - ep["end"].to_numpy() - 1)
    follow = np.where(np.isnan(ep["follow"].to_numpy()), gap, ep["follow"].to_numpy())
    latest = last_data[ep["code"].to_numpy()]
    latest = np.where(pd.isna(latest), ep["finished"].to_numpy(), latest)
    latest = np.maximum(latest, ep["finished"].to_numpy())
    recent = ep["finished"].to_numpy() >= latest - np.timedelta64(int(t.active_days), "D")
    active = recent | (follow < ep["resolve"].to_numpy())
    out["status"] = np.where(active, "active", "resolved")[ep_id]
    return out


def _latest(last: np.ndarray, code: np.ndarray, stamp: np.ndarray) -> None:
    """Raise ``last[code]`` to each ``stamp`` (datetime64[us]; NaT ignored), in place."""
    v = stamp.astype("datetime64[us]").view(np.int64)
    ok = v != _NAT
    if ok.all():
        np.maximum.at(last, code, v)
    else:
        np.maximum.at(last, code[ok], v[ok])


def _normalized(stamps: pd.Series) -> np.ndarray:
    """The calendar day of each timestamp, as datetime64[us] at midnight (``dt.normalize``)."""
    if stamps.dtype.kind == "M":  # naive: whole days by integer arithmetic, no intermediate Series
        return stamps.to_numpy().astype("datetime64[D]").astype("datetime64[us]")
    return stamps.dt.normalize().to_numpy().astype("datetime64[us]")


def stop_and_consult_flags(
    patients: pd.DataFrame,
    *,
    sessions: pd.DataFrame | None = None,
    assessments: pd.DataFrame | None = None,
    baseline: pd.DataFrame | None = None,
    thresholds: SafetyThresholds | None = None,
    as_of: pd.Timestamp | str | None = None,
    outcome: str = "leg_pain",
    outcome_label: str | None = None,
    higher_is_better: bool = False,
) -> pd.DataFrame:
    """Every stop-and-consult flag with its episode and status, most urgent first.

    Parameters
    ----------
    patients : DataFrame
        ``patient_id``, ``enrolled_on`` and optionally ``discharged_on``.
    sessions : DataFrame, optional
        The session log (``patient_id``, ``performed_at``, ``pain_before``,
        ``pain_after``, ``response``, ``session_id``). Without it the session
        rules, disengagement and sessions after a red flag are not evaluated.
    assessments : DataFrame, optional
        ``patient_id``, ``assessed_on``, the outcome and red-flag columns.
    baseline : DataFrame, optional
        ``patient_id``, ``baseline``, ``baseline_date`` of ``outcome`` (see
        :func:`outcomes.measures.change.select_baseline`); without it sustained
        worsening is not evaluated.
    thresholds : SafetyThresholds, optional
        The rules' thresholds and the lifecycle (defaults in
        :class:`outcomes.config.SafetyThresholds`).
    as_of : date, optional
        End of follow-up for patients still enrolled (default: the latest date
        in the sessions and assessments).
    outcome, outcome_label, higher_is_better : optional
        The outcome whose sustained worsening is flagged (default leg pain,
        where higher is worse), its label in the evidence, and its direction.

    Returns
    -------
    DataFrame
        Columns ``patient_id, date, rule, priority, source, source_id, value,
        threshold, evidence, advice, episode, status``, sorted by priority,
        patient and date. ``value`` is the number the rule compared with
        ``threshold`` (pain, rise, points worse than baseline, days without a
        session, red flags recorded, sessions after a red flag); ``episode``
        numbers the episodes of one rule per patient from 1; ``status`` is
        ``active`` or ``resolved`` (see the module docstring).

    Notes
    -----
    Thresholds: severe pain ≥ 8/10, a rise ≥ 2 points (the NRS minimal
    important change, Farrar et al. 2001, Pain 94:149, applied to worsening),
    2 consecutive assessments 2 points worse than baseline, 7 days without a
    session, following the program's advice to stop when pain is severe or
    symptoms worsen. Red flags follow the usual cauda equina and
    progressive-weakness referral criteria. Episodes are active within 14 days
    of the patient's latest data or until followed by 3 unflagged sessions
    (local choices, options of :class:`~outcomes.config.SafetyThresholds`).
    """
    t = thresholds or SafetyThresholds()
    for name in ("severe_pain", "flare_rise", "worsening_points", "worsening_consecutive", "disengagement_days",
                 "active_days", "resolved_after_sessions"):
        v = getattr(t, name)
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < (0 if name == "active_days" else 1):
            raise ValueError(f"thresholds.{name} must be a whole number of at least 1, not {v!r}")
    label = outcome_label or outcome.replace("_", " ").capitalize()
    keys = _Keys(patients["patient_id"],
                 None if sessions is None else sessions["patient_id"],
                 None if assessments is None else assessments["patient_id"],
                 None if baseline is None else baseline["patient_id"])
    p_code, s_code, a_code, b_code = keys.codes
    parts: list[pd.DataFrame] = []
    dates = []
    last = np.full(keys.missing + 1, _NAT, dtype=np.int64)
    if sessions is not None and len(sessions):
        parts += _session_flags(sessions, t, s_code, keys)
        dates.append(sessions["performed_at"].max())
        _latest(last, s_code, _normalized(sessions["performed_at"]))
    if assessments is not None and len(assessments):
        parts += _assessment_flags(assessments, baseline, t, outcome=outcome, label=label,
                                   higher_is_better=higher_is_better, code0=a_code, base_code=b_code, keys=keys)
        dates.append(assessments["assessed_on"].max())
        _latest(last, a_code, assessments["assessed_on"].to_numpy())
    last[keys.missing] = _NAT  # rows without a patient code have no latest data of their own
    if sessions is not None and len(patients):
        end = pd.Timestamp(as_of) if as_of is not None else (max(dates) if dates else None)
        if end is not None and not pd.isna(end):
            d = _disengagement(sessions if len(sessions) else sessions.iloc[:0], patients, t,
                               pd.Timestamp(end).normalize(), s_code, p_code, keys)
            if d is not None:
                parts.append(d)
    red = [p for p in parts if len(p) and p["rule"].iloc[0] == "red_flag"]
    if red and sessions is not None and len(sessions):
        s = _sessions_after_red_flag(sessions, red[0], s_code, keys)
        if s is not None:
            parts.append(s)
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    del parts, red
    out = _lifecycle(out, last.view("datetime64[us]"), t)
    out["episode"] = out["episode"].astype("int64")
    out = out.sort_values(["priority", "_code", "date"], kind="stable", ignore_index=True)
    return out[FLAG_COLUMNS]


def flag_episodes(flags: pd.DataFrame) -> pd.DataFrame:
    """One row per episode: who, which rule, when, how many records, active or resolved.

    Parameters
    ----------
    flags : DataFrame
        Output of :func:`stop_and_consult_flags`.

    Returns
    -------
    DataFrame
        ``patient_id, rule, priority, episode, first, last, records, status,
        value`` (the largest value in the episode), ``evidence`` and ``advice``
        (of its latest record), sorted by status (active first), priority,
        patient and first date.
    """
    return _episodes(flags, text=True)


def _episodes(flags: pd.DataFrame, *, text: bool) -> pd.DataFrame:
    """`flag_episodes`; without ``text`` the evidence and advice are left out (and never copied)."""
    columns = EPISODE_COLUMNS if text else [c for c in EPISODE_COLUMNS if c not in ("evidence", "advice")]
    if not len(flags):
        return pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
    used = ["patient_id", "rule", "episode", "priority", "date", "status", "value"] + (
        ["evidence", "advice"] if text else [])
    f = flags[used].sort_values("date", kind="stable")
    g = f.groupby(["patient_id", "rule", "episode"], sort=False)
    how = dict(priority=("priority", "first"), first=("date", "min"), last=("date", "max"),
               records=("date", "size"), status=("status", "first"), value=("value", "max"))
    if text:
        how.update(evidence=("evidence", "last"), advice=("advice", "last"))
    out = g.agg(**how).reset_index()
    out["_a"] = out["status"] != "active"
    out = out.sort_values(["_a", "priority", "patient_id", "first"], kind="stable", ignore_index=True)
    return out[columns]


def patient_flag_summary(flags: pd.DataFrame, patient_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Per patient: active and resolved episodes, red flags, sessions after a red flag, STOP AND CONSULT.

    Parameters
    ----------
    flags : DataFrame
        Output of :func:`stop_and_consult_flags`.
    patient_ids : iterable of str, optional
        Patients to list (those without flags get zeros); default those in ``flags``.

    Returns
    -------
    DataFrame
        ``patient_id``; ``active_flags`` and ``resolved_flags`` (episodes of the
        stop-and-consult rules, notes excluded); ``red_flags`` (assessments with
        a red flag); ``sessions_after_red_flag``; ``rest_pain_notes`` (episodes
        of high pain at rest); ``stop_and_consult`` (an active episode or any red
        flag); ``most_urgent_active`` (the rule, or empty).
    """
    ids = list(dict.fromkeys(patient_ids if patient_ids is not None else flags["patient_id"]))
    out = pd.DataFrame({"patient_id": pd.Series(ids, dtype=object)})
    if len(flags):
        ep = _episodes(flags, text=False)
        serious = ep[~ep["rule"].isin(NOTE_RULES)]
        act = serious[serious["status"] == "active"]
        counts = {
            "active_flags": act.groupby("patient_id").size(),
            "resolved_flags": serious[serious["status"] == "resolved"].groupby("patient_id").size(),
            "red_flags": flags[flags["rule"] == "red_flag"].groupby("patient_id").size(),
            "sessions_after_red_flag": flags[flags["rule"] == "sessions_after_red_flag"].groupby("patient_id")[
                "value"].sum(),
            "rest_pain_notes": ep[ep["rule"].isin(NOTE_RULES)].groupby("patient_id").size(),
        }
        for name, c in counts.items():
            out[name] = out["patient_id"].map(c).fillna(0).astype("int64")
        urgent = act.sort_values("priority", kind="stable").groupby("patient_id")["rule"].first()
        out["most_urgent_active"] = out["patient_id"].map(urgent).astype(object).fillna("")
    else:
        for name in ("active_flags", "resolved_flags", "red_flags", "sessions_after_red_flag", "rest_pain_notes"):
            out[name] = np.zeros(len(out), dtype="int64")
        out["most_urgent_active"] = ""
    out["stop_and_consult"] = (out["active_flags"] > 0) | (out["red_flags"] > 0)
    return out[SUMMARY_COLUMNS]
