"""Predict any clip with a finished run, as its submission does, and see why.

    python -m freqquest.predict RUN_DIR clip.wav [more ...] [--top-k 5] [--json] [--explain OUT_DIR]
                                [--member NAME] [--hop SECONDS] [--tflite MODEL.tflite]

The probabilities come from the run's whole predictor: the fold networks over their test-time
views, the members refitted on every clip, bandwidth matching for a clip recorded at a low rate.
A clip is heard alone: the submission's rows also weigh the rest of the test set (the recording
vote, pseudo-labels, routing to a training recording), so a test clip of the run's competition
whose row differs gets a note saying what the row is and why. A clip longer than the run's clips (4 s) is
scored in windows `--hop` apart; its answer is the mean over the windows, and the window that
gave the top class its highest probability is the one that decided. A shorter clip is fitted to
the window as in training.
"""

import argparse
import json
import logging
import os
import sys

from .arguments import ArgumentParser
from .config import NETWORK
from .runs import PREDICT_COMMAND, require_complete
from .scripts import run_command

log = logging.getLogger(__name__)


def format_table(prediction, k: int) -> str:
    lines = [f"{prediction.path}: {prediction.seconds:.2f} s at {prediction.sample_rate} Hz ({prediction.shown})"]
    lines += [f"  {name:<16} {p:7.4f}" for name, p in prediction.top_k(k)]
    if len(prediction.starts) > 1:
        top = prediction.classes[prediction.top]
        lines.append(
            f"  {len(prediction.starts)} windows; the one at {prediction.starts[prediction.deciding_window]:.1f} s "
            f"decided ({top} {prediction.windows[prediction.deciding_window, prediction.top]:.4f}):"
        )
        lines += [
            f"    {s:6.1f} s  " + "  ".join(f"{c} {p:.3f}" for c, p in zip(prediction.classes, w))
            for s, w in zip(prediction.starts, prediction.windows)
        ]
    lines += [f"  note: {note}" for note in prediction.notes]
    return "\n".join(lines)


def clip_path(path: str) -> str:
    """`path`, a clip; ValueError saying what it is otherwise (a folder, nothing)."""
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder, not a clip: give its files (for example {path.rstrip('/')}/*.wav)")
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file")
    return path


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(
        prog="python -m freqquest.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p.add_argument(
        "clips", nargs="+", metavar="CLIP", help="audio files: WAV, FLAC, OGG, MP3 (what libsndfile decodes)"
    )
    p.add_argument("--top-k", type=int, default=5, help="classes to show (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout instead of the tables")
    p.add_argument("--member", help=f"one member of the blend alone, e.g. {NETWORK} or birdnet (default: the blend)")
    p.add_argument("--hop", type=float, help="seconds between the windows of a long clip (default: half a window)")
    p.add_argument(
        "--explain",
        metavar="OUT_DIR",
        help="write one PNG per clip: waveform, log-Mel, Grad-CAM or occlusion, the window timeline, feature maps",
    )
    p.add_argument(
        "--tflite", metavar="MODEL", help="an exported network (python -m freqquest.export) in place of the run's"
    )
    p.add_argument(
        "--cache-dir", metavar="DIR", help="feature cache, for matching a low rate the run has no models for"
    )
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up and C++ log lines")
    args = p.parse_args(argv)
    if args.top_k < 1 or (args.hop is not None and args.hop <= 0):
        p.error("--top-k and --hop must be positive")
    return args


def check(args: argparse.Namespace) -> argparse.Namespace:
    require_complete(args.run_dir, PREDICT_COMMAND)
    return args


def predict_clips(args: argparse.Namespace) -> None:
    from .serving.explain import explain  # TensorFlow: once the scripts have quietened it
    from .serving.explanation_figure import plot_explanation
    from .serving.predictor import Predictor

    predictor = Predictor(args.run_dir, args.cache_dir, tflite=args.tflite)
    if predictor.run.demo:
        log.warning(
            "note: %s was trained on the synthetic demo: its answers on real recordings mean nothing", args.run_dir
        )
    results, failed = [], {}
    for path in args.clips:
        try:
            prediction = predictor.predict(clip_path(path), args.hop, args.member)
        except ValueError as error:  # one bad clip: said, and the next one predicted
            failed[path] = str(error)
            log.error("error: %s", error)
            results.append({"file": path, "error": str(error)})
            continue
        answer = prediction.as_dict(args.top_k)
        if args.explain:
            answer["explanation"] = os.path.join(args.explain, os.path.splitext(os.path.basename(path))[0] + ".png")
            plot_explanation(explain(predictor, prediction), answer["explanation"], predictor.run.demo)
        results.append(answer)
        if not args.json:
            print(format_table(prediction, args.top_k))
            if args.explain:
                print(f"  explained: {answer['explanation']}")
    if args.json:
        print(json.dumps(results, indent=2))
    if failed:
        raise ValueError(f"{len(failed)} of {len(args.clips)} clips could not be predicted: {', '.join(failed)}")


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_command(lambda: check(args), args.verbose, predict_clips)


if __name__ == "__main__":
    sys.exit(main())
