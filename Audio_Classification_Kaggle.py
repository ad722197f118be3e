#!/usr/bin/env python3
"""Train on "The Frequency Quest" and write submission.csv: by default a logistic regression on BirdNET's
frozen embedding, voted by recording and refined with pseudo-labels, the test clips that are slices of
training recordings taking their recording's class; a log-Mel CNN blended with classical models with
--preset scratch.

  python Audio_Classification_Kaggle.py                        # finds ./data (or Kaggle/Colab input); demo if none
  python Audio_Classification_Kaggle.py --data /path/to/comp   # explicit competition root
  python Audio_Classification_Kaggle.py --preset scratch       # nothing pretrained: cnn + logreg + svm (GPU)
  python Audio_Classification_Kaggle.py --model birdnet        # BirdNET's last segment fine-tuned beside it
  python Audio_Classification_Kaggle.py --preset scratch --model efficientnetv2b0 --weights imagenet
  python Audio_Classification_Kaggle.py --predict-only --model-path runs/<run>
  python Audio_Classification_Kaggle.py --resume runs/<run>    # continue an interrupted run
"""

import argparse
import sys

from freqquest.arguments import ArgumentParser, add_data_options, check_data_and_resume
from freqquest.classify.flags import AUDIO_FLAGS, TRAIN_FLAGS, add_recipe_flags, recipe_configs
from freqquest.config import PRESETS, PRETRAINABLE_MODELS, describe_preset


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.epilog = "presets:\n" + "\n".join(f"  {name}: {describe_preset(name)}" for name in PRESETS)
    where = add_data_options(p, "runs/<time>-<members>", "feature-extraction processes")
    where.add_argument(
        "--out",
        metavar="PATH",
        help="submission path (default submissions/submission.csv; /kaggle/working/submission.csv on Kaggle)",
    )
    where.add_argument(
        "--embedding-threads",
        type=int,
        default=1,
        metavar="N",
        help="threads each extraction process gives a pretrained embedding's model (default 1)",
    )
    add_recipe_flags(p)
    runs = p.add_argument_group("existing runs")
    runs.add_argument(
        "--predict-only",
        action="store_true",
        help="write a submission from a saved run, no training; nothing is written into the run folder",
    )
    runs.add_argument("--model-path", metavar="RUN_DIR", help="the saved run for --predict-only")
    runs.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run with its config.json's recipe")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up and C++ log lines")
    args = p.parse_args(argv)
    if args.predict_only and not args.model_path:
        p.error("--predict-only needs --model-path RUN_DIR")
    check_data_and_resume(p, args, TRAIN_FLAGS | AUDIO_FLAGS)
    if args.width is not None and args.model in PRETRAINABLE_MODELS:
        p.error(f"--width is for cnn and resnet; {args.model} keeps keras.applications' widths")
    return args


def options_from_args(args: argparse.Namespace):
    """The pipeline's options (pipeline.ClassificationOptions) for parsed arguments."""
    from freqquest.classify.pipeline import ClassificationOptions

    audio, train = recipe_configs(args)
    return ClassificationOptions(
        data=args.data,
        demo=args.demo,
        out=args.out,
        run_dir=args.run_dir,
        cache_dir=args.cache_dir,
        workers=args.workers,
        embedding_threads=args.embedding_threads,
        predict_only=args.predict_only,
        model_path=args.model_path,
        resume=args.resume,
        overwrite=args.overwrite,
        audio=audio,
        train=train,
    )


def check(args: argparse.Namespace):
    """The pipeline's options, with everything that can be checked before training checked."""
    from freqquest.runs import require_complete
    from freqquest.scripts import check_data_folder

    check_data_folder(args.data)
    print("loading the pipeline (NumPy, scikit-learn, TensorFlow: a few seconds)", flush=True)
    options = options_from_args(args)  # the pipeline's options: NumPy, pandas, scikit-learn
    if args.model_path:
        require_complete(args.model_path, "python Audio_Classification_Kaggle.py --predict-only --model-path {run_dir}")
    return options


def main(argv=None) -> int:
    args = parse_args(argv)  # before anything heavy is imported: --help and mistakes answer at once
    from freqquest.scripts import run_command

    return run_command(lambda: check(args), args.verbose, run_classification)


def run_classification(options) -> None:
    from freqquest.classify import pipeline  # TensorFlow: once the scripts have quietened it

    pipeline.run_classification(options)


if __name__ == "__main__":
    sys.exit(main())
