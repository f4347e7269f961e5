"""Synthetic glide-program cohorts with known true effects.

`simulate` draws a complete dataset in the data contract (``patients``,
``prescriptions``, ``sessions``, ``assessments``; see ``data/schemas``) from
a documented generative model, and returns it with a `SimulationTruth` that
holds every number the model used. `write_dataset` writes it to a folder.
The data are used for the demo, for tests that must recover a known truth,
and for power calculations. They are entirely synthetic.

Generative model
----------------
Numbers in brackets are the defaults; each is a field of `SimulationTruth`.
Time ``t`` is in weeks since enrolment (day / 7); program week ``w`` covers
days ``7w .. 7w + 6``.

*Patients.* Enrolment days are uniform over ``enrolment_days`` [548] from
``start``; codes ``P001``... (zero-padded to the width of ``n_patients``)
are given in enrolment order. ``n_sites`` [6] sites ``S01``... with uneven
caseloads (Dirichlet(4) weights) and 2-4 clinicians each (``C01``...,
clinician nested in site, chosen uniformly within the site). Age ~
round(N(50, 14)) clipped to 18-85; sex female/male/other/unknown with
probabilities .52/.45/.01/.02; affected side left/right/bilateral
.46/.46/.08; symptom duration ~ lognormal(log 12, 1) weeks clipped to
1-200; diagnosis 'lumbar radiculopathy' (.8) or 'sciatica'. The schedule is
randomised 1:1 (a random permutation of a balanced list).

*Adherence.* Propensity ``a_i`` ~ Beta with mean ``adherence_mean`` [0.7]
and concentration ``adherence_concentration`` [6]; weekly ``a_iw =
clip(a_i + N(0, adherence_weekly_sd [0.15]), 0, 1)`` for weeks 0-11. Each
day has a morning and an evening slot (14 sessions per week prescribed);
each slot is done with probability ``a_iw``, so sessions done in week ``w``
~ Binomial(14, a_iw). The *realised* weekly adherence ``r_iw`` = sessions
done / 14 (counted over the whole program, before any dropout) is what
enters the pain model, so the adherence effects are defined on the scale
the toolkit measures. ``abar_i`` is the mean of ``r_iw`` over weeks 0-11.

*Progression* (levels 1 to ``max_level`` [6]). ``weekly``: level =
min(1 + floor(day / 7), 6). ``guided``: a patient advances one level at the
start of the day after ending a day with a run of at least
``guided_sessions_to_advance`` [5] consecutive *qualifying* sessions (no
flare and pain_after <= ``guided_max_pain_after`` [4]); any non-qualifying
session resets the run to 0, and so does advancing. Each level change is
a prescription row (valid_from = first day at the level; 2 sets of
10 + 2 * (level - 1) reps, 14 sessions per week). Levels 1-3 are sliders,
4-6 tensioners; positions seated, supine, supine, leg_raised, standing,
standing.

*Leg pain.* The true mean on day t (weeks) is::

    mu_i(t) = intercept + u0_i + site_s + clinician_c
              + (week_slope + week_slope_diff_guided * [guided] + u1_i) * t
              + adherence_between * (abar_i - adherence_centre)
              + adherence_within * (r_i,w-1 - abar_i)      # 0 in week 0
              + level * level_i(t)

with (u0, u1) bivariate normal (``sd_intercept`` [1.0], ``sd_slope``
[0.08], ``corr_intercept_slope`` [-0.2]), site ~ N(0, ``sd_site`` [0.3]),
clinician ~ N(0, ``sd_clinician`` [0.2]); the realised site and clinician
effects are stored in the truth. Defaults: intercept 6.5 (the mean at week
0 for adherence 0.7 and level 0, so 6.4 at level 1), week_slope -0.20
points/week for ``weekly`` (the reference), week_slope_diff_guided -0.10,
adherence_between -2.0 and adherence_within -0.8 points per 1.0 of
adherence, level -0.10 points per level. An assessment on day d scores
``leg_pain = round(clip(mu_i(d / 7) + N(0, sd_residual [1.0]), 0, 10))``.
Rounding and clipping to the integer NRS make the observed score a slightly
attenuated version of this linear truth (most visibly near 0 and 10).
In the guided schedule level depends on past pain, so it is not exogenous.

*Sessions.* pain_before = round(clip(mu_i + N(0, session_pain_sd [0.7]),
0, 10)). A flare (pain_after - pain_before of 2, or 3 with probability .3)
happens with probability ``flare_prob`` [0.002], or
``flare_prob_after_level_change`` [0.015] in the first
``flare_after_level_change_sessions`` [3] sessions after a level change;
its response is 'worse' (also when pain_before >= 9 caps the rise). Other
sessions change pain by -2/-1/0/+1 with probabilities .12/.38/.47/.03
(response 'better' if pain fell, else 'same'), so a flare is exactly
``response == 'worse'``. stopped_early with probability
``stopped_early_prob_flare`` [0.4] on flares, ``stopped_early_prob``
[0.01] otherwise (then fewer reps than prescribed); 5 % of other sessions
miss a few reps. Times are 06:30-10:59 (morning) or 17:00-21:59 (evening).
A short note is written with probability ``note_prob`` [0.02], or
``note_prob_flare`` [0.25] on flares.

*Assessments* at the planned visits (``visit_weeks``, default
`outcomes.config.DEFAULT_VISIT_WEEKS`: 0, 2, 4, 6, 8, 12): week 0 on enrolment day or up to
3 days later, the others within +/- 3 days of target; the visit at program end
(week 12) falls in the program's last three days (days 81-83), so a
completer's follow-up ends with the sessions. With ``y`` the leg
pain before rounding: back_pain = 0.6 y + 1 + N(0, 1.3); numbness =
0.4 y + c_i + N(0, 1.2) with c_i ~ N(1, 1); a latent ODI % = 5 + 5.5 y +
b_i + N(0, 6), b_i ~ N(0, 8), gives the ten 0-5 items (latent / 20 + item
offset from -0.3 to 0.3 + N(0, 0.7)) and rmdq (0.24 x latent + N(0, 2));
slr_deg = 85 - 5 y + N(0, 8) clipped to 30-90; pgic = 4 + 0.8 x (y - y at
week 0) + N(0, 0.8) at follow-ups only. All are rounded and clipped to
their ranges. ODI items are missing with probability 0.02, the other
secondary outcomes with ``secondary_missing_prob`` [0.02]. Each red flag is
true with probability ``red_flag_prob`` [0.001]. A patient with a red flag
is referred (discharged that day, reason 'referred') with probability
``red_flag_referral_prob`` [0.8]; the others go on logging sessions.

*Dropout* is missing at random: after each follow-up before week 12, a
patient drops out with probability ``logistic(dropout_alpha [-4.2] +
dropout_beta [0.25] * observed leg_pain)``; the dropout day is uniform
between the day after that visit and the day before the next visit's
window; discharged_on is that day (reason 'dropped_out'). Completers are
discharged on their week-12 visit ('completed'). Sessions happen only on
program days 0-83 before discharged_on.

*Calibration.* The session, flare, red-flag, adherence and dropout defaults
come from `outcomes.config.SIMULATION_FIGURES`, which names the published
figure or the stated assumption behind each: on 1,000 simulated patients
about one in nine has an active stop-and-consult flag and about 1 % a red
flag. Set ``dropout_alpha`` to, e.g.,
-50 to switch dropout off; all other draws are made before the dropout
draws, so a dataset with dropout is the dataset without it, cut short.

*Study "today"* is ``start + today_offset_days`` [608]. Nothing on or after
it is exported; patients not discharged by then are still active (empty
discharged_on and discharge_reason). For dropouts and still-active
patients the exported sessions cover only part of the weeks that define
``abar_i``.

The package's modules follow the seams of the work: `outcomes.simulate.truth`
(the parameters, `SimulationTruth`, and the result, `SimulatedDataset`),
`outcomes.simulate.generate` (the draws and the frames, `simulate`) and
`outcomes.simulate.write` (CSV and Parquet files, `write_dataset`).
"""

from __future__ import annotations

from .generate import simulate
from .truth import KNOWN_SCHEDULES, SimulatedDataset, SimulationTruth
from .write import write_dataset

__all__ = ["KNOWN_SCHEDULES", "SimulatedDataset", "SimulationTruth", "simulate", "write_dataset"]
