"""The cohort: validated exports linked into the tables every model and report uses.

:class:`Cohort` takes accepted rows (from :func:`outcomes.load_dataset` or
frames already in the contract) and derives, with the pure functions of
:mod:`outcomes.measures`:

``assessments``
    scored instruments per assessment (ODI from its sections, PGIC responder,
    any red flag), with ``week`` (exact) and ``week_index``;
``patient_week``
    one row per patient and program week of follow-up: sessions done and
    prescribed, adherence and dose adherence (raw and capped), level, flares,
    and each outcome where assessed that week;
``changes``
    one row per patient and outcome: baseline, latest, endpoint, change,
    percent change, responder, reliable change;
``patient_summary``
    one row per patient: status, the changes above in wide form, overall
    adherence, highest level, progression fidelity and flags;
``flags``
    every stop-and-consult flag with evidence and advice (the columns of
    :func:`~outcomes.measures.safety.stop_and_consult_flags`; its repeated text, ``rule``,
    ``source``, ``evidence``, ``advice`` and ``status``, as categories);
``deviations``
    each level change that did not follow the patient's declared schedule.

What the cohort leaves out, and why, is in :attr:`Cohort.excluded` (rows) and
:attr:`Cohort.remarks` (sentences).

Memory: the session measures run on blocks of whole patients (about two million sessions
each), so a build needs the frames, the tables it returns and one block's working memory.
Categorical codes and small integer columns (as a memory-lean loader returns them) are used
as they come and give the same numbers as text and int64 columns.

Columns
-------
``patient_week`` (one row per patient and program week ``week`` = days since
enrolment // 7, from 0 to the week of the last day of follow-up):
``patient_id, week, week_start, days_enrolled, sessions_done,
sessions_prescribed, adherence, adherence_capped, reps_done, reps_prescribed,
dose_adherence, dose_adherence_capped, prescription_source`` (see
:func:`outcomes.measures.adherence.weekly_adherence`), ``level`` (highest level
done that week, carried forward over weeks without sessions), ``flares``
(sessions that week with pain rising by ``flare_rise`` or rated worse), and,
where an assessment fell in the week (the last one), ``assessed_on,
leg_pain, back_pain, numbness, odi, rmdq, slr_deg, pgic``. Without a sessions
export only ``patient_id, week, week_start`` and the outcomes.

``patient_summary`` (one row per patient): ``patient_id, site_id,
clinician_id, schedule, enrolled_on, discharged_on, status`` (active,
completed, dropped_out, referred, other), ``age_years, sex,
symptom_duration_weeks``; for each outcome ``o`` present:
``o_baseline, o_latest, o_endpoint, o_change, o_pct_change, o_responder,
o_rc, o_rc_class`` (see :func:`outcomes.measures.change.outcome_changes`);
with sessions: ``adherence, adherence_capped, dose_adherence,
dose_adherence_capped, prescription_source, highest_level,
highest_level_on, fidelity_followed, fidelity_deviations``; always
``n_flags, most_urgent`` (priority 1-5 of the most urgent flag, see
:data:`outcomes.measures.safety.RULES`) and ``flag_rules``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from .config import DEFAULT_OPTIONS, Options
from .io.dataset import Dataset, load_dataset
from .io.description import TimeAxis
from .measures.adherence import overall_adherence, weekly_adherence
from .measures.change import outcome_changes, select_baseline
from .measures.instruments import BUILTIN_OUTCOMES, OutcomeRegistry, score_assessments
from .measures.progression import highest_level, load_schedules, progression_fidelity
from .measures.safety import stop_and_consult_flags
from .progress import status

__all__ = ["Cohort", "OUTCOMES"]

#: Built-in outcomes summarised per patient (each where its column exists): those with a
#: published responder rule. A cohort summarises these and every declared outcome of
#: :attr:`Cohort.outcomes` (the one vocabulary of outcome names, labels and directions).
OUTCOMES: tuple[str, ...] = tuple(n for n in BUILTIN_OUTCOMES.names if n in DEFAULT_OPTIONS.instruments)

_STATUS = {"completed": "completed", "dropped_out": "dropped_out", "referred": "referred", "other": "other"}


@dataclass
class Cohort:
    """Linked, derived tables for one dataset. Build with :meth:`from_folder`,
    :meth:`from_dataset` or :meth:`from_frames`; every frame has a fresh RangeIndex."""

    patients: pd.DataFrame
    assessments: pd.DataFrame
    sessions: pd.DataFrame | None
    prescriptions: pd.DataFrame | None
    patient_week: pd.DataFrame
    changes: pd.DataFrame
    patient_summary: pd.DataFrame
    flags: pd.DataFrame
    deviations: pd.DataFrame
    excluded: pd.DataFrame
    as_of: pd.Timestamp
    options: Options = field(default_factory=lambda: DEFAULT_OPTIONS)
    remarks: list[str] = field(default_factory=list)
    #: Where the data came from (input hashes, package version, options, time); reports print it.
    provenance: dict[str, Any] = field(default_factory=dict)
    #: The outcomes of this cohort's data: built-ins and declared, with label, range and direction.
    outcomes: OutcomeRegistry = BUILTIN_OUTCOMES
    #: The dataset's time axis; with a unit other than "date", ``assessments`` carries ``time`` in
    #: that unit and ``week`` derived from it, and the dates are nominal (see `outcomes.io.layouts`).
    time: TimeAxis = field(default_factory=TimeAxis)
    #: Declared covariates: patients column → "numeric" or "categorical" (models read their type here).
    covariates: dict[str, str] = field(default_factory=dict)

    @property
    def summarised(self) -> tuple[str, ...]:
        """Outcomes with a per-patient change summary (in :attr:`changes`), in registry order."""
        return tuple(o for o in self.outcomes.names if o in set(self.changes["outcome"]))

    # ------------------------------------------------------------------ builders

    @classmethod
    def from_folder(cls, path: str | os.PathLike[str], *, options: Options | None = None,
                    **load_options: Any) -> "Cohort":
        """Validate the exports in ``path`` (see :func:`outcomes.load_dataset`) and build the cohort."""
        return cls.from_dataset(load_dataset(path, **load_options), options=options)

    @classmethod
    def from_dataset(cls, dataset: Dataset, *, options: Options | None = None) -> "Cohort":
        """Build from a validated dataset: only accepted rows enter; quarantined rows are counted
        in :attr:`excluded`."""
        frames = dataset.frames()
        if frames.get("patients") is None or frames.get("assessments") is None:
            from .io.errors import UsageError

            missing = [n for n in ("patients", "assessments") if frames.get(n) is None]
            raise UsageError(
                f"Cannot build a cohort: the {' and '.join(missing)} export could not be used "
                f"(see `outcomes validate {dataset.folder}`)."
            )
        excluded = [
            {"table": name, "rows": r.quarantined, "reason": "quarantined by validation"}
            for name, r in dataset.exports.items() if r.quarantined
        ] + [
            {"table": name, "rows": r.rows_read, "reason": "file rejected by validation"}
            for name, r in dataset.exports.items() if r.status == "rejected" and r.rows_read
        ]
        cohort = cls.from_frames(
            frames["patients"], frames["assessments"], sessions=frames.get("sessions"),
            prescriptions=frames.get("prescriptions"), options=options,
            outcomes=getattr(dataset, "outcomes", None), time=getattr(dataset, "time", None),
            covariates=getattr(dataset, "covariates", None),
        )
        if excluded:
            cohort.excluded = pd.concat([pd.DataFrame(excluded), cohort.excluded], ignore_index=True)
        cohort.provenance = {**dataset.provenance(), "dataset": str(dataset.folder)}
        return cohort

    @classmethod
    def from_frames(cls, patients: pd.DataFrame, assessments: pd.DataFrame, *,
                    sessions: pd.DataFrame | None = None, prescriptions: pd.DataFrame | None = None,
                    options: Options | None = None, schedules: dict | None = None,
                    as_of: pd.Timestamp | str | None = None, outcomes: OutcomeRegistry | None = None,
                    time: TimeAxis | None = None, covariates: dict[str, str] | None = None) -> "Cohort":
        """Build from frames in the contract (typed as :func:`outcomes.load_dataset` returns them).

        ``outcomes`` (default the built-ins) adds declared outcomes: each is scored and
        range-checked, and summarised like a built-in (its responder rule is "improved by at
        least its mcid", none without one). With a ``time`` unit other than "date", the
        assessments need ``time``; ``week`` is derived from it, and the baseline is the
        assessment at time 0 or before (``baseline_window_days`` = 0)."""
        status(f"building the cohort of {len(patients):,} patients"
               + (f" and {len(sessions):,} sessions" if sessions is not None else "")
               + " (scores, weeks, adherence, flags, progression)")
        registry = outcomes if outcomes is not None else BUILTIN_OUTCOMES
        axis = time if time is not None else TimeAxis()
        opts = options or DEFAULT_OPTIONS
        opts = dataclasses.replace(opts, instruments=registry.instruments(opts.instruments))
        remarks: list[str] = []
        if not axis.dated:
            if "time" not in assessments.columns:
                raise ValueError(f"time unit {axis.unit!r} needs a 'time' column in the assessments")
            opts = dataclasses.replace(opts, baseline_window_days=0)
            remarks.append(
                f"Time is in {axis.unit}s since enrolment; the baseline is the assessment at time 0 (or before), "
                + ("and week is the visit number (a visit counts as one week)." if axis.unit == "visit" else
                   f"and week = time × {axis.days:g} days / 7.")
                + " Dates shown are nominal (day 0 = enrolment).")
        excluded: list[dict[str, Any]] = []
        patients = _typed_covariates(patients.reset_index(drop=True).copy(), covariates or {})
        keys = _PatientKeys(patients)
        assessments, n_orphans, a_code = keys.only_known(assessments)
        if n_orphans:
            excluded.append({"table": "assessments", "rows": n_orphans, "reason": "patient not in patients"})
        s_code = r_code = None
        if sessions is not None:
            sessions, n_orphans, s_code = keys.only_known(sessions)
            if n_orphans:
                excluded.append({"table": "sessions", "rows": n_orphans, "reason": "patient not in patients"})
        if prescriptions is not None:
            prescriptions, n_orphans, r_code = keys.only_known(prescriptions)
            if n_orphans:
                excluded.append({"table": "prescriptions", "rows": n_orphans, "reason": "patient not in patients"})

        dates = [assessments["assessed_on"].max()]
        if sessions is not None and len(sessions):
            dates.append(sessions["performed_at"].max().normalize())
        stamp = pd.Timestamp(as_of) if as_of is not None else max(d for d in dates if not pd.isna(d))
        stamp = stamp.normalize()

        patients["status"] = _status(patients)
        scored = _with_scores(assessments, score_assessments(assessments, options=opts))
        scored = _add_weeks(scored, patients, "assessed_on", exact=not axis.dated)

        if sessions is None:
            remarks.append("No sessions export: adherence, progression, session flags, disengagement and "
                           "flare rates are not reported.")
            week = _assessment_weeks(scored, patients, stamp)
            overall = None
            levels = None
            fidelity, deviations = None, pd.DataFrame(
                columns=["patient_id", "date", "from_level", "to_level", "expected_level", "kind", "reason"])
        else:
            if prescriptions is None:
                remarks.append(f"No prescriptions export: adherence is measured against the schedule default "
                               f"of {opts.default_sessions_per_week} sessions a week "
                               f"({opts.default_sets} × {opts.default_reps} repetitions).")
            schedules = schedules if schedules is not None else load_schedules()
            baseline = (select_baseline(scored, patients, outcome="leg_pain", window_days=opts.baseline_window_days)
                        if "leg_pain" in _summarised(scored, registry, opts) else None)
            week, overall, levels, fidelity, deviations, flags = _by_patient_blocks(
                keys, patients, sessions, s_code, prescriptions, r_code, scored, a_code, baseline,
                schedules=schedules, stamp=stamp, opts=opts)
            s_code = r_code = a_code = None  # a code per session: let it go before the wide tables
            unknown = sorted(set(pd.unique(patients["schedule"])) - set(schedules))
            if unknown:
                remarks.append("No schedule file for " + ", ".join(repr(u) for u in unknown)
                               + ": progression fidelity is not assessed for those patients.")
        week = _add_outcomes_by_week(week, scored, registry)

        outcomes = list(_summarised(scored, registry, opts))
        changes = outcome_changes(scored, patients, outcomes=tuple(outcomes), options=opts)
        no_rule = [o for o in outcomes if o in registry.declared and registry[o].mcid is None]
        if no_rule:
            remarks.append("No mcid declared for " + ", ".join(registry.label(o) for o in no_rule)
                           + ": responder status is not classified for it (declare mcid, or give a plan "
                             "responder definition).")
        if sessions is None:
            baseline = None
            if "leg_pain" in outcomes:
                baseline = select_baseline(scored, patients, outcome="leg_pain",
                                           window_days=opts.baseline_window_days)
            flags = _repeated_text_as_categories(stop_and_consult_flags(
                patients, sessions=None, assessments=scored, baseline=baseline, thresholds=opts.safety, as_of=stamp))
        summary = _summary(patients, changes, overall, levels, fidelity, flags, covariates=covariates or {})
        no_baseline = summary[[f"{o}_baseline" for o in outcomes]].isna().all(axis=1).sum() if outcomes else 0
        if no_baseline:
            remarks.append(f"{no_baseline} patient(s) have no baseline assessment (on or before enrolment + "
                           f"{opts.baseline_window_days} days): their change and responder status are missing.")
        return cls(
            patients=patients, assessments=scored, sessions=None if sessions is None else sessions.reset_index(drop=True),
            prescriptions=None if prescriptions is None else prescriptions.reset_index(drop=True),
            patient_week=week, changes=changes, patient_summary=summary, flags=flags, deviations=deviations,
            excluded=pd.DataFrame(excluded, columns=["table", "rows", "reason"]), as_of=stamp, options=opts,
            remarks=remarks, provenance=_frames_provenance(), outcomes=registry, time=axis,
            covariates=dict(covariates or {}),
        )

    # ------------------------------------------------------------------ reading

    def __repr__(self) -> str:
        return (f"Cohort({len(self.patients)} patients, {len(self.assessments)} assessments, "
                f"{0 if self.sessions is None else len(self.sessions)} sessions, {len(self.flags)} flags, "
                f"as of {self.as_of.date()})")

    def summary(self) -> str:
        """A few lines for the terminal: patients by status, responders, adherence, flags."""
        s = self.patient_summary
        n = len(s)
        status = ("(" + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in s["status"].value_counts().items()) + ")"
                  if "discharged_on" in self.patients.columns else "(no discharge data: who dropped out is not known)")
        when = f"as of {self.as_of.date()}" if self.time.dated else f"time in {self.time.unit}s"
        lines = [f"Cohort {when}: {n} patients {status}"]
        if "leg_pain_responder" in s.columns and s["leg_pain_responder"].notna().any():
            resp = s["leg_pain_responder"]
            k, m = int(resp.fillna(False).sum()), int(resp.notna().sum())
            rule = self.options.instruments["leg_pain"].responder
            how = " and " if rule.combine == "all" else " or "
            words = how.join(w for w in (f"≥ {rule.points:g} points" if rule.points else "",
                                          f"≥ {rule.percent:g} %" if rule.percent else "") if w)
            lines.append(f"Leg-pain responders at week {self.options.endpoint_week} (improved {words}): "
                         f"{k} of {m} assessed "
                         f"({k / m:.0%}); {k} of {n} counting the missing as non-responders ({k / n:.0%})"
                         if m else "Leg-pain responders: no patient has both a baseline and an endpoint.")
        if "adherence" in s.columns and s["adherence"].notna().any():
            lines.append(f"Adherence (sessions done ÷ prescribed): median {s['adherence'].median():.0%}, "
                         f"interquartile range {s['adherence'].quantile(.25):.0%}–{s['adherence'].quantile(.75):.0%}")
        if len(self.flags):
            from .measures.safety import patient_flag_summary

            safe = patient_flag_summary(self.flags, s["patient_id"])
            act = self.flags[self.flags["status"] == "active"].sort_values("priority").groupby(
                "rule", sort=False)["patient_id"].nunique()
            lines.append(f"STOP AND CONSULT: {int(safe['stop_and_consult'].sum())} of {n} patients (an active flag "
                         "or a red flag)" + ("; patients with an active episode: " + ", ".join(
                             f"{r.replace('_', ' ')}{' (a note)' if r == 'high_pain_at_rest' else ''} {v}"
                             for r, v in act.items()) if len(act) else ""))
        else:
            lines.append("Stop-and-consult flags: none")
        lines += [f"Note: {r}" for r in self.remarks]
        return "\n".join(lines)


# ---------------------------------------------------------------------- helpers


def _typed_covariates(patients: pd.DataFrame, covariates: dict[str, str]) -> pd.DataFrame:
    """Declared covariates typed for the models' formulas: "numeric" as float64 (one term),
    "categorical" as text (dummies), whatever the column held (codes 1/2/3 stay categories)."""
    for c, kind in covariates.items():
        if c not in patients.columns:
            continue
        s = patients[c]
        if kind == "numeric":
            patients[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            text = s.astype(object).map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v),
                                        na_action="ignore")
            patients[c] = text.where(s.notna(), None)
    return patients


def _frames_provenance() -> dict[str, Any]:
    from ._version import __version__

    return {"package": "outcomes", "version": __version__, "inputs": {}, "dataset": "(frames)",
            "created": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}


#: Sessions per block of patients in :meth:`Cohort.from_frames`: the session measures (adherence,
#: levels, fidelity, flags) run on one block of whole patients at a time, so their working memory is
#: bounded by the block, not the cohort. The results do not depend on it (tests/test_cohort.py).
_BLOCK_SESSIONS = 2_000_000


def _summarised(scored: pd.DataFrame, registry: OutcomeRegistry, opts: Options) -> tuple[str, ...]:
    """Outcomes with a per-patient change summary: in the options' instruments, present and not all missing."""
    return tuple(o for o in registry.names
                 if o in opts.instruments and o in scored.columns and scored[o].notna().any())


class _PatientKeys:
    """Each row's patient as a position in the patients sorted by code (-1: not a patient).

    Integer codes are found once per frame (from the category codes when ``patient_id`` is
    categorical) and reused to drop unknown patients and to cut the frames into blocks of patients."""

    def __init__(self, patients: pd.DataFrame) -> None:
        ids = patients["patient_id"]
        #: codes are usable for blocks only when the patient codes are unique and present (otherwise the
        #: measures raise their own errors on the whole frames)
        self.clean = bool(ids.notna().all() and ids.is_unique)
        self.order = np.argsort(ids.to_numpy(), kind="stable") if self.clean else None
        self.index = pd.Index(ids.iloc[self.order]) if self.clean else None
        self.known = None if self.clean else set(ids)

    def codes(self, values: pd.Series) -> np.ndarray:
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
        else:
            codes, uniques = pd.factorize(values)
        # int32 while the patients fit (half the memory of a code per session)
        small = np.int32 if len(self.index) < 2**31 - 1 else np.int64
        where = np.r_[self.index.get_indexer(uniques), -1].astype(small)
        return where[np.where(codes >= 0, codes, len(where) - 1)]

    def only_known(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, int, np.ndarray | None]:
        """The rows of known patients (fresh RangeIndex), how many were dropped, and their codes."""
        if not self.clean:
            keep = frame["patient_id"].isin(self.known).to_numpy()
            return frame.loc[keep].reset_index(drop=True), int((~keep).sum()), None
        code = self.codes(frame["patient_id"])
        keep = code >= 0
        n_out = int((~keep).sum())
        if not n_out:
            return frame.reset_index(drop=True), 0, code
        return frame.loc[keep].reset_index(drop=True), n_out, code[keep]


class _Rows:
    """The rows of one frame for a range of patient codes (a slice when the frame is sorted by patient)."""

    def __init__(self, frame: pd.DataFrame | None, code: np.ndarray | None, n: int) -> None:
        self.frame = frame
        if frame is None:
            return
        ordered = bool(len(code) < 2 or (code[1:] >= code[:-1]).all())
        self.order = None if ordered else np.argsort(code, kind="stable")
        self.bounds = np.searchsorted(code if ordered else code[self.order], np.arange(n + 1))

    def __call__(self, lo: int, hi: int) -> pd.DataFrame | None:
        if self.frame is None:
            return None
        a, b = self.bounds[lo], self.bounds[hi]
        if self.order is None:
            return self.frame.iloc[a:b]
        return self.frame.iloc[self.order[a:b]]


def _used_categories(frame: pd.DataFrame | None) -> tuple[pd.DataFrame | None, tuple | None]:
    """``frame`` with a categorical ``patient_id`` cut to the categories its rows use (an integer recode),
    and what `_all_categories` needs to undo it (None when nothing was cut)."""
    if frame is None or not isinstance(frame["patient_id"].dtype, pd.CategoricalDtype):
        return frame, None
    col = frame["patient_id"]
    codes = col.cat.codes.to_numpy()
    used = np.unique(codes[codes >= 0])
    if len(used) == len(col.cat.categories):
        return frame, None
    cut = pd.Categorical.from_codes(np.where(codes >= 0, np.searchsorted(used, codes), -1),
                                    categories=col.cat.categories.take(used), ordered=col.cat.ordered)
    out = frame.assign(patient_id=cut)
    return out, (out["patient_id"].dtype, used, col.dtype)


def _all_categories(frame: pd.DataFrame, cut: tuple | None) -> pd.DataFrame:
    """Undo `_used_categories` on a result's categorical ``patient_id`` taken from the cut frame."""
    if cut is None or "patient_id" not in frame.columns or frame["patient_id"].dtype != cut[0]:
        return frame
    _, used, full = cut
    codes = frame["patient_id"].cat.codes.to_numpy()
    back = pd.Categorical.from_codes(np.where(codes >= 0, used[np.maximum(codes, 0)], -1), dtype=full)
    return frame.assign(patient_id=back)


#: Flag columns whose few texts repeat over many rows (rules, sources, templated evidence and advice, status):
#: held as categories, a quarter of the memory (a million patients have about 11 million flags).
_FLAG_CATEGORIES = ("rule", "source", "evidence", "advice", "status")


def _repeated_text_as_categories(flags: pd.DataFrame) -> pd.DataFrame:
    """``flags`` with its repeated text columns categorical (the values and their order are unchanged)."""
    return flags.astype({c: "category" for c in _FLAG_CATEGORIES if c in flags.columns})


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-bind block results (blocks without rows only when all are empty, so the dtypes stay); a column
    categorical in every block stays categorical, over the union of the blocks' categories (sorted)."""
    full = [f for f in frames if len(f)]
    if len(full) == 1:
        return full[0].reset_index(drop=True)
    full = full or frames[:1]
    for col in full[0].columns:
        if all(isinstance(f[col].dtype, pd.CategoricalDtype) for f in full) and \
                len({f[col].dtype for f in full}) > 1:
            dtype = pd.CategoricalDtype(union_categoricals([f[col] for f in full], sort_categories=True).categories)
            full = [f.assign(**{col: f[col].astype(dtype)}) for f in full]
    return pd.concat(full, ignore_index=True)


def _by_patient_blocks(keys: _PatientKeys, patients: pd.DataFrame, sessions: pd.DataFrame, s_code: np.ndarray | None,
                       prescriptions: pd.DataFrame | None, r_code: np.ndarray | None, scored: pd.DataFrame,
                       a_code: np.ndarray | None, baseline: pd.DataFrame | None, *, schedules: dict,
                       stamp: pd.Timestamp, opts: Options) -> tuple[pd.DataFrame, ...]:
    """The session measures (patient weeks, overall adherence, levels, fidelity, deviations, flags) computed on
    blocks of whole patients of about `_BLOCK_SESSIONS` sessions each, and bound in patient order.

    Every measure is per patient (``as_of`` is fixed), so the blocks give the frames of one run over
    everyone; flags are re-sorted by priority (stable, so patient and date order stay)."""
    n = len(patients)
    if keys.clean and n and len(sessions) > _BLOCK_SESSIONS:
        per_patient = np.bincount(s_code, minlength=n)
        cut = np.searchsorted(np.cumsum(per_patient), np.arange(_BLOCK_SESSIONS, len(sessions), _BLOCK_SESSIONS),
                              side="right")
        bounds = np.unique(np.r_[0, cut, n])
        b_code = keys.codes(baseline["patient_id"]) if baseline is not None else None
        pick_p = _Rows(patients, np.argsort(keys.order, kind="stable"), n)
        pick_s, pick_r = _Rows(sessions, s_code, n), _Rows(prescriptions, r_code, n)
        pick_a, pick_b = _Rows(scored, a_code, n), _Rows(baseline, b_code, n)
        n_blocks = len(bounds) - 1
        blocks = ((pick_p(lo, hi), pick_s(lo, hi), pick_r(lo, hi), pick_a(lo, hi), pick_b(lo, hi))
                  for lo, hi in zip(bounds[:-1], bounds[1:]))
    else:
        n_blocks = 1
        blocks = iter([(patients, sessions, prescriptions, scored, baseline)])
    parts: list[list[pd.DataFrame]] = [[] for _ in range(6)]
    for frames in blocks:
        # a categorical patient_id keeps only this block's categories while it is measured (else every
        # block would hash all the cohort's codes), and gets the full categories back afterwards
        recoded = [_used_categories(f) for f in frames]
        p, s, r, a, b = (f for f, _ in recoded)
        week = weekly_adherence(s, p, r, as_of=stamp, options=opts)
        week = _add_session_weeks(week, s, p, opts)
        fidelity, deviations = progression_fidelity(s, p, schedules)
        flags = _repeated_text_as_categories(
            stop_and_consult_flags(p, sessions=s, assessments=a, baseline=b, thresholds=opts.safety, as_of=stamp))
        by_patients, by_sessions = recoded[0][1], recoded[1][1]  # what each result's codes come from
        for i, (f, back) in enumerate(((week, by_patients), (overall_adherence(week), by_patients),
                                       (highest_level(s), by_sessions), (fidelity, by_patients),
                                       (deviations, by_patients), (flags, None))):
            parts[i].append(_all_categories(f, back))
    out = [_concat(f) for f in parts]
    if n_blocks > 1:
        out[5] = out[5].sort_values("priority", kind="stable", ignore_index=True)
    return tuple(out)


def _with_scores(assessments: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """The recorded columns (items, red flags, extras) with the scored instruments beside them.

    ``score_assessments`` keeps rows in order, so the two frames align row by row."""
    raw = assessments.reset_index(drop=True)
    extra = scored.drop(columns=["patient_id", "assessed_on"])
    return pd.concat([raw.drop(columns=[c for c in extra.columns if c in raw.columns]), extra], axis=1)


def _status(patients: pd.DataFrame) -> pd.Series:
    reason = patients["discharge_reason"] if "discharge_reason" in patients.columns else pd.Series(
        pd.NA, index=patients.index, dtype=object)
    discharged = patients["discharged_on"].notna() if "discharged_on" in patients.columns else pd.Series(
        False, index=patients.index)
    status = reason.astype(object).map(_STATUS).where(discharged, "active")
    return status.fillna("discharged").astype(str)


def _add_weeks(frame: pd.DataFrame, patients: pd.DataFrame, date_col: str, *, exact: bool = False
               ) -> pd.DataFrame:
    """``day`` (whole days since enrolment), ``week`` and ``week_index``. ``exact``: week from the
    exact time (nominal dates of a non-date time unit, where several assessments share a day)."""
    enrolled = frame["patient_id"].map(patients.set_index("patient_id")["enrolled_on"])
    out = frame.copy()
    if exact:
        days_exact = (frame[date_col] - enrolled) / pd.Timedelta(days=1)
        days = np.floor(days_exact)
        out["day"] = days.astype("Int64")
        out["week"] = days_exact / 7
        out["week_index"] = np.floor(days_exact / 7).astype("Int64")
        return out
    days = (frame[date_col].dt.normalize() - enrolled).dt.days
    out["day"] = days.astype("Int64")
    out["week"] = days / 7
    out["week_index"] = (days // 7).astype("Int64")
    return out


def _assessment_weeks(scored: pd.DataFrame, patients: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Patient-week rows when there is no session log: weeks 0 to the end of follow-up."""
    end = patients["discharged_on"].fillna(as_of) if "discharged_on" in patients.columns else as_of
    last = ((pd.Series(end, index=patients.index).clip(upper=as_of) - patients["enrolled_on"]).dt.days // 7)
    n = last.clip(lower=0).fillna(0).astype(int).to_numpy() + 1
    pid = np.repeat(patients["patient_id"].to_numpy(dtype=object), n)
    wk = np.concatenate([np.arange(k) for k in n]) if len(n) else np.array([], dtype=int)
    start = np.repeat(patients["enrolled_on"].to_numpy(), n) + (wk * 7).astype("timedelta64[D]")
    return pd.DataFrame({"patient_id": pid, "week": wk, "week_start": start})


def _add_session_weeks(week: pd.DataFrame, sessions: pd.DataFrame, patients: pd.DataFrame,
                       opts: Options) -> pd.DataFrame:
    """Level (highest that week) and flares (pain_after − pain_before ≥ 2 or response "worse") by patient-week.

    ``week`` is `weekly_adherence` output (each patient's weeks 0, 1, ... in a run of rows), so a
    session's row is found by arithmetic, not by a merge on text keys."""
    pid_codes, ids = pd.factorize(week["patient_id"])
    n_rows = len(week)
    starts = np.flatnonzero(np.r_[True, pid_codes[1:] != pid_codes[:-1]]) if n_rows else np.zeros(0, np.int64)
    n_weeks = np.diff(np.r_[starts, n_rows])
    if len(starts) != len(ids) or not np.array_equal(week["week"].to_numpy(), np.arange(n_rows) - np.repeat(starts, n_weeks)):
        return _add_session_weeks_by_merge(week, sessions, patients, opts)
    codes, uniques = pd.factorize(sessions["patient_id"])
    where = np.r_[pd.Index(ids).get_indexer(uniques), -1]
    code = where[np.where(codes >= 0, codes, len(where) - 1)]
    enrolled = patients.drop_duplicates("patient_id").set_index("patient_id")["enrolled_on"].reindex(ids)
    enrolled_day = enrolled.to_numpy(dtype="datetime64[us]").astype("datetime64[D]").astype(np.int64)
    stamp = sessions["performed_at"]
    if isinstance(stamp.dtype, pd.DatetimeTZDtype):
        stamp = stamp.dt.tz_localize(None)
    day = stamp.to_numpy(dtype="datetime64[us]").astype("datetime64[D]").astype(np.int64)
    ok = (code >= 0) & (day != np.iinfo(np.int64).min)
    wk = np.where(ok, (day - enrolled_day[np.maximum(code, 0)]) // 7, -1)
    ok &= (wk >= 0) & (wk < n_weeks[np.maximum(code, 0)])
    row = starts[code[ok]] + wk[ok]
    level = pd.to_numeric(sessions["level"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)[ok]
    top = np.full(n_rows, np.nan)
    np.fmax.at(top, row, level)
    flare = np.zeros(len(sessions), bool)
    if "pain_after" in sessions.columns and "pain_before" in sessions.columns:
        with np.errstate(invalid="ignore"):
            flare = ((pd.to_numeric(sessions["pain_after"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
                      - pd.to_numeric(sessions["pain_before"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
                     >= opts.safety.flare_rise)
    if "response" in sessions.columns:
        worse = sessions["response"].eq("worse")
        flare |= worse.fillna(False).to_numpy(dtype=bool) if worse.dtype != bool else worse.to_numpy()
    out = week.copy()
    # the level in force carries over weeks without a session (never from one patient to the next)
    anchor = ~np.isnan(top)
    anchor[starts] = True
    carried = top[np.maximum.accumulate(np.where(anchor, np.arange(n_rows), 0))] if n_rows else top
    out["level"] = pd.array(carried, dtype="Int64")
    out["flares"] = np.bincount(row, weights=flare[ok], minlength=n_rows).astype("int64")
    return out


def _add_session_weeks_by_merge(week: pd.DataFrame, sessions: pd.DataFrame, patients: pd.DataFrame,
                                opts: Options) -> pd.DataFrame:
    """`_add_session_weeks` for a patient-week frame of any shape (a merge on patient and week)."""
    s = _add_weeks(sessions[["patient_id", "performed_at", "level"]
                            + [c for c in ("pain_before", "pain_after", "response") if c in sessions.columns]],
                   patients, "performed_at")
    rise = (pd.to_numeric(s.get("pain_after"), errors="coerce") - pd.to_numeric(s.get("pain_before"), errors="coerce")
            if "pain_after" in s.columns and "pain_before" in s.columns else pd.Series(np.nan, index=s.index))
    flare = (rise >= opts.safety.flare_rise).fillna(False)
    if "response" in s.columns:
        flare |= s["response"].astype(object).eq("worse").fillna(False)
    s["flare"] = flare.astype(int)
    g = s.groupby(["patient_id", "week_index"], sort=False).agg(level=("level", "max"), flares=("flare", "sum"))
    g = g.reset_index().rename(columns={"week_index": "week"})
    g["week"] = g["week"].astype("int64")
    out = week.merge(g, on=["patient_id", "week"], how="left")
    out["flares"] = out["flares"].fillna(0).astype("int64")
    # the level in force carries over weeks without a session
    out["level"] = out.groupby("patient_id", sort=False)["level"].ffill().astype("Int64")
    return out


def _add_outcomes_by_week(week: pd.DataFrame, scored: pd.DataFrame, registry: OutcomeRegistry) -> pd.DataFrame:
    cols = list(registry.present(scored.columns))
    if not cols or not len(scored):
        return week
    a = scored[["patient_id", "week_index", "assessed_on", *cols]].dropna(subset=["week_index"])
    a = a.sort_values(["patient_id", "assessed_on"], kind="stable").groupby(
        ["patient_id", "week_index"], sort=False).last()
    a = a.reset_index().rename(columns={"week_index": "week", "assessed_on": "assessed_on"})
    a["week"] = a["week"].astype("int64")
    return week.merge(a, on=["patient_id", "week"], how="left")


def _rules_by_patient(flags: pd.DataFrame) -> pd.Series:
    """Each patient's flag rules, "; "-joined in the order they first appear in ``flags`` (for the
    cohort's flags: priority order), without a Python call per patient."""
    d = flags[["patient_id", "rule"]].drop_duplicates()
    codes, ids = pd.factorize(d["patient_id"], sort=True)
    order = np.argsort(codes, kind="stable")
    c, r = codes[order], d["rule"].to_numpy(dtype=object)[order]
    start = np.r_[True, c[1:] != c[:-1]] if len(c) else np.zeros(0, bool)
    pos = np.arange(len(c)) - np.flatnonzero(start)[np.cumsum(start) - 1]
    text = np.full(len(ids), "", dtype=object)
    for j in range(int(pos.max()) + 1 if len(pos) else 0):
        at = pos == j
        text[c[at]] = text[c[at]] + "; " + r[at] if j else r[at]
    return pd.Series(text, index=ids, dtype="str")


def _summary(patients: pd.DataFrame, changes: pd.DataFrame, overall: pd.DataFrame | None,
             levels: pd.DataFrame | None, fidelity: pd.DataFrame | None, flags: pd.DataFrame, *,
             covariates: dict[str, str] | None = None) -> pd.DataFrame:
    keep = [c for c in ("patient_id", "site_id", "clinician_id", "schedule", "enrolled_on", "discharged_on",
                        "status", "age_years", "sex", "symptom_duration_weeks") if c in patients.columns]
    # declared covariates ride along, typed as declared (see _typed_covariates)
    keep += [c for c in (covariates or {}) if c in patients.columns and c not in keep]
    out = patients[keep].copy()
    if len(changes):
        value_cols = ["baseline", "latest", "endpoint", "change", "pct_change", "responder", "rc", "rc_class"]
        # a column at a time, so each keeps its type (float, boolean, category); pivoting them together
        # made every one object, where describe() counts values instead of averaging them
        wide = pd.concat({v: changes.pivot(index="patient_id", columns="outcome", values=v) for v in value_cols},
                         axis=1)
        wide.columns = [f"{o}_{v}" for v, o in wide.columns]
        order = [f"{o}_{v}" for o in pd.unique(changes["outcome"]) for v in value_cols]
        out = out.merge(wide[order].reset_index(), on="patient_id", how="left")
    if overall is not None:
        cols = [c for c in ("adherence", "adherence_capped", "dose_adherence", "dose_adherence_capped",
                            "prescription_source") if c in overall.columns]
        out = out.merge(overall[["patient_id", *cols]], on="patient_id", how="left")
    if levels is not None:
        out = out.merge(levels[["patient_id", "highest_level", "reached_on"]].rename(
            columns={"reached_on": "highest_level_on"}), on="patient_id", how="left")
    if fidelity is not None:
        f = fidelity[["patient_id", "followed", "n_deviations"]].rename(
            columns={"followed": "fidelity_followed", "n_deviations": "fidelity_deviations"})
        out = out.merge(f, on="patient_id", how="left")
    if len(flags):
        agg = flags.groupby("patient_id").agg(n_flags=("rule", "size"), most_urgent=("priority", "min"))
        agg["flag_rules"] = _rules_by_patient(flags).reindex(agg.index)
        out = out.merge(agg.reset_index(), on="patient_id", how="left")
        out["n_flags"] = out["n_flags"].fillna(0).astype("int64")
        out["most_urgent"] = out["most_urgent"].astype("Int64")
    else:
        out["n_flags"] = 0
        out["most_urgent"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["flag_rules"] = ""
    out["flag_rules"] = out["flag_rules"].fillna("")
    return out.reset_index(drop=True)
