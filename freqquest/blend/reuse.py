"""Which clips are slices of a training recording, told from the audio (never from file names).

A competition's test set either holds new recordings (an honest split) or other slices of the
training recordings (a random split, as the reference leaderboard's is). A slice of a training
recording has a training clip much nearer to it than any clip of another recording; a clip of a
new recording has, at best, near clips of several recordings alike. So each clip is matched to
its nearest training clip (cosine distance in BirdNET's embedding, or in the standardized log-Mel
statistics of a recipe without one), and the ratio of that distance to the distance of the
nearest clip of any other training recording is its score (Lowe's ratio test): small for a slice
of the nearest clip's recording.

The threshold is set on the training clips, whose recordings their file names give: each
training clip, its own recording left out, stands for a clip of a new recording, and the
threshold is the FALSE_MATCH_SHARE-th quantile of their scores. A clip of a new recording is then
taken for a slice of a training recording about that often.

A matched clip takes the class of the recording it was matched to: that is what memorizing the
training recordings is worth, and with BirdNET's embedding it is worth more than any model of
the class (benchmarks/README.md).
"""

import dataclasses

import numpy as np

FALSE_MATCH_SHARE = 0.1
BLOCK = 1024  # query rows per block of distances: bounds the temporaries to a few MB per thousand clips


def unit_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


@dataclasses.dataclass(frozen=True)
class Matches:
    """Each clip's nearest training clip, its score (Lowe's ratio), and whether it was matched."""

    nearest: np.ndarray  # index of the nearest training clip
    score: np.ndarray
    matched: np.ndarray  # bool


@dataclasses.dataclass
class RecordingMatcher:
    """The training clips' rows (unit length, after `center` and `scale`), labels and recordings,
    and the threshold they set (None with fewer than three recordings: nothing is matched)."""

    rows: np.ndarray
    labels: np.ndarray
    recordings: np.ndarray
    threshold: float | None
    center: np.ndarray | None = None
    scale: np.ndarray | None = None

    @classmethod
    def fit(cls, rows, labels, recordings, standardize: bool = False) -> "RecordingMatcher":
        """`standardize`: rows whose dimensions have their own units (statistics in dB) are
        standardized first; an embedding is compared as it is."""
        rows, recordings = np.asarray(rows, dtype=np.float32), np.asarray(recordings)
        if len(rows) != len(labels) or len(rows) != len(recordings):
            raise ValueError(f"{len(rows)} rows, {len(labels)} labels and {len(recordings)} recordings")
        center = rows.mean(axis=0) if standardize else None
        scale = rows.std(axis=0) + 1e-6 if standardize else None
        matcher = cls(
            unit_rows(rows if center is None else (rows - center) / scale),
            np.asarray(labels),
            recordings,
            None,
            center,
            scale,
        )
        if len(np.unique(recordings)) >= 3:
            own = _scores(matcher.rows, matcher.rows, recordings, exclude=recordings)[1]
            matcher.threshold = float(np.quantile(own, FALSE_MATCH_SHARE))
        return matcher

    def match(self, rows) -> Matches:
        rows = np.asarray(rows, dtype=np.float32)
        rows = unit_rows(rows if self.center is None else (rows - self.center) / self.scale)
        nearest, score = _scores(rows, self.rows, self.recordings)
        matched = score < self.threshold if self.threshold is not None else np.zeros(len(rows), bool)
        return Matches(nearest, score, matched)

    def predict(self, matches: Matches, n_classes: int) -> np.ndarray:
        """One-hot probabilities of each clip's nearest training clip's class."""
        return np.eye(n_classes, dtype=np.float32)[self.labels[matches.nearest]]


def _scores(queries: np.ndarray, rows: np.ndarray, recordings: np.ndarray, exclude=None) -> tuple:
    """(each query's nearest row, its distance divided by that of the nearest row of another
    recording); with `exclude` (a recording per query), the rows of that recording are left out."""
    nearest, score = np.empty(len(queries), np.int64), np.empty(len(queries), np.float64)
    for start in range(0, len(queries), BLOCK):
        distances = 1.0 - queries[start : start + BLOCK] @ rows.T
        if exclude is not None:
            distances[exclude[start : start + BLOCK, None] == recordings[None, :]] = np.inf
        best = distances.argmin(axis=1)
        first = distances[np.arange(len(best)), best]
        others = np.where(recordings[None, :] == recordings[best][:, None], np.inf, distances).min(axis=1)
        nearest[start : start + len(best)] = best
        score[start : start + len(best)] = np.maximum(first, 0.0) / np.maximum(others, 1e-12)
    return nearest, score


def describe_matches(matches: Matches, judged: str, routed: bool) -> str:
    """e.g. '612 of 740 test clips look like slices of training recordings: they take ...'."""
    n, found = len(matches.matched), int(matches.matched.sum())
    then = "they take their recording's class" if routed else "they are predicted like the others (no routing)"
    return (
        f"{found} of {n} {judged} clips look like slices of training recordings ({then}; a clip of a new recording "
        f"is taken for one about {FALSE_MATCH_SHARE:.0%} of the time)"
    )
