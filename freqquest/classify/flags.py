"""The classifier's options, made from the config dataclasses' fields: the script's command line
and the notebook's RECIPE read the same flags, so neither can drift from the other or the config."""

import argparse

from ..arguments import Flag, add_config_flags, given, parse_options
from ..config import (
    BIRDNET_TUNABLE,
    CLASSICAL_MODELS,
    EMBEDDINGS,
    FIT_MODES,
    MODELS,
    NO_NETWORK,
    NORMALIZATIONS,
    OPTIMIZERS,
    PRESETS,
    SCHEDULES,
    AudioConfig,
    TrainConfig,
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
    "blended with a logistic regression and an SVM on log-Mel statistics; a GPU helps). Default: default. "
    "`python Audio_Classification_Kaggle.py --help` lists each preset's settings at its end"
)
AUDIO_FLAGS = {
    "fit_mode": Flag(
        f"bring short clips to {DEFAULT_AUDIO.duration:g} s by looping or silence (default {DEFAULT_AUDIO.fit_mode})",
        choices=FIT_MODES,
    )
}


def add_recipe_flags(parser: argparse.ArgumentParser) -> None:
    """--preset and every recipe, augmentation and audio option, in their help groups."""
    recipe = parser.add_argument_group("recipe: a preset, and any of its settings overridden (defaults: the preset's)")
    recipe.add_argument("--preset", choices=tuple(PRESETS), help=PRESET_HELP)
    add_config_flags(recipe, TrainConfig, RECIPE_FLAGS)
    add_config_flags(
        parser.add_argument_group("augmentation (on the fly, seeded; 0 or --no-... is off)"), TrainConfig, AUGMENT_FLAGS
    )
    add_config_flags(parser.add_argument_group("audio"), AudioConfig, AUDIO_FLAGS)


def recipe_configs(args: argparse.Namespace) -> tuple[AudioConfig, TrainConfig]:
    """The audio and training configs of parsed options: the preset's (default "default"), overridden where given."""
    return AudioConfig(**given(args, AUDIO_FLAGS)), preset_config(args.preset or "default", **given(args, TRAIN_FLAGS))


def notebook_recipe(options: str) -> tuple[AudioConfig, TrainConfig]:
    """The notebook's RECIPE ("--preset scratch --epochs 30", as on the command line): ValueError
    naming a wrong option or value."""
    return recipe_configs(parse_options(add_recipe_flags, [], options, "RECIPE"))
