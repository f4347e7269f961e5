"""Expected recovery: prediction bands for a new patient from the cohort's mixed model."""

from __future__ import annotations

import numpy as np
import pytest

from outcomes import Cohort
from outcomes.models.expected import expected_recovery
from outcomes.simulate import simulate


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return Cohort.from_frames(**simulate(400, seed=5).frames())


def test_bands_cover_about_their_share_of_patients_latest_values(cohort):
    e = expected_recovery(cohort)
    assert e.available and 390 < e.n_patients <= 400 and e.outcome == "leg_pain"
    p = e.patients(cohort)
    q = p[p["expected"] != "no_band"]
    assert len(q) > 350
    in80 = ((q["latest"] >= q["band80_lower"]) & (q["latest"] <= q["band80_upper"])).mean()
    in50 = ((q["latest"] >= q["band50_lower"]) & (q["latest"] <= q["band50_upper"])).mean()
    assert 0.74 < in80 < 0.86, in80
    assert 0.42 < in50 < 0.58, in50
    assert (q["expected"] == "on_track").mean() == pytest.approx(in80)
    # a prediction band for one patient, not a confidence interval of the mean: several points wide
    assert (q["band80_upper"] - q["band80_lower"]).median() > 2.5


def test_band_follows_the_baseline_and_the_direction(cohort):
    e = expected_recovery(cohort)
    low, high = e.band("weekly", 3, [6.0]), e.band("weekly", 8, [6.0])
    assert high["mean"].iloc[0] > low["mean"].iloc[0] + 1
    b = e.band("weekly", 6, np.linspace(0, 12, 13))
    assert (b["lower80"] <= b["lower50"]).all() and (b["upper50"] <= b["upper80"]).all()
    assert b["lower80"].min() >= 0 and b["upper80"].max() <= 10  # clipped to the NRS
    assert e.band("unknown schedule", 6, [6.0]).empty
    assert e.classify(9, 2, 5) == "behind" and e.classify(1, 2, 5) == "ahead" and e.classify(3, 2, 5) == "on_track"
    flipped = type(e)(**{**e.__dict__, "higher_is_better": True})
    assert flipped.classify(9, 2, 5) == "ahead"


def test_no_band_with_too_few_patients():
    c = Cohort.from_frames(**simulate(20, seed=1).frames())
    e = expected_recovery(c)
    assert not e.available and "needs at least 30" in e.reason
    assert set(e.patients(c)["expected"]) == {"no_band"}
