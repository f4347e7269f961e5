"""Write the synthetic datasets of tests/test_reml.py (run once; the CSVs are committed).

Run from the repository root::

    python tests/reference/reml_data.py

``reml_data.csv``: 400 patients in two arms, unbalanced visits (planned weeks 0, 1,
2, 4, 6, 8, 12, each attended with probability 0.8 and shifted by up to ±3 days),
dropout (a patient leaves after any visit with probability 0.12), a baseline age
and sex; ``y`` = 30 + 0.1 (age − 50) + 1.5 [female] − 1.2 week
− 0.5 week·[guided] + b₀ + b₁ week + e with SD(b₀) = 6, SD(b₁) = 0.8,
corr(b₀, b₁) = −0.3, SD(e) = 4.

``reml_short.csv``: a small dataset (60 patients, 2 to 4 visits each) whose random
slope variance is near zero, where statsmodels' MixedLM (lbfgs, REML) reports
convergence at a REML log-likelihood below lme4's optimum.

Floats are written with 10 significant digits; R and the tests read the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
VISITS = np.array([0, 1, 2, 4, 6, 8, 12], dtype=float)


def unbalanced(n: int = 400, seed: int = 20261130) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    cov = np.array([[36.0, -0.3 * 6 * 0.8], [-0.3 * 6 * 0.8, 0.64]])
    for i in range(n):
        arm = "guided" if rng.random() < 0.5 else "weekly"
        age = float(np.round(rng.uniform(25, 75)))
        sex = "F" if rng.random() < 0.55 else "M"
        b0, b1 = rng.multivariate_normal([0, 0], cov)
        for v in VISITS:
            if v > 0 and rng.random() < 0.2:
                continue
            week = max(v + rng.uniform(-3, 3) / 7, 0.0)
            mean = 30 + 0.1 * (age - 50) + 1.5 * (sex == "F") - 1.2 * week - 0.5 * week * (arm == "guided")
            rows.append({"patient_id": f"R{i + 1:03d}", "schedule": arm, "week": week, "age_years": age,
                         "sex": sex, "y": mean + b0 + b1 * week + rng.normal(0, 4)})
            if v > 0 and rng.random() < 0.12:
                break
    return pd.DataFrame(rows)


def short(n: int = 60, seed: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        arm = "guided" if i % 2 else "weekly"
        b0 = rng.normal(0, 6.5)
        b1 = rng.normal(0, 0.05)
        k = int(rng.integers(2, 5))
        weeks = np.sort(rng.choice(VISITS, size=k, replace=False))
        for week in weeks:
            mean = 40 - 0.8 * week - 4 * (arm == "guided")
            rows.append({"patient_id": f"S{i + 1:03d}", "schedule": arm, "week": float(week),
                         "y": mean + b0 + b1 * week + rng.normal(0, 5)})
    return pd.DataFrame(rows)


def main() -> None:
    for name, frame in (("reml_data.csv", unbalanced()), ("reml_short.csv", short())):
        frame.to_csv(HERE / name, index=False, float_format="%.10g", lineterminator="\n")
        print(f"wrote {HERE / name}: {len(frame)} rows, {frame['patient_id'].nunique()} patients")


if __name__ == "__main__":
    main()
