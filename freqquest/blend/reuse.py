"""Which clips are slices of a training recording, told from the audio (never from file names),
and how many of a whole set are.

A competition's test set holds new recordings (an honest split), other slices of the training
recordings (a random split, as the reference leaderboard's is), or a mix. A slice of a training
recording has a training clip much nearer to it than any clip of another recording; a clip of a
new recording has, at best, near clips of several recordings alike. So each clip is matched to
its nearest training clip (cosine distance in BirdNET's embedding, or in the standardized log-Mel
statistics of a recipe without one), and the ratio of that distance to the distance of the
nearest clip of any other training recording is its score (Lowe's ratio test): small for a slice
of the nearest clip's recording.

What the two kinds of clip score is measured on the training clips, whose recordings their file
names give: each training clip scored with its own recording left out stands for a clip of a new
recording; each scored with only itself left out, for a slice of a training recording. The whole
set's scores are then a mixture of those two distributions, and the mixing share (the part of the
set that are slices of training recordings) is estimated by expectation-maximization with the two
densities held fixed; each clip's posterior follows from the share and its own score. A clip
weighs its evidence against what the whole set shows: a middling score means "slice" in a set of
slices and "new" in a set of new recordings.

A clip whose score alone is sure, below what all but FALSE_MATCH_SHARE of the training clips
standing for new recordings score, is matched: it takes the class of the recording it was matched
to. That is what memorizing the training recordings is worth, and with BirdNET's embedding it is
worth more than any model of the class. The share and the posteriors are said, not routed by:
clips routed by their posterior, or every clip of a set estimated to be mostly slices, scored
no better on the yardstick (benchmarks/README.md, issue 39).
"""

import dataclasses

import numpy as np
from scipy.stats import gaussian_kde

FALSE_MATCH_SHARE = 0.1  # of the clips of new recordings, those whose score alone takes them for slices
EM_STEPS = 200
SCORE_FLOOR = 1e-3  # scores are compared on a log scale; a copy's score of 0 is taken as this
BLOCK = 1024  # query rows per block of distances: bounds the temporaries to a few MB per thousand clips


def unit_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


@dataclasses.dataclass(frozen=True)
class Matches:
    """Each clip's nearest training clip, its score (Lowe's ratio), whether its score alone takes it
    for a slice of the nearest clip's recording, its posterior of being one given the whole set,
    and the share of the set estimated to be slices (None: unknown, with fewer than three training
    recordings or one clip)."""

    nearest: np.ndarray  # index of the nearest training clip
    score: np.ndarray
    matched: np.ndarray  # bool: a score below what all but FALSE_MATCH_SHARE of new recordings' clips score
    posterior: np.ndarray
    share: float | None


@dataclasses.dataclass
class RecordingMatcher:
    """The training clips' rows (unit length, after `center` and `scale`), labels and recordings,
    and the scores of the two kinds measured on them: `new_scores` (each clip, its own recording
    left out) and `slice_scores` (each clip with a sibling, only itself left out); None with fewer
    than three recordings, or no sibling: nothing is then taken for a slice."""

    rows: np.ndarray
    labels: np.ndarray
    recordings: np.ndarray
    new_scores: np.ndarray | None
    slice_scores: np.ndarray | None
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
        rows = unit_rows(rows if center is None else (rows - center) / scale)
        new_scores = slice_scores = None
        _, index, sizes = np.unique(recordings, return_inverse=True, return_counts=True)
        siblings = sizes[index] > 1
        if len(sizes) >= 3 and siblings.sum() >= 2:
            new_scores = _scores(rows, rows, recordings, exclude=recordings)[1]
            itself = np.arange(len(rows)).astype(str)
            slice_scores = _scores(rows[siblings], rows, itself, exclude=itself[siblings], ranked_by=recordings)[1]
        return cls(rows, np.asarray(labels), recordings, new_scores, slice_scores, center, scale)

    def match(self, rows) -> Matches:
        rows = np.asarray(rows, dtype=np.float32)
        rows = unit_rows(rows if self.center is None else (rows - self.center) / self.scale)
        nearest, score = _scores(rows, self.rows, self.recordings)
        if self.new_scores is None:
            return Matches(nearest, score, np.zeros(len(rows), bool), np.zeros(len(rows)), None)
        matched = score < np.quantile(self.new_scores, FALSE_MATCH_SHARE)
        if len(rows) < 2:
            return Matches(nearest, score, matched, matched.astype(float), None)
        share, posterior = estimate_share(score, self.new_scores, self.slice_scores)
        return Matches(nearest, score, matched, posterior, share)

    def predict(self, matches: Matches, n_classes: int) -> np.ndarray:
        """One-hot probabilities of each clip's nearest training clip's class."""
        return np.eye(n_classes, dtype=np.float32)[self.labels[matches.nearest]]


