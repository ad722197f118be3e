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

from freqquest.arguments import ArgumentParser, refuse
from freqquest.config import (
    BIRDNET_TUNABLE,
    CLASSICAL_MODELS,
    EMBEDDINGS,
    FIT_MODES,
    MODELS,
    NO_NETWORK,
    NORMALIZATIONS,
    OPTIMIZERS,
    PRESETS,
    PRETRAINABLE_MODELS,
    SCHEDULES,
    AudioConfig,
    TrainConfig,
    describe_preset,
    preset_config,
)

DEFAULT_AUDIO = AudioConfig()
RECIPE_OPTIONS = (
    "model",
    "width",
    "weights",
    "tune_from",
    "epochs",
    "batch_size",
    "learning_rate",
    "optimizer",
    "schedule",
    "seed",
    "folds",
    "val_fraction",
    "tta",
    "normalization",
    "time_shift",
    "gain_db",
    "time_masks",
    "freq_masks",
    "mixup_alpha",
    "label_smoothing",
    "blend",
    "embeddings",
    "match_bandwidth",
    "recording_vote",
    "pseudo_label",
    "route_reused",
)


def blend_models(value: str) -> str:
    """--blend: comma-separated classical models, or `none` for the network alone; checked by TrainConfig."""
    try:
        return TrainConfig(blend="" if value.strip() == "none" else value).blend
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def embedding_names(value: str) -> str:
    """--embeddings: comma-separated pretrained embeddings, or `none`; checked by TrainConfig."""
    try:
        return TrainConfig(embeddings="" if value.strip() == "none" else value).embeddings
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_argument_group("data and outputs")
    where.add_argument(
        "--data",
        metavar="DIR",
        help="competition root (train/train, test/test, sample_submission.csv); "
        "default: search ./data, /kaggle/input, /content, else build the synthetic demo",
    )
    where.add_argument("--demo", action="store_true", help="run on the synthetic demo competition (data/demo)")
    where.add_argument(
        "--out",
        metavar="PATH",
        help="submission path (default submissions/submission.csv; /kaggle/working/submission.csv on Kaggle)",
    )
    where.add_argument(
        "--run-dir",
        metavar="DIR",
        help="where the run's models, config and reports go (default "
        "runs/<time>-<members>); a folder that holds a run is refused, unless --overwrite",
    )
    where.add_argument(
        "--overwrite", action="store_true", help="clear a --run-dir that holds a run before this one starts"
    )
    where.add_argument("--cache-dir", metavar="DIR", help="feature cache (default ./cache)")
    where.add_argument("--workers", type=int, metavar="N", help="feature-extraction processes (default: all cores)")
    where.add_argument(
        "--embedding-threads",
        type=int,
        default=1,
        metavar="N",
        help="threads each extraction process gives a pretrained embedding's model (default 1)",
    )
    recipe = p.add_argument_group("recipe: a preset, and any of its settings overridden (defaults: the preset's)")
    recipe.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        help="default: a logistic regression on BirdNET's frozen embedding, with pseudo-labels and the slices of "
        "training recordings routed to their recording's class, validated on 5 group folds; scratch: nothing "
        "pretrained (a cnn blended with a logistic regression and an SVM on log-Mel statistics; a GPU helps). "
        "Default: default. `--help` lists each preset's settings below",
    )
    recipe.add_argument(
        "--model",
        choices=(*MODELS, NO_NETWORK),
        help=f"the network of the blend, or {NO_NETWORK} for a blend without one",
    )
    recipe.add_argument("--width", type=int, help="cnn and resnet: filters in the first stage, doubled per stage")
    recipe.add_argument(
        "--weights",
        metavar="imagenet|FILE",
        help="efficientnetv2b0 only: start from ImageNet's weights (downloaded once; needs internet) "
        "or from a weights file (default: random weights)",
    )
    recipe.add_argument(
        "--tune-from",
        choices=BIRDNET_TUNABLE,
        help="birdnet only: the first of BirdNET's segments to fine-tune; those before it stay frozen and "
        "what they compute of each clip is cached (default: the preset's)",
    )
    recipe.add_argument("--epochs", type=int, help="maximum epochs; early stopping may end sooner")
    recipe.add_argument("--batch-size", type=int, help="global batch size")
    recipe.add_argument("--learning-rate", type=float)
    recipe.add_argument("--optimizer", choices=OPTIMIZERS)
    recipe.add_argument(
        "--schedule", choices=SCHEDULES, help="plateau: ReduceLROnPlateau; cosine: warm-up then cosine decay"
    )
    recipe.add_argument("--seed", type=int)
    recipe.add_argument(
        "--folds", type=int, help="K models on group-aware folds, test probabilities averaged; 1: one split"
    )
    recipe.add_argument("--val-fraction", type=float, help="with --folds 1, about this share of recordings is held out")
    recipe.add_argument("--tta", type=int, help="test-time views (clips rolled in time) averaged at prediction")
    recipe.add_argument(
        "--blend",
        type=blend_models,
        metavar="MODELS",
        help=f"classical models on clip statistics whose probabilities are averaged with the network's: "
        f"comma-separated from {','.join(CLASSICAL_MODELS)}, or none (default: the preset's)",
    )
    recipe.add_argument(
        "--embeddings",
        type=embedding_names,
        metavar="NAMES",
        help=f"pretrained embeddings, each adding a logistic regression on it to the blend: "
        f"{','.join(EMBEDDINGS)} (BirdNET; its model is CC BY-NC-SA 4.0, non-commercial), or none "
        f"(default: the preset's)",
    )
    recipe.add_argument(
        "--match-bandwidth",
        action=argparse.BooleanOptionalAction,
        help="judge test and validation clips recorded at a low sample rate (below twice the top Mel frequency, "
        "e.g. 8 kHz) with classical models fitted on the training clips resampled to that rate (default: on)",
    )
    recipe.add_argument(
        "--recording-vote",
        action=argparse.BooleanOptionalAction,
        help="average the blend's probabilities over the test (and validation) clips whose average spectra "
        "are as close as slices of one recording's are (default: on)",
    )
    recipe.add_argument(
        "--pseudo-label",
        type=float,
        metavar="P",
        help="test clips the voted blend gives a class with probability P or more are pseudo-labelled, and the members "
        "that refit in seconds are fitted again with them before the test set is predicted again; 0 is off "
        "(default: the preset's)",
    )
    recipe.add_argument(
        "--route-reused",
        action=argparse.BooleanOptionalAction,
        help="test clips that look like slices of a training recording (nearer to one of its clips than clips of "
        "new recordings come) take that recording's class (default: the preset's)",
    )
    recipe.add_argument(
        "--normalization",
        choices=NORMALIZATIONS,
        help="standardize each clip's log-Mel, or use the training set's mean/std",
    )
    augment = p.add_argument_group("augmentation (on the fly, seeded; 0 or --no-... switches one off)")
    augment.add_argument(
        "--time-shift", action=argparse.BooleanOptionalAction, help="roll each clip by a random offset"
    )
    augment.add_argument("--gain-db", type=float, help="random level change of up to +-this many dB")
    augment.add_argument("--time-masks", type=int, help="SpecAugment time masks per clip")
    augment.add_argument("--freq-masks", type=int, help="SpecAugment frequency masks per clip")
    augment.add_argument("--mixup", type=float, dest="mixup_alpha", help="mixup Beta(alpha, alpha); 0 is off")
    augment.add_argument("--label-smoothing", type=float)
    audio = p.add_argument_group("audio")
    audio.add_argument(
        "--fit-mode",
        choices=FIT_MODES,
        help=f"bring short clips to {DEFAULT_AUDIO.duration:g} s by looping or silence "
        f"(default {DEFAULT_AUDIO.fit_mode})",
    )
    runs = p.add_argument_group("existing runs")
    runs.add_argument(
        "--predict-only",
        action="store_true",
        help="write a submission from a saved run, no training; nothing is written into the run folder",
    )
    runs.add_argument("--model-path", metavar="RUN_DIR", help="the saved run for --predict-only")
    runs.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run from its last finished epoch, with the recipe in its config.json",
    )
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up and C++ log lines")
    p.epilog = "presets:\n" + "\n".join(f"  {name}: {describe_preset(name)}" for name in PRESETS)
    args = p.parse_args(argv)
    if args.predict_only and not args.model_path:
        p.error("--predict-only needs --model-path RUN_DIR")
    if args.demo and args.data:
        p.error("--demo and --data exclude each other: --demo runs on the synthetic demo, --data on your competition")
    if args.resume:
        given = [
            f"--{name.replace('_', '-')}"
            for name in (*RECIPE_OPTIONS, "preset", "fit_mode")
            if getattr(args, name) is not None
        ]
        given += [
            flag
            for flag, on in (
                ("--predict-only", args.predict_only),
                ("--run-dir", args.run_dir),
                ("--overwrite", args.overwrite),
                ("--demo", args.demo),
            )
            if on
        ]
        if given:
            p.error(
                f"--resume continues {args.resume} as its config.json says; {', '.join(given)} would change that run: "
                f"start a new one instead (another --run-dir, or --overwrite)"
            )
    if args.width is not None and args.model in PRETRAINABLE_MODELS:
        p.error(f"--width is for cnn and resnet; {args.model} keeps keras.applications' widths")
    return args


