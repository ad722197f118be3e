"""Predict any clip with a finished run, as its submission does, and see why.

    python -m freqquest.predict RUN_DIR clip.wav [more ...] [--top-k 5] [--json] [--explain OUT_DIR]
                                [--member NAME] [--hop SECONDS] [--tflite MODEL.tflite]

The probabilities come from the run's whole predictor: the fold networks over their test-time
views, the members refitted on every clip, bandwidth matching for a clip recorded at a low rate.
A test clip predicted here gets the probabilities `test_probabilities.csv` gave it before the
recording vote (which needs the other test clips). A clip longer than the run's clips (4 s) is
scored in windows `--hop` apart; its answer is the mean over the windows, and the window that
gave the top class its highest probability is the one that decided. A shorter clip is fitted to
the window as in training.
"""
import argparse
import dataclasses
import json
import logging
import os
import sys

import numpy as np

from .audio import AudioLoadError, cut_windows, decode, resample, window_starts
from .bandwidth import low_rates, match_bandwidth, matched_dir
from .classical import classical_path, load_classical
from .config import NETWORK, read_run_config
from .dataset import MIN_TRAIN_SECONDS, is_competition_root, scan_competition
from .embeddings import recipe_embedders, shared_passes
from .features import FeatureStore, log_mel
from .inputs import ClipInputs
from .members import load_blend
from .runs import require_complete

log = logging.getLogger(__name__)


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

    def top_k(self, k: int) -> list:
        order = np.argsort(-self.probabilities)[:k]
        return [(self.classes[i], float(self.probabilities[i])) for i in order]

    def as_dict(self, k: int) -> dict:
        return {"path": self.path, "shown": self.shown, "seconds": round(self.seconds, 3), "sample_rate": self.sample_rate,
                "top": [{"class": c, "probability": round(p, 6)} for c, p in self.top_k(k)],
                "windows": [{"start": round(float(s), 3), "probabilities": dict(zip(self.classes, map(float, w)))}
                            for s, w in zip(self.starts, self.windows)],
                "deciding_window": self.deciding_window, "notes": self.notes}


class Predictor:
    """A finished run loaded once (its networks, its members refitted on every clip, its matched
    models), predicting any file. `tflite` replaces the network member by an exported model."""

    def __init__(self, run_dir, cache_dir=None, workers=1, tflite=None):
        require_complete(run_dir, f"python Audio_Classification_Kaggle.py --resume {run_dir}")
        saved = read_run_config(run_dir)
        self.run_dir, self.saved = str(run_dir), saved
        self.audio, self.config, self.classes = saved["audio"], saved["train"], saved["classes"]
        self.blend = load_blend(run_dir, self.config, len(self.classes))
        self.embedders = recipe_embedders(self.config)
        self.store = FeatureStore(self.audio, cache_dir, workers)
        self.matchable = self.blend.matchable() if self.config.match_bandwidth else []
        if tflite is not None:
            from .export import TfliteNetwork

            if self.blend.network is None:
                raise ValueError(f"{run_dir} has no network: --tflite replaces a network member")
            self.blend.network.models = [TfliteNetwork(tflite)]
        self._load_saved_matches()

    @property
    def members(self) -> tuple:
        return self.config.members

    def _load_saved_matches(self) -> None:
        """The matched models the run saved (for the low rates its test clips came at)."""
        for entry in sorted(os.listdir(self.run_dir)) if self.matchable else ():
            if entry.startswith("classical_") and entry.endswith("hz"):
                rate = int(entry[len("classical_"):-2])
                folder = matched_dir(self.run_dir, rate)
                if all(os.path.isfile(classical_path(folder, m.name)) for m in self.matchable):
                    for member in self.matchable:
                        member.matched[rate] = load_classical(folder, member.name)

    def match_rate(self, rate: int) -> str | None:
        """Models matched to a low rate the run has none for, fitted on its training clips (not
        saved); a note where they cannot be (the training data is not on this machine)."""
        if not self.matchable or rate in self.matchable[0].matched or not low_rates([rate], self.audio):
            return None
        data = self.saved["data"]
        if not is_competition_root(data):
            return (f"recorded at {rate} Hz, but the run's training clips ({data}) are not here to match its classical "
                    f"models to that rate: judged by the full-band ones")
        competition = scan_competition(data)
        match_bandwidth(self.blend, self.config, self.store, competition.train_paths, competition.train_labels,
                        np.array([rate]), self.run_dir, save=False)
        return None

    def inputs_of(self, clip: np.ndarray, rate: int, starts: np.ndarray) -> ClipInputs:
        """The windows of a decoded clip as the members read them: log-Mels, and what each
        pretrained model computes of the window, as the pipeline computes them for a file."""
        mel_windows = cut_windows(resample(clip, rate, self.audio.sample_rate), starts, self.audio)
        pretrained = {}
        extractors = {name: embedder.extractor(self.audio) for name, embedder in self.embedders.items()}
        for names, extraction in shared_passes(extractors):
            config = extractors[names[0]].clip_config
            found = [extraction.of_clip(w) for w in cut_windows(resample(clip, rate, config.sample_rate), starts, config)]
            for k, name in enumerate(names):
                pretrained[name] = np.stack([f[k] for f in found])
        return ClipInputs(np.stack([log_mel(w, self.audio) for w in mel_windows]), pretrained)

    def predict(self, path, hop: float | None = None, member: str | None = None) -> Prediction:
        """The prediction for a file; ValueError naming it when it does not decode."""
        try:
            clip, rate = decode(path)
        except AudioLoadError as error:
            raise ValueError(str(error)) from None
        return self.predict_clip(clip, rate, str(path), hop, member)

    def predict_clip(self, clip: np.ndarray, rate: int, path: str, hop: float | None = None,
                     member: str | None = None) -> Prediction:
        """The prediction for a decoded clip (mono at its own `rate`), `path` naming it."""
        if member is not None and member not in self.members:
            raise ValueError(f"{self.run_dir} has no member {member!r}; its members: {', '.join(self.members)}")
        seconds = len(clip) / rate
        window = self.audio.duration
        starts = window_starts(seconds, window, hop or window / 2)
        notes = [f"only {seconds:.3f} s of audio, looped to {window:g} s: a guess"] if seconds < MIN_TRAIN_SECONDS else []
        note = self.match_rate(rate)
        notes += [note] if note else []
        members = self.blend.predict(self.inputs_of(clip, rate, starts), np.full(len(starts), rate))
        windows = members[member] if member else self.blend.average(members)
        return Prediction(path, self.classes, windows.mean(axis=0), windows, starts, window, members, seconds, rate,
                          member or "the blend", clip, notes)


