#!/usr/bin/env python3
"""Train a log-Mel CNN on "The Frequency Quest" and write submission.csv.

  python Audio_Classification_Kaggle.py                        # finds ./data (or Kaggle/Colab input); demo if none
  python Audio_Classification_Kaggle.py --data /path/to/comp   # explicit competition root
  python Audio_Classification_Kaggle.py --predict-only --model-path runs/<run>
"""
import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from freqquest.config import AudioConfig, TrainConfig  # noqa: E402
from freqquest.dataset import CompetitionError  # noqa: E402
from freqquest.models import NAMES  # noqa: E402
from freqquest.pipeline import ClassificationOptions, run_classification  # noqa: E402
from freqquest.submission import SubmissionError  # noqa: E402

DEFAULT_TRAIN = TrainConfig()
DEFAULT_AUDIO = AudioConfig()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_argument_group("data and outputs")
    where.add_argument("--data", metavar="DIR", help="competition root (train/train, test/test, sample_submission.csv); "
                       "default: search ./data, /kaggle/input, /content, else build the synthetic demo")
    where.add_argument("--demo", action="store_true", help="run on the synthetic demo competition (data/demo)")
    where.add_argument("--out", metavar="PATH", help="submission path (default submissions/submission.csv; "
                       "/kaggle/working/submission.csv on Kaggle)")
    where.add_argument("--run-dir", metavar="DIR", help="where the run's model, config and reports go (default runs/<time>-<model>)")
    where.add_argument("--cache-dir", metavar="DIR", help="feature cache (default ./cache)")
    where.add_argument("--workers", type=int, metavar="N", help="feature-extraction processes (default: all cores)")
    model = p.add_argument_group("model and training")
    model.add_argument("--model", choices=NAMES, default=DEFAULT_TRAIN.model, help=f"architecture (default {DEFAULT_TRAIN.model})")
    model.add_argument("--epochs", type=int, default=DEFAULT_TRAIN.epochs, help=f"maximum epochs; early stopping may end sooner (default {DEFAULT_TRAIN.epochs})")
    model.add_argument("--batch-size", type=int, default=DEFAULT_TRAIN.batch_size, help=f"global batch size (default {DEFAULT_TRAIN.batch_size})")
    model.add_argument("--seed", type=int, default=DEFAULT_TRAIN.seed, help=f"random seed (default {DEFAULT_TRAIN.seed})")
    model.add_argument("--val-fraction", type=float, default=DEFAULT_TRAIN.val_fraction,
                       help=f"about this share of recordings is held out for validation (default {DEFAULT_TRAIN.val_fraction})")
    model.add_argument("--normalization", choices=("clip", "global"), default=DEFAULT_TRAIN.normalization,
                       help=f"standardize each clip's log-Mel, or use the training set's mean/std (default {DEFAULT_TRAIN.normalization})")
    model.add_argument("--fit-mode", choices=("loop", "pad"), default=DEFAULT_AUDIO.fit_mode,
                       help=f"bring short clips to {DEFAULT_AUDIO.duration:g} s by looping or silence (default {DEFAULT_AUDIO.fit_mode})")
    runs = p.add_argument_group("existing runs")
    runs.add_argument("--predict-only", action="store_true", help="write a submission from a saved run, no training")
    runs.add_argument("--model-path", metavar="RUN_DIR", help="the saved run for --predict-only")
    runs.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last finished epoch")
    args = p.parse_args(argv)
    if args.predict_only and not args.model_path:
        p.error("--predict-only needs --model-path RUN_DIR")
    return args


def options_from_args(args: argparse.Namespace) -> ClassificationOptions:
    return ClassificationOptions(
        data=args.data,
        demo=args.demo,
        out=args.out,
        run_dir=args.run_dir,
        cache_dir=args.cache_dir,
        workers=args.workers,
        predict_only=args.predict_only,
        model_path=args.model_path,
        resume=args.resume,
        audio=AudioConfig(fit_mode=args.fit_mode),
        train=TrainConfig(
            model=args.model,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            val_fraction=args.val_fraction,
            normalization=args.normalization,
        ),
    )


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    try:
        options = options_from_args(args)
        run_classification(options)
    except (CompetitionError, SubmissionError, FileNotFoundError, ValueError) as error:
        logging.getLogger("freqquest").error("error: %s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
