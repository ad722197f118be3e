"""The test clips of a competition, and their predictions: every test ID gets a row, from the
blend where its clip is usable, the fallback class where it is not."""

import dataclasses
import os

import numpy as np
import pandas as pd

from ..blend.bandwidth import readable_rates
from ..blend.members import Blend
from ..blend.recordings import KnownRecordings, recording_fingerprints, vote_by_recording
from ..competition.dataset import Competition, PreflightReport
from ..config import AudioConfig, TrainConfig
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


def predict_test(
    blend: Blend,
    config: TrainConfig,
    audio: AudioConfig,
    competition: Competition,
    test: TestClips,
    known: KnownRecordings | None,
    fallback: str,
) -> tuple:
    """(the submission, the blend's probabilities by test ID): every test ID predicted with the
    blend of the fold networks (over their test-time views) and the classical models (matched to
    the clip's sample rate where the blend has them), voted over the clips that look like slices
    of one recording (linked with each other and with the `known` training clips; when
    `config.recording_vote` is on), the fallback class where there is no usable clip."""
    probabilities = np.full((len(competition.test_ids), len(competition.classes)), np.nan, dtype=np.float32)
    row_of = {p: i for i, p in enumerate(competition.test_paths) if p is not None}
    ok = test.clips.ok
    rows = np.array([row_of[p] for p in test.clips.paths], dtype=np.int64)[ok]
    readable = test.clips.inputs.take(ok)
    if len(rows):
        blended = blend.average(blend.predict(readable, test.rates[ok]))
        if config.recording_vote:
            blended = vote_by_recording(blended, recording_fingerprints(readable.log_mels, audio), known)
        probabilities[rows] = blended
    usable = np.zeros(len(competition.test_ids), dtype=bool)
    usable[rows] = True
    names = to_class_names(np.nan_to_num(probabilities), competition.classes, usable, fallback)
    table = pd.DataFrame(probabilities, columns=competition.classes)
    table.insert(0, "ID", competition.test_ids)
    return make_submission(competition.test_ids, names), table


def probabilities_beside(submission_path) -> str:
    """Where --predict-only writes the test probabilities: beside the submission, e.g.
    submissions/submission_probabilities.csv."""
    return os.path.splitext(submission_path)[0] + "_probabilities.csv"
