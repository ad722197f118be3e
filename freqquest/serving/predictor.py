"""Predict any clip with a finished run, as its submission does (`python -m freqquest.predict`
and the page use it). What the probabilities are, and how a long clip is scored in windows, is
said where users read it: `freqquest/predict.py`'s help.
"""

import dataclasses
import os

import numpy as np
import pandas as pd

from ..blend.bandwidth import load_matched, low_rates, match_bandwidth
from ..blend.classical import ModelFolder
from ..blend.members import load_blend, recipe_embedders
from ..competition.audio import AudioLoadError, decode, window_starts
from ..competition.dataset import MIN_TRAIN_SECONDS, is_competition_root, scan_competition
from ..features.inputs import ClipInputs, inputs_of_windows
from ..features.store import FeatureStore
from ..runs import TEST_MATCHES, TEST_PROBABILITIES, FinishedRun, open_run


@dataclasses.dataclass
class Prediction:
    """One clip's answer, with what it was made of."""

    path: str
    classes: list
    probabilities: np.ndarray  # (classes,): the mean over the windows
    windows: np.ndarray  # (windows, classes)
    starts: np.ndarray  # each window's start, seconds
    window_seconds: float  # each window's length (the run's clips')
    members: dict  # member name -> (windows, classes)
    seconds: float  # the clip's length
    sample_rate: int  # the file's own rate
    shown: str  # what `probabilities` are: "the blend" or one member's name
    audio: np.ndarray  # the clip as decoded: float32 mono at `sample_rate` (what an explanation draws and reads)
    notes: list = dataclasses.field(default_factory=list)

    @property
    def top(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def deciding_window(self) -> int:
        """The window that gave the top class its highest probability."""
        return int(self.windows[:, self.top].argmax())

    @property
    def deciding_span(self) -> tuple[float, float]:
        """Where the deciding window lies, in seconds of the clip (a short clip is looped to fill it)."""
        start = float(self.starts[self.deciding_window])
        return start, start + self.window_seconds

    def describe_deciding(self) -> str:
        start, end = self.deciding_span
        return f"the window that decided ({start:.2f}-{end:.2f} s)"

    def top_k(self, k: int) -> list:
        order = np.argsort(-self.probabilities)[:k]
        return [(self.classes[i], float(self.probabilities[i])) for i in order]

    def as_dict(self, k: int) -> dict:
        """What `predict --json` prints and the page's API answers."""
        return {
            "path": self.path,
            "shown": self.shown,
            "seconds": round(self.seconds, 3),
            "sample_rate": self.sample_rate,
            "top": [{"class": c, "probability": round(p, 6)} for c, p in self.top_k(k)],
            "windows": [
                {"start": round(float(s), 3), "probabilities": dict(zip(self.classes, map(float, w)))}
                for s, w in zip(self.starts, self.windows)
            ],
            "deciding_window": self.deciding_window,
            "deciding_window_span": [round(t, 3) for t in self.deciding_span],
            "window_seconds": self.window_seconds,
            "notes": self.notes,
        }


class Predictor:
    """A finished run loaded once (its networks, its members refitted on every clip, its matched
    models), predicting any file. `tflite` replaces the network member by an exported model."""

    def __init__(self, run_dir, cache_dir=None, workers=1, tflite=None):
        self.run = open_run(run_dir)
        self.run_dir, self.audio, self.config, self.classes = (
            self.run.run_dir,
            self.run.audio,
            self.run.train,
            self.run.classes,
        )
        self.blend = load_blend(run_dir, self.config, len(self.classes))
        self.embedders = recipe_embedders(self.config)
        self.store = FeatureStore(self.audio, cache_dir, workers)
        self.matchable = self.blend.matchable() if self.config.match_bandwidth else []
        if tflite is not None:
            from .export import TfliteNetwork  # TensorFlow's interpreter: only for an exported model

            if self.blend.network is None:
                raise ValueError(f"{run_dir} has no network: --tflite replaces a network member")
            self.blend.network.models = [TfliteNetwork(tflite)]
        if self.matchable:
            load_matched(self.blend, self.run_dir)

    @property
    def members(self) -> tuple:
        return self.config.members

    def match_rate(self, rate: int) -> str | None:
        """Models matched to a low rate the run has none for, fitted on its training clips (not
        saved); a note where they cannot be (the training data is not on this machine)."""
        if not self.matchable or rate in self.matchable[0].matched or not low_rates([rate], self.audio):
            return None
        data = self.run.data
        if not is_competition_root(data):
            return (
                f"recorded at {rate} Hz, but the run's training clips ({data}) are not here to match its classical "
                f"models to that rate: judged by the full-band ones"
            )
        competition = scan_competition(data)
        match_bandwidth(
            self.blend,
            self.config,
            self.store,
            competition.train_paths,
            competition.train_labels,
            np.array([rate]),
            ModelFolder(self.run_dir, save=False),
        )
        return None

    def inputs_of(self, clip: np.ndarray, rate: int, starts: np.ndarray) -> ClipInputs:
        """The windows of a decoded clip as the members read them (features.inputs.inputs_of_windows)."""
        return inputs_of_windows(clip, rate, starts, self.audio, self.embedders)

    def predict(self, path, hop: float | None = None, member: str | None = None) -> Prediction:
        """The prediction for a file; ValueError naming it when it does not decode."""
        try:
            clip, rate = decode(path)
        except AudioLoadError as error:
            raise ValueError(str(error)) from None
        prediction = self.predict_clip(clip, rate, str(path), hop, member)
        note = None if member else submission_note(self.run, path, prediction)
        prediction.notes += [note] if note else []
        return prediction

    def predict_clip(
        self, clip: np.ndarray, rate: int, path: str, hop: float | None = None, member: str | None = None
    ) -> Prediction:
        """The prediction for a decoded clip (mono at its own `rate`), `path` naming it."""
        if member is not None and member not in self.members:
            raise ValueError(f"{self.run_dir} has no member {member!r}; its members: {', '.join(self.members)}")
        seconds = len(clip) / rate
        window = self.audio.duration
        starts = window_starts(seconds, window, hop or window / 2)
        notes = (
            [f"only {seconds:.3f} s of audio, looped to {window:g} s: a guess"] if seconds < MIN_TRAIN_SECONDS else []
        )
        note = self.match_rate(rate)
        notes += [note] if note else []
        finite = np.isfinite(clip)
        if not finite.any() or not np.any(clip[finite]):
            notes.append("the clip is silent (no sample is a number other than 0): its class is a guess")
        elif not finite.all():
            notes.append(f"{np.sum(~finite)} of its samples are not numbers (NaN or infinite), read as silence")
        members = self.blend.predict(self.inputs_of(clip, rate, starts), np.full(len(starts), rate))
        windows = members[member] if member else self.blend.average(members)
        return Prediction(
            path,
            self.classes,
            windows.mean(axis=0),
            windows,
            starts,
            window,
            members,
            seconds,
            rate,
            member or "the blend",
            clip,
            notes,
        )


def submission_note(run: FinishedRun, path, prediction: Prediction) -> str | None:
    """For one of the run's own test clips whose row in the submission differs from `prediction`
    (the row also weighs the rest of the test set), the note that says so, and why."""
    test_folder = os.path.join(run.data, "test", "test")
    table_path = os.path.join(run.run_dir, TEST_PROBABILITIES)
    if os.path.realpath(os.path.dirname(path)) != os.path.realpath(test_folder) or not os.path.isfile(table_path):
        return None
    clip_id = os.path.basename(path)
    table = pd.read_csv(table_path, index_col="ID")
    if clip_id not in table.index:
        return None
    row = table.loc[clip_id, run.classes].to_numpy(np.float64)
    top = int(np.nan_to_num(row, nan=-1.0).argmax())
    if np.isnan(row[top]) or (top == prediction.top and abs(row[top] - prediction.probabilities[top]) < 0.005):
        return None
    says = f"the submission's row for {clip_id} is {run.classes[top]} {row[top]:.2f}"
    matches_path = os.path.join(run.run_dir, TEST_MATCHES)
    matches = pd.read_csv(matches_path, index_col="ID") if os.path.isfile(matches_path) else None
    if run.train.route_reused and matches is not None and clip_id in matches.index and matches.loc[clip_id, "matched"]:
        match = matches.loc[clip_id]
        why = (
            f"the clip sounds like a slice of training recording {match['recording']} (its nearest training clip "
            f"{match['nearest_training_clip']}) and takes that recording's class"
        )
    else:
        why = "the recording vote and the pseudo-labels weigh it with the rest of the test set"
    return f"{says}: {why} (here the clip is heard alone)"
