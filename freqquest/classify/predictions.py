"""The test clips of a competition, and their predictions: every test ID gets a row, from the
blend where its clip is usable, the fallback class where it is not."""

import dataclasses
import os

import numpy as np
import pandas as pd

from ..blend.bandwidth import readable_rates
from ..blend.members import Blend
from ..blend.reuse import Matches
from ..blend.whole_set import TrainingClips, predict_set
from ..competition.dataset import Competition, PreflightReport
from ..config import TrainConfig
from ..features.inputs import ClipSet, extract_clip_set
from ..features.store import FeatureStore
from .submission import make_submission, to_class_names


@dataclasses.dataclass
class TestClips:
    """The competition's test files with what the members read of them, each file's native rate
    (0 where its audio could not be decoded) and the test IDs without a usable clip, with the reason."""

    clips: ClipSet
    rates: np.ndarray
    unreadable: dict  # test ID -> reason

    @classmethod
    def extract(
        cls, competition: Competition, report: PreflightReport, store: FeatureStore, embedders: dict
    ) -> "TestClips":
        clips = extract_clip_set(store, [p for p in competition.test_paths if p is not None], embedders, "test")
        failed = clips.failed
        decoded = {i: failed[p] for i, p in zip(competition.test_ids, competition.test_paths) if p in failed}
        return cls(clips, readable_rates(clips), report.unreadable_test | decoded)

    @property
    def example_clip(self) -> str | None:
        """A readable test file: what the next commands name."""
        return next((p for p, ok in zip(self.clips.paths, self.clips.ok) if ok), None)


@dataclasses.dataclass
class TestPrediction:
    """The submission, the probabilities by test ID, each readable test clip's match to the training
    recordings (`matches`), the share of the test clips estimated to be slices of training
    recordings and how many look like slices by their own score (None without a readable test
    clip; the share also with too few training recordings to tell)."""

    submission: pd.DataFrame
    probabilities: pd.DataFrame
    matches: pd.DataFrame
    matched: int | None
    share: float | None
    routed: bool  # whether they took their recording's class


def predict_test(
    blend: Blend, config: TrainConfig, competition: Competition, test: TestClips, train: TrainingClips, fallback: str
) -> TestPrediction:
    """Every test ID: its clip predicted with the rest of the test set (blend/whole_set.py), the
    fallback class where there is no usable clip."""
    probabilities = np.full((len(competition.test_ids), len(competition.classes)), np.nan, dtype=np.float32)
    row_of = {p: i for i, p in enumerate(competition.test_paths) if p is not None}
    ok = test.clips.ok
    rows = np.array([row_of[p] for p in test.clips.paths], dtype=np.int64)[ok]
    matched = share = None
    matches = pd.DataFrame(columns=MATCH_COLUMNS)
    if len(rows):
        prediction = predict_set(blend, config, train, None, test.clips.inputs.take(ok), test.rates[ok])
        probabilities[rows] = prediction.probabilities
        matched, share = int(prediction.matches.matched.sum()), prediction.matches.share
        matches = match_table([competition.test_ids[r] for r in rows], prediction.matches, train)
    usable = np.zeros(len(competition.test_ids), dtype=bool)
    usable[rows] = True
    names = to_class_names(np.nan_to_num(probabilities), competition.classes, usable, fallback)
    table = pd.DataFrame(probabilities, columns=competition.classes)
    table.insert(0, "ID", competition.test_ids)
    return TestPrediction(
        make_submission(competition.test_ids, names), table, matches, matched, share, config.route_reused
    )


MATCH_COLUMNS = ["ID", "nearest_training_clip", "recording", "score", "matched", "slice_posterior"]


def match_table(ids: list, matches: Matches, train: TrainingClips) -> pd.DataFrame:
    """Each test clip's nearest training clip and its recording, its score (Lowe's ratio), whether
    its score alone took it for a slice of that recording, and its posterior of being one given
    the whole test set: what to read when asking why a clip took its recording's class."""
    return pd.DataFrame(
        {
            "ID": ids,
            "nearest_training_clip": [os.path.basename(train.paths[i]) for i in matches.nearest],
            "recording": train.groups[matches.nearest],
            "score": np.round(matches.score, 4),
            "matched": matches.matched,
            "slice_posterior": np.round(matches.posterior, 4),
        },
        columns=MATCH_COLUMNS,
    )


def probabilities_beside(submission_path) -> str:
    """Where --predict-only writes the test probabilities: beside the submission, e.g.
    submissions/submission_probabilities.csv."""
    return os.path.splitext(submission_path)[0] + "_probabilities.csv"