def estimate_share(scores, new_scores, slice_scores) -> tuple[float, np.ndarray]:
    """(the share of `scores` drawn from the slices' distribution, each score's posterior of being
    one): expectation-maximization of the mixing share, the two densities (kernel estimates on
    the log scores of the two reference sets) held fixed."""
    log_of = [
        np.log(np.maximum(np.asarray(x, dtype=np.float64), SCORE_FLOOR)) for x in (scores, new_scores, slice_scores)
    ]
    density_new, density_slice = (_density(reference, log_of[0]) for reference in log_of[1:])
    share = 0.5
    for _ in range(EM_STEPS):
        posterior = share * density_slice / np.maximum(share * density_slice + (1 - share) * density_new, 1e-300)
        share = float(posterior.mean())
    return share, posterior


def _density(reference: np.ndarray, at: np.ndarray) -> np.ndarray:
    """A kernel density estimate of `reference` at `at` (a reference of one value: a narrow bump)."""
    if np.ptp(reference) == 0:
        reference = reference + np.random.default_rng(0).normal(0, 0.05, len(reference))
    return gaussian_kde(reference)(at)


def _scores(queries: np.ndarray, rows: np.ndarray, recordings: np.ndarray, exclude=None, ranked_by=None) -> tuple:
    """(each query's nearest row, its distance divided by that of the nearest row of another
    recording); with `exclude` (a recording per query), the rows of that recording are left out.
    `ranked_by` names the recordings "another recording" means, where `recordings` only says what
    to exclude (a clip scored with only itself left out: `recordings` is then each row's own name)."""
    ranked_by = recordings if ranked_by is None else ranked_by
    nearest, score = np.empty(len(queries), np.int64), np.empty(len(queries), np.float64)
    for start in range(0, len(queries), BLOCK):
        distances = 1.0 - queries[start : start + BLOCK] @ rows.T
        if exclude is not None:
            distances[exclude[start : start + BLOCK, None] == recordings[None, :]] = np.inf
        best = distances.argmin(axis=1)
        first = distances[np.arange(len(best)), best]
        others = np.where(ranked_by[None, :] == ranked_by[best][:, None], np.inf, distances).min(axis=1)
        nearest[start : start + len(best)] = best
        score[start : start + len(best)] = np.maximum(first, 0.0) / np.maximum(others, 1e-12)
    return nearest, score


def describe_matches(matches: Matches, judged: str, routed: bool) -> str:
    """e.g. 'about 85% of the 740 test clips are slices of training recordings, ...; 612 look like
    one by their own score: they take its class ...'."""
    n, found = len(matches.score), int(matches.matched.sum())
    then = "they take their recording's class" if routed else "they are predicted like the others (no routing)"
    matched = (
        f"{found} look like slices of one by their own score ({then}; a clip of a new recording is taken for one "
        f"about {FALSE_MATCH_SHARE:.0%} of the time)"
    )
    if matches.share is None:
        return f"of the {n} {judged} clips, {matched}; too few recordings or clips to estimate the share of slices"
    return (
        f"about {matches.share:.0%} of the {n} {judged} clips are slices of training recordings, judging by the whole "
        f"set's match scores against those of the training clips; {matched}"
    )
