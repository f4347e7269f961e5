"""Plot functions: what they draw (artists, data, labels), never pixels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection, QuadMesh
from matplotlib.figure import Figure
from numpy.testing import assert_allclose

from outcomes.config import DEFAULT_OPTIONS
from outcomes.plotting.cohort import (
    flare_rate_frame,
    mean_ci_frame,
    plot_flare_rates,
    plot_spaghetti,
    plot_waterfall,
    waterfall_frame,
)
from outcomes.plotting.models import plot_forest, plot_km, plot_marginal_means
from outcomes.plotting.patient import (
    adherence_calendar_frame,
    plot_adherence_calendar,
    plot_level_steps,
    plot_patient_trajectory,
)


def _by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def _ax():
    return plt.figure().add_subplot()


def _span_y(band):
    """Lower and upper data y of an axhspan (a Rectangle in blended coordinates)."""
    return band.get_y(), band.get_y() + band.get_height()


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def one_patient() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": "P001", "week": [4.0, 0.0, 2.1, 6.0],
                         "leg_pain": [4.0, 7.0, 6.0, np.nan], "odi": [30.0, 40.0, 36.0, 20.0]})


@pytest.fixture
def sessions() -> pd.DataFrame:
    # Enrolled Wednesday 2026-01-07: day 0 two sessions, day 1 one, day 8 three.
    times = pd.to_datetime(["2026-01-07 08:00", "2026-01-07 19:00", "2026-01-08 09:00",
                            "2026-01-15 08:00", "2026-01-15 12:00", "2026-01-15 19:00"])
    week = (times - pd.Timestamp("2026-01-07")).total_seconds() / 604800
    return pd.DataFrame({"patient_id": "P001", "performed_at": times, "week": week,
                         "level": [1, 1, 1, 2, 2, 3], "flare": [False, True, False, False, True, False]})


@pytest.fixture
def long_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(12):
        for w in range(4):
            rows.append({"patient_id": f"P{i:03d}", "week": w, "schedule": "weekly" if i % 2 else "guided",
                         "leg_pain": float(np.clip(7 - w + rng.normal(0, 1), 0, 10)),
                         "flares": int(rng.integers(0, 3)), "sessions_done": 14})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- patient plots


def test_trajectory_draws_observations_baseline_and_mic_band(one_patient):
    ax = _ax()
    out = plot_patient_trajectory(one_patient, outcome="leg_pain", baseline=7, ax=ax)
    assert out is ax
    (line,) = _by_gid(ax, "observed")
    assert_allclose(line.get_xdata(), [0.0, 2.1, 4.0])  # sorted, the missing week-6 value dropped
    assert_allclose(line.get_ydata(), [7.0, 6.0, 4.0])
    (base,) = _by_gid(ax, "baseline")
    assert_allclose(base.get_ydata(), [7, 7])
    (band,) = _by_gid(ax, "mic_band")
    mic = DEFAULT_OPTIONS.instruments["leg_pain"].responder.points
    assert_allclose(_span_y(band), [7 - mic, 7])
    assert "NRS 0-10" in ax.get_ylabel()
    assert "week" in ax.get_xlabel().lower()
    assert ax.get_legend() is not None


def test_trajectory_band_uses_odi_mic_and_fitted_line(one_patient):
    ax = _ax()
    fitted = pd.Series([40.0, 25.0], index=[0.0, 6.0])
    plot_patient_trajectory(one_patient, outcome="odi", baseline=40, fitted=fitted, ax=ax)
    (band,) = _by_gid(ax, "mic_band")
    assert_allclose(_span_y(band), [30, 40])
    (fit,) = _by_gid(ax, "fitted")
    assert_allclose(fit.get_ydata(), [40, 25])
    assert fit.get_linestyle() == "--"


def test_trajectory_without_baseline_has_no_band(one_patient):
    ax = _ax()
    plot_patient_trajectory(one_patient, outcome="leg_pain", ax=ax)
    assert not _by_gid(ax, "mic_band") and not _by_gid(ax, "baseline")


def test_trajectory_refuses_several_patients_and_missing_columns(one_patient):
    two = pd.concat([one_patient, one_patient.assign(patient_id="P002")])
    with pytest.raises(ValueError, match="2 patients"):
        plot_patient_trajectory(two, outcome="leg_pain", ax=_ax())
    with pytest.raises(ValueError, match="rmdq"):
        plot_patient_trajectory(one_patient, outcome="rmdq", ax=_ax())


def test_calendar_frame_counts_sessions_per_day(sessions):
    frame = adherence_calendar_frame(sessions, enrolled_on="2026-01-07", end="2026-01-20")
    assert len(frame) == 14
    assert frame.loc[0, "sessions"] == 2 and frame.loc[1, "sessions"] == 1 and frame.loc[8, "sessions"] == 3
    assert frame.loc[8, "category"] == 2  # 3 sessions -> "2+"
    # Monday-Sunday weeks: 2026-01-07 is a Wednesday, 2026-01-15 the Thursday of the next calendar week
    assert (frame.loc[8, "week"], frame.loc[8, "day"]) == (1, 3)
    assert frame.loc[0, "x"] == pytest.approx(-2 / 7) and frame.loc[8, "x"] == pytest.approx(5 / 7)


def test_calendar_draws_a_days_by_weeks_grid(sessions):
    ax = _ax()
    plot_adherence_calendar(sessions, enrolled_on="2026-01-07", end="2026-01-16", ax=ax)
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    grid = mesh.get_array().reshape(7, 2)
    assert np.ma.is_masked(grid[0, 0]) and np.ma.is_masked(grid[1, 0])  # Mon, Tue before enrolment
    assert grid[2, 0] == 2 and grid[3, 0] == 1 and grid[4, 0] == 0  # week 0: Wed 2, Thu 1, Fri 0
    assert grid[3, 1] == 2  # week 1, Thu: 3 sessions shown as 2+
    assert np.ma.is_masked(grid[5, 1])  # Sat of week 1 is after the end of follow-up
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert ax.get_xlim() == pytest.approx((-2 / 7, 2 - 2 / 7))  # columns start on Mondays
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0 sessions", "1 session", "2+ sessions"]


def test_level_steps_and_flare_markers(sessions):
    ax = _ax()
    plot_level_steps(sessions, ax=ax)
    (level,) = _by_gid(ax, "level")
    assert level.get_drawstyle() == "steps-post"
    assert_allclose(level.get_ydata(), [1, 1, 1, 2, 2, 3])
    (flares,) = _by_gid(ax, "flares")
    assert_allclose(flares.get_ydata(), [1, 2])
    assert_allclose(flares.get_xdata(), sessions.loc[sessions["flare"], "week"])
    assert ax.get_ylabel() == "Glide level"


# ---------------------------------------------------------------- cohort plots


def test_spaghetti_thin_lines_and_group_means(long_frame):
    ax = _ax()
    plot_spaghetti(long_frame, outcome="leg_pain", ax=ax)
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines.get_segments()) == 12
    means = _by_gid(ax, "mean")
    assert [m.get_label() for m in means] == ["guided", "weekly"]
    expected = long_frame[long_frame["schedule"] == "guided"].groupby("week")["leg_pain"].mean()
    assert_allclose(means[0].get_ydata(), expected.to_numpy())
    assert len(_by_gid(ax, "ci")) == 2
    # distinct in grey: marker and line style differ between groups
    assert means[0].get_marker() != means[1].get_marker()
    assert means[0].get_linestyle() != means[1].get_linestyle()


def test_mean_ci_frame_t_interval():
    frame = pd.DataFrame({"week": [0, 0, 0], "y": [1.0, 2.0, 3.0]})
    out = mean_ci_frame(frame, outcome="y", group=None)
    # mean 2, sd 1, t(2) = 4.302653
    assert_allclose(out.loc[0, ["ci_lower", "ci_upper"]].to_numpy(dtype=float),
                    [2 - 4.302653 / np.sqrt(3), 2 + 4.302653 / np.sqrt(3)], rtol=1e-6)


def test_waterfall_sorted_bars_and_threshold_lines():
    data = pd.DataFrame({"patient_id": ["A", "B", "C", "D"], "outcome": "leg_pain",
                         "change": [-3.0, 1.0, np.nan, -1.0], "responder": [True, False, pd.NA, False]})
    ax = _ax()
    plot_waterfall(data, ax=ax)
    bars = _by_gid(ax, "bar")
    assert [b.get_height() for b in bars] == [1.0, -1.0, -3.0]
    colours = [b.get_facecolor()[:3] for b in bars]
    assert colours[2] != colours[0]  # the responder is drawn differently
    (threshold,) = _by_gid(ax, "threshold")
    assert_allclose(threshold.get_ydata(), [-2, -2])
    assert "points" in ax.get_ylabel()
    ax2 = _ax()
    plot_waterfall(data.assign(pct_change=[-50.0, 10.0, np.nan, -20.0]), value="pct_change", ax=ax2)
    assert_allclose(_by_gid(ax2, "threshold")[0].get_ydata(), [-30, -30])


def test_waterfall_frame_reads_wide_summary():
    wide = pd.DataFrame({"patient_id": ["A", "B"], "odi_change": [-12.0, 4.0], "odi_responder": [True, False]})
    out = waterfall_frame(wide, outcome="odi")
    assert list(out["patient_id"]) == ["B", "A"]


def test_flare_rates_poisson_exact_interval():
    data = pd.DataFrame({"schedule": ["a"], "flares": [10], "sessions_done": [1000]})
    out = flare_rate_frame(data, method="poisson")
    # Garwood 95 % interval for 10 events: 4.7954 to 18.3904
    assert_allclose(out.loc[0, ["rate", "ci_lower", "ci_upper"]].to_numpy(dtype=float),
                    [1.0, 0.47954, 1.83904], rtol=1e-4)


def test_flare_rates_cluster_interval_by_hand():
    data = pd.DataFrame({"patient_id": ["p1", "p2", "p3"], "schedule": "a", "flares": [0, 2, 7],
                         "sessions_done": [10, 10, 10]})
    out = flare_rate_frame(data)
    r = 9 / 30
    se = np.sqrt(3 / 2 * ((0 - 10 * r) ** 2 + (2 - 10 * r) ** 2 + (7 - 10 * r) ** 2)) / 30
    assert out.loc[0, "method"] == "cluster"
    assert_allclose(out.loc[0, "ci_upper"], 100 * (r + 1.959964 * se), rtol=1e-5)


def test_plot_flare_rates_draws_one_point_per_schedule(long_frame):
    ax = _ax()
    plot_flare_rates(long_frame, ax=ax)
    points = _by_gid(ax, "rate")
    assert len(points) == 2
    expected = long_frame.groupby("schedule")["flares"].sum() / (14 * 24) * 100
    assert_allclose([p.get_ydata()[0] for p in points], expected.to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["guided", "weekly"]
    assert "per 100 sessions" in ax.get_ylabel()


# ---------------------------------------------------------------- model plots


def test_marginal_means_lines_and_bands():
    data = pd.DataFrame({"schedule": ["g", "g", "w", "w"], "week": [0, 6, 0, 6], "estimate": [6, 3, 6, 4],
                         "ci_lower": [5, 2, 5, 3], "ci_upper": [7, 4, 7, 5]})
    ax = _ax()
    plot_marginal_means(data, outcome="leg_pain", ax=ax)
    lines = _by_gid(ax, "estimate")
    assert [ln.get_label() for ln in lines] == ["g", "w"]
    assert_allclose(lines[1].get_ydata(), [6, 4])
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2
    assert "NRS 0-10" in ax.get_ylabel()


def test_forest_ratio_uses_log_scale_and_reference_one():
    data = pd.DataFrame({"term": ["odds ratio", "rate ratio"], "estimate": [1.5, 0.8], "ci_lower": [1.1, 0.6],
                         "ci_upper": [2.2, 1.1]})
    ax = _ax()
    plot_forest(data, ratio=True, ax=ax)
    assert ax.get_xscale() == "log"
    assert_allclose(_by_gid(ax, "reference")[0].get_xdata(), [1, 1])
    (est,) = _by_gid(ax, "estimates")
    assert_allclose(est.get_xdata(), [1.5, 0.8])
    where = dict(zip([t.get_text() for t in ax.get_yticklabels()], ax.get_yticks()))
    assert where["odds ratio"] > where["rate ratio"]  # the first row is drawn on top
    with pytest.raises(ValueError, match="positive"):
        plot_forest(data.assign(ci_lower=[-1, 0.5]), ratio=True, ax=_ax())


def test_forest_difference_reference_zero():
    data = pd.DataFrame({"label": ["diff"], "estimate": [-1.0], "ci_lower": [-2.0], "ci_upper": [0.5]})
    ax = _ax()
    plot_forest(data, ax=ax)
    assert ax.get_xscale() == "linear"
    assert_allclose(_by_gid(ax, "reference")[0].get_xdata(), [0, 0])


def test_km_steps_start_at_one():
    data = pd.DataFrame({"schedule": ["g", "g"], "time": [2.0, 4.0], "survival": [0.8, 0.5],
                         "ci_lower": [0.6, 0.3], "ci_upper": [0.95, 0.7]})
    ax = _ax()
    plot_km(data, ax=ax)
    (curve,) = _by_gid(ax, "survival")
    assert curve.get_drawstyle() == "steps-post"
    assert_allclose(curve.get_xdata(), [0, 2, 4])
    assert_allclose(curve.get_ydata(), [1, 0.8, 0.5])
    assert len(_by_gid(ax, "ci")) == 1


# ---------------------------------------------------------------- contract


def test_plots_never_save_or_show(monkeypatch, one_patient, sessions, long_frame):
    def refuse(*args, **kwargs):
        raise AssertionError("a plot function saved or showed a figure")

    monkeypatch.setattr(Figure, "savefig", refuse)
    monkeypatch.setattr(plt, "show", refuse)
    monkeypatch.setattr(plt, "savefig", refuse)
    plot_patient_trajectory(one_patient, baseline=7)
    plot_adherence_calendar(sessions)
    plot_level_steps(sessions, ax=_ax())
    plot_spaghetti(long_frame, ax=_ax())
    plot_flare_rates(long_frame, ax=_ax())


def test_style_applies_to_given_axes(one_patient):
    ax = _ax()
    plot_patient_trajectory(one_patient, baseline=7, ax=ax)
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
    assert ax.get_xlabel() and ax.get_ylabel()


# ---------------------------------------------------------------- the page draws what the public plots draw


@pytest.mark.parametrize("outcome, baseline, higher_is_better, low, high, mic", [
    ("leg_pain", 7.0, False, 0.0, 10.0, 2.0),
    ("leg_pain", 1.0, False, 0.0, 10.0, 2.0),      # the band is cut at the scale's bottom
    ("odi", 40.0, False, 0.0, 100.0, 10.0),
    ("slr", 40.0, True, 0.0, float("inf"), 5.0),   # higher is better: the band lies above the baseline
])
def test_patient_page_panels_draw_the_public_plots_numbers(one_patient, sessions, outcome, baseline,
                                                            higher_is_better, low, high, mic):
    """The page (reports._patient_plots, a canvas) and the notebook plots (plotting.patient, matplotlib)
    are two drawings of one patient: the observations, the MIC band and the flares must agree."""
    from outcomes.plotting.patient import mic_band
    from outcomes.reports import _patient_plots as page
    from outcomes.reports._patient_canvas import Canvas

    data = one_patient.assign(slr=one_patient["odi"])
    info = {"low": low, "high": high, "baseline": baseline, "mic": mic, "higher_is_better": higher_is_better}
    drawn = page.trajectory(page.Axes(Canvas(8.27, 11.69), "primary", (1, 1, 3, 2)), data, outcome, info,
                            x_max=8, colour_index=0, ylabel="points")
    ax = _ax()
    if outcome in DEFAULT_OPTIONS.instruments:
        plot_patient_trajectory(data, outcome=outcome, baseline=baseline, mic=mic, ax=ax)
        (band,) = _by_gid(ax, "mic_band")
        assert_allclose(drawn["mic_band"], _span_y(band))
    else:  # not an instrument of the options: the public plot has no scale, so compare with mic_band itself
        plot_patient_trajectory(data, outcome=outcome, ax=ax)
        assert drawn["mic_band"] == mic_band(baseline, mic, higher_is_worse=not higher_is_better, low=low, high=high)
        assert drawn["mic_band"] == (40.0, 45.0)
    (line,) = _by_gid(ax, "observed")
    assert_allclose(np.array(drawn["points"]), np.column_stack([line.get_xdata(), line.get_ydata()]))
    if baseline == 1.0:
        assert drawn["mic_band"] == (0.0, 1.0)

    levels = page.levels(page.Axes(Canvas(8.27, 11.69), "levels", (1, 1, 3, 2)), sessions, x_max=8)
    ax = _ax()
    plot_level_steps(sessions, ax=ax)
    (flares,) = _by_gid(ax, "flares")
    assert levels["flares"] == 2
    assert_allclose(np.array(levels["flare_points"]), np.column_stack([flares.get_xdata(), flares.get_ydata()]))


def test_a_report_figure_gives_the_same_bytes_each_time(one_patient):
    """Embedded SVGs carry no date and no random element ids, so a report re-run on the same data is
    the same file (matplotlib draws its ids at random unless given a salt)."""
    from outcomes.reports._html import figure_data_uri

    uris = []
    for _ in range(2):
        fig = plt.figure()
        plot_patient_trajectory(one_patient, outcome="leg_pain", baseline=7, ax=fig.add_subplot())
        uris.append(figure_data_uri(fig))
        plt.close(fig)
    assert uris[0] == uris[1] and uris[0].startswith("data:image/svg+xml;base64,")
