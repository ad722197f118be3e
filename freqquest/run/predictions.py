"""The test clips of a competition, and their predictions: every test ID gets a row, from the
blend where its clip is usable, the fallback class where it is not."""

import dataclasses
import os

import numpy as np
import pandas as pd

from ..blend.bandwidth import readable_rates
from ..blend.members import Blend
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


@dataclasses.dataclass
class TestPrediction:
    """The submission, the probabilities by test ID, and how many test clips look like slices of
    training recordings (None without a readable test clip)."""

    submission: pd.DataFrame
    probabilities: pd.DataFrame
    matched: int | None
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
    matched = None
    if len(rows):
        prediction = predict_set(blend, config, train, None, test.clips.inputs.take(ok), test.rates[ok])
        probabilities[rows] = prediction.probabilities
        matched = int(prediction.matches.matched.sum())
    usable = np.zeros(len(competition.test_ids), dtype=bool)
    usable[rows] = True
    names = to_class_names(np.nan_to_num(probabilities), competition.classes, usable, fallback)
    table = pd.DataFrame(probabilities, columns=competition.classes)
    table.insert(0, "ID", competition.test_ids)
    return TestPrediction(make_submission(competition.test_ids, names), table, matched, config.route_reused)


def probabilities_beside(submission_path) -> str:
    """Where --predict-only writes the test probabilities: beside the submission, e.g.
    submissions/submission_probabilities.csv."""
    return os.path.splitext(submission_path)[0] + "_probabilities.csv"
