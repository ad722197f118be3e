import numpy as np
import pytest

from freqquest.intervals import Interval, bootstrap_mean, independent_difference, paired_difference, pooled_scores


def test_a_constant_score_has_no_width():
    interval = bootstrap_mean(np.ones(40), groups=np.repeat(np.arange(10), 4))
    assert (interval.mean, interval.low, interval.high) == (1.0, 1.0, 1.0)


def test_the_interval_holds_the_mean_and_has_the_binomial_width():
    """400 independent clips at 0.8: the interval's half-width is near 1.96 * sqrt(0.8 * 0.2 / 400) = 0.039."""
    scores = np.r_[np.ones(320), np.zeros(80)]
    interval = bootstrap_mean(scores)
    assert interval.mean == pytest.approx(0.8)
    assert interval.low < 0.8 < interval.high
    assert (interval.high - interval.low) / 2 == pytest.approx(0.039, abs=0.006)


def test_clips_that_err_together_widen_the_interval():
    """The same 400 scores as 20 recordings of 20 clips each, every recording right or wrong as a
    whole: the sample is 20, not 400, and the interval is about sqrt(20) times as wide."""
    scores = np.repeat(np.r_[np.ones(16), np.zeros(4)], 20)
    by_clip = bootstrap_mean(scores)
    by_recording = bootstrap_mean(scores, groups=np.repeat(np.arange(20), 20))
    assert by_recording.mean == by_clip.mean == pytest.approx(0.8)
    ratio = (by_recording.high - by_recording.low) / (by_clip.high - by_clip.low)
    assert 3.0 < ratio < 6.0


def test_a_paired_difference_sees_what_two_intervals_side_by_side_cannot():
    """Recipe a is right wherever b is, and on 8 more clips of 400: the two intervals overlap, the
    paired one lies above zero."""
    rng = np.random.default_rng(0)
    b = (rng.random(400) < 0.8).astype(float)
    a = b.copy()
    a[np.flatnonzero(b == 0)[:8]] = 1
    groups = np.repeat(np.arange(100), 4)
    alone_a, alone_b = bootstrap_mean(a, groups), bootstrap_mean(b, groups)
    assert alone_a.low < alone_b.high  # side by side: no decision
    difference = paired_difference(a, b, groups)
    assert difference.mean == pytest.approx(0.02) and difference.above_zero and not difference.below_zero
    assert paired_difference(b, a, groups).below_zero


def test_an_independent_difference_has_the_width_of_two_binomials():
    """0.8 and 0.6 on 100 clips each: the difference 0.2, half-width near
    1.96 * sqrt(0.8 * 0.2 / 100 + 0.6 * 0.4 / 100) = 0.124."""
    a, b = np.r_[np.ones(80), np.zeros(20)], np.r_[np.ones(60), np.zeros(40)]
    difference = independent_difference(a, b)
    assert difference.mean == pytest.approx(0.2)
    assert (difference.high - difference.low) / 2 == pytest.approx(0.124, abs=0.015)
    assert difference.above_zero and independent_difference(b, a).below_zero
    assert independent_difference(np.ones(5), np.ones(50)).as_dict() == {"mean": 0.0, "low": 0.0, "high": 0.0}


def test_pooling_counts_each_clip_once_with_its_share_of_runs():
    np.testing.assert_array_equal(pooled_scores([[1, 0, 1], [1, 1, 0]]), [1.0, 0.5, 0.5])


def test_intervals_print_as_figures_and_as_points():
    assert str(Interval(0.9125, 0.9, 0.925)) == "0.9125 [0.9000, 0.9250]"
    assert Interval(0.0162, 0.0049, 0.0306).as_points() == "+1.62 [+0.49, +3.06]"


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="non-empty vector"):
        bootstrap_mean([])
    with pytest.raises(ValueError, match="3 scores but 2 groups"):
        bootstrap_mean([1, 0, 1], groups=["a", "b"])
    with pytest.raises(ValueError, match="two non-empty vectors"):
        independent_difference([1, 0], [])
    with pytest.raises(ValueError, match="the same clips"):
        paired_difference([1, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="runs x clips"):
        pooled_scores([1, 0])