def options_from_args(args: argparse.Namespace):
    """The pipeline's options (pipeline.ClassificationOptions) for parsed arguments."""
    from freqquest.run.pipeline import ClassificationOptions

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
        audio=AudioConfig(fit_mode=args.fit_mode or DEFAULT_AUDIO.fit_mode),
        train=preset_config(
            args.preset or "default",
            **{name: getattr(args, name) for name in RECIPE_OPTIONS if getattr(args, name) is not None},
        ),
    )


def main(argv=None) -> int:
    args = parse_args(argv)  # before anything heavy is imported: --help and mistakes answer at once
    from freqquest.competition.paths import DOWNLOAD_HINT, diagnose_competition_folder
    from freqquest.runs import RunFolderError, require_complete

    if args.data and diagnose_competition_folder(args.data):
        return refuse(f"--data: {diagnose_competition_folder(args.data)}; {DOWNLOAD_HINT}")
    print("loading the pipeline (NumPy, scikit-learn, TensorFlow: a few seconds)", flush=True)
    try:
        options = options_from_args(args)  # the pipeline's options: NumPy, pandas, scikit-learn
        if args.model_path:
            require_complete(
                args.model_path, "python Audio_Classification_Kaggle.py --predict-only --model-path {run_dir}"
            )
    except (ValueError, RunFolderError) as error:
        return refuse(str(error))
    from freqquest import scripts

    scripts.start(args.verbose)
    from freqquest.run.pipeline import run_classification

    return scripts.run_guarded(lambda: run_classification(options))


if __name__ == "__main__":
    sys.exit(main())
