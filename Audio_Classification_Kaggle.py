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

from freqquest.arguments import (
    ArgumentParser,
    Flag,
    add_config_flags,
    add_data_options,
    check_data_and_resume,
    given,
    refuse,
)
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


def names_or_none(field: str):
    """--blend and --embeddings: comma-separated names, or `none` for "" (no such member); checked by TrainConfig."""

    def parse(value: str) -> str:
        try:
            return getattr(TrainConfig(**{field: "" if value.strip() == "none" else value}), field)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


# TrainConfig's fields as options; each is the preset's unless given. The fields left out are the presets' alone.
RECIPE_FLAGS = {
    "model": Flag(f"the network of the blend, or {NO_NETWORK} for a blend without one", choices=(*MODELS, NO_NETWORK)),
    "width": Flag("cnn and resnet: filters in the first stage, doubled per stage"),
    "weights": Flag(
        "efficientnetv2b0 only: start from ImageNet's weights (downloaded once; needs internet) or from a weights "
        "file (default: random weights)",
        metavar="imagenet|FILE",
    ),
    "tune_from": Flag(
        "birdnet only: the first of BirdNET's segments to fine-tune; those before it stay frozen and what they "
        "compute of each clip is cached (default: the preset's)",
        choices=BIRDNET_TUNABLE,
    ),
    "epochs": Flag("maximum epochs; early stopping may end sooner"),
    "batch_size": Flag("global batch size"),
    "learning_rate": Flag("the optimizer's step (default: 1e-3; 1e-4 for birdnet, which fine-tunes)"),
    "optimizer": Flag("adamw adds weight decay", choices=OPTIMIZERS),
    "schedule": Flag("plateau: ReduceLROnPlateau; cosine: warm-up then cosine decay", choices=SCHEDULES),
    "seed": Flag("the seed of the folds, the members' fitting, the networks' weights and the augmentation"),
    "folds": Flag("K models on group-aware folds, test probabilities averaged; 1: one split"),
    "val_fraction": Flag("with --folds 1, about this share of recordings is held out"),
    "tta": Flag("test-time views (clips rolled in time) averaged at prediction"),
    "blend": Flag(
        f"classical models on clip statistics whose probabilities are averaged with the network's: comma-separated "
        f"from {','.join(CLASSICAL_MODELS)}, or none (default: the preset's)",
        metavar="MODELS",
        parse=names_or_none("blend"),
    ),
    "embeddings": Flag(
        f"pretrained embeddings, each adding a logistic regression on it to the blend: {','.join(EMBEDDINGS)} "
        f"(BirdNET; its model is CC BY-NC-SA 4.0, non-commercial), or none (default: the preset's)",
        metavar="NAMES",
        parse=names_or_none("embeddings"),
    ),
    "match_bandwidth": Flag(
        "judge test and validation clips recorded at a low sample rate (below twice the top Mel frequency, e.g. "
        "8 kHz) with classical models fitted on the training clips resampled to that rate (default: on)"
    ),
    "recording_vote": Flag(
        "average the blend's probabilities over the test (and validation) clips whose average spectra are as close "
        "as slices of one recording's are (default: on)"
    ),
    "pseudo_label": Flag(
        "test clips the voted blend gives a class with probability P or more are pseudo-labelled, and the members "
        "that refit in seconds are fitted again with them before the test set is predicted again; 0 is off "
        "(default: the preset's)",
        metavar="P",
    ),
    "route_reused": Flag(
        "test clips that look like slices of a training recording (nearer to one of its clips than clips of new "
        "recordings come) take that recording's class (default: the preset's)"
    ),
    "normalization": Flag(
        "standardize each clip's log-Mel, or use the training set's mean/std", choices=NORMALIZATIONS
    ),
}
AUGMENT_FLAGS = {
    "time_shift": Flag("roll each clip by a random offset"),
    "gain_db": Flag("random level change of up to +-this many dB"),
    "time_masks": Flag("SpecAugment time masks per clip"),
    "freq_masks": Flag("SpecAugment frequency masks per clip"),
    "mixup_alpha": Flag("mixup Beta(alpha, alpha); 0 is off", name="mixup", metavar="ALPHA"),
    "label_smoothing": Flag("the targets' share spread over the other classes; 0 is off"),
}
TRAIN_FLAGS = RECIPE_FLAGS | AUGMENT_FLAGS
PRESET_HELP = (
    "default: a logistic regression on BirdNET's frozen embedding, with pseudo-labels and the slices of training "
    "recordings routed to their recording's class, validated on 5 group folds; scratch: nothing pretrained (a cnn "
    "blended with a logistic regression and an SVM on log-Mel statistics; a GPU helps). Default: default. `--help` "
    "lists each preset's settings below"
)
AUDIO_FLAGS = {
    "fit_mode": Flag(
        f"bring short clips to {DEFAULT_AUDIO.duration:g} s by looping or silence (default {DEFAULT_AUDIO.fit_mode})",
        choices=FIT_MODES,
    )
}


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
    recipe = p.add_argument_group("recipe: a preset, and any of its settings overridden (defaults: the preset's)")
    recipe.add_argument("--preset", choices=tuple(PRESETS), help=PRESET_HELP)
    add_config_flags(recipe, TrainConfig, RECIPE_FLAGS)
    add_config_flags(
        p.add_argument_group("augmentation (on the fly, seeded; 0 or --no-... is off)"), TrainConfig, AUGMENT_FLAGS
    )
    add_config_flags(p.add_argument_group("audio"), AudioConfig, AUDIO_FLAGS)
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
        audio=AudioConfig(**given(args, AUDIO_FLAGS)),
        train=preset_config(args.preset or "default", **given(args, TRAIN_FLAGS)),
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
