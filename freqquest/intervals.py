"""95% intervals from a bootstrap: a figure's uncertainty, and a paired comparison's.

Clips of one recording err together (the recording vote makes a recording right or wrong as a
whole), so the unit resampled is the group a clip belongs to: its recording when there is one,
the clip itself otherwise. A comparison of two recipes resamples the same groups for both, so
the interval is that of their difference on the same clips (paired), much narrower than the two
intervals side by side suggest. Two generators' clips are different clips: their difference
resamples each set on its own (independent_difference)."""

import dataclasses

import numpy as np

DRAWS = 2000
LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean and its 95% interval."""

    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.mean:.4f} [{self.low:.4f}, {self.high:.4f}]"

    def as_points(self) -> str:
        """In percentage points, signed: '+1.62 [+0.49, +3.06]'."""
        return f"{100 * self.mean:+.2f} [{100 * self.low:+.2f}, {100 * self.high:+.2f}]"

    @property
    def above_zero(self) -> bool:
        return self.low > 0

    @property
    def below_zero(self) -> bool:
        return self.high < 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _group_sums(values: np.ndarray, groups) -> tuple:
    """(per group: the sum of each column of `values`, the number of clips)."""
    if groups is None:
        return values, np.ones(len(values))
    _, index = np.unique(np.asarray(groups), return_inverse=True)
    sums = np.zeros((index.max() + 1, values.shape[1]))
    np.add.at(sums, index, values)
    return sums, np.bincount(index).astype(float)


def _percentile_interval(mean: float, resampled: np.ndarray) -> Interval:
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return Interval(float(mean), float(low), float(high))


def bootstrap_mean(scores, groups=None, draws: int = DRAWS, seed: int = 0) -> Interval:
    """The mean of per-clip `scores` (1 right, 0 wrong, or a fraction when pooled over seeds) with
    the percentile interval of the mean over `draws` resamples of the `groups` (None: the clips)."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 1 or len(scores) == 0:
        raise ValueError(f"need a non-empty vector of per-clip scores, got shape {scores.shape}")
    if groups is not None and len(groups) != len(scores):
        raise ValueError(f"{len(scores)} scores but {len(groups)} groups")
    sums, sizes = _group_sums(scores[:, None], groups)
    picks = np.random.default_rng(seed).integers(0, len(sizes), (draws, len(sizes)))
    return _percentile_interval(scores.mean(), sums[picks, 0].sum(axis=1) / sizes[picks].sum(axis=1))


def paired_difference(scores_a, scores_b, groups=None, draws: int = DRAWS, seed: int = 0) -> Interval:
    """The mean of `scores_a` minus that of `scores_b` (per clip, the same clips), with the interval
    of that difference over resamples of the `groups` shared by both."""
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a paired difference needs scores of the same clips, got {a.shape} and {b.shape}")
    return bootstrap_mean(a - b, groups, draws, seed)


def independent_difference(scores_a, scores_b, draws: int = DRAWS, seed: int = 0) -> Interval:
    """The mean of `scores_a` minus that of `scores_b`, two sets of different clips (two generators'
    samples), with the interval of that difference over resamples of each set on its own."""
    a, b = (np.asarray(s, dtype=float) for s in (scores_a, scores_b))
    if a.ndim != 1 or b.ndim != 1 or not len(a) or not len(b):
        raise ValueError(f"need two non-empty vectors of per-clip scores, got shapes {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    a_means = a[rng.integers(0, len(a), (draws, len(a)))].mean(1)
    b_means = b[rng.integers(0, len(b), (draws, len(b)))].mean(1)
    return _percentile_interval(a.mean() - b.mean(), a_means - b_means)


def pooled_scores(runs: list) -> np.ndarray:
    """Per-clip scores averaged over several runs of the same clips (seeds, splits): each clip
    counts once, with the share of runs that got it right."""
    stacked = np.asarray(runs, dtype=float)
    if stacked.ndim != 2:
        raise ValueError(f"need runs x clips scores, got shape {stacked.shape}")
    return stacked.mean(axis=0)