def format_table(prediction: Prediction, k: int) -> str:
    lines = [f"{prediction.path}: {prediction.seconds:.2f} s at {prediction.sample_rate} Hz ({prediction.shown})"]
    lines += [f"  {name:<16} {p:7.4f}" for name, p in prediction.top_k(k)]
    if len(prediction.starts) > 1:
        top = prediction.classes[prediction.top]
        lines.append(f"  {len(prediction.starts)} windows; the one at {prediction.starts[prediction.deciding_window]:.1f} s "
                     f"decided ({top} {prediction.windows[prediction.deciding_window, prediction.top]:.4f}):")
        lines += [f"    {s:6.1f} s  " + "  ".join(f"{c} {p:.3f}" for c, p in zip(prediction.classes, w))
                  for s, w in zip(prediction.starts, prediction.windows)]
    lines += [f"  note: {note}" for note in prediction.notes]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m freqquest.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p.add_argument("clips", nargs="+", metavar="CLIP", help="audio files: WAV, FLAC, OGG, MP3 (what libsndfile decodes)")
    p.add_argument("--top-k", type=int, default=5, help="classes to show (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout instead of the tables")
    p.add_argument("--member", help=f"one member of the blend alone, e.g. {NETWORK} or birdnet (default: the blend)")
    p.add_argument("--hop", type=float, help="seconds between the windows of a long clip (default: half a window)")
    p.add_argument("--explain", metavar="OUT_DIR", help="write one PNG per clip: waveform, log-Mel, Grad-CAM or "
                   "occlusion, the window timeline, feature maps")
    p.add_argument("--tflite", metavar="MODEL", help="an exported network (python -m freqquest.export) in place of the run's")
    p.add_argument("--cache-dir", metavar="DIR", help="feature cache, for matching a low rate the run has no models for")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up and C++ log lines")
    args = p.parse_args(argv)
    if args.top_k < 1 or (args.hop is not None and args.hop <= 0):
        p.error("--top-k and --hop must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from . import scripts

    scripts.start(args.verbose)

    def work():
        predictor = Predictor(args.run_dir, args.cache_dir, tflite=args.tflite)
        results = []
        for path in args.clips:
            prediction = predictor.predict(path, args.hop, args.member)
            results.append(prediction)
            if not args.json:
                print(format_table(prediction, args.top_k))
            if args.explain:
                from .explain import explain, plot_explanation

                figure = os.path.join(args.explain, os.path.splitext(os.path.basename(path))[0] + ".png")
                plot_explanation(explain(predictor, prediction), figure)
                log.info("explained: %s", figure)
        if args.json:
            print(json.dumps([r.as_dict(args.top_k) for r in results], indent=2))

    return scripts.run_guarded(work)


if __name__ == "__main__":
    sys.exit(main())
