"""The CGAN's options, made from GanConfig's fields: the script's command line and the notebook's
RECIPE read the same flags."""

import argparse

from ..arguments import Flag, add_config_flags, given, parse_options
from .config import GAN_LOSSES, GAN_PRESETS, GanConfig, gan_preset_config

# GanConfig's fields as options; each is the preset's unless given. The fields left out are the recipe's alone.
GAN_FLAGS = {
    "loss": Flag(
        "bce: the classic CGAN; hinge: with spectral normalization; wgan-gp: Wasserstein with gradient penalty",
        choices=GAN_LOSSES,
    ),
    "steps": Flag("the training budget in generator steps (batches), whatever the dataset's size"),
    "epochs": Flag("train this many epochs instead of the --steps budget; with --resume, train on to this many"),
    "batch_size": Flag("clips a batch"),
    "latent_dim": Flag("the generator's noise, in dimensions"),
    "width": Flag("filters in the networks' narrowest stage (the generator's last, the discriminator's first)"),
    "g_learning_rate": Flag("the generator's Adam step"),
    "d_learning_rate": Flag("the discriminator's Adam step"),
    "class_weight": Flag("the auxiliary classifier's loss, for both networks; 0 is off"),
    "mode_seeking_weight": Flag(
        "two clips a label, pushed apart when closer than their noise (MSGAN); 0 is off, above it the generator's "
        "batch doubles"
    ),
    "feature_matching_weight": Flag(
        "the generator also matches the discriminator's mean features on the real batch; 0 is off"
    ),
    "ema_decay": Flag("samples come from a moving average of the generator's weights; 0 is off"),
    "seed": Flag("the training's seed"),
    "sample_every": Flag("a grid of samples every this many epochs"),
    "griffin_lim_iters": Flag("Griffin-Lim's iterations, a log-Mel to audio"),
    "candidates": Flag(
        "each sample the likeliest of its class, by the discriminator's classifier head, among this many drawn; "
        "also for --generate and --evaluate"
    ),
    "per_clip_level": Flag("each clip scaled from its own loudest pixel rather than the training set's"),
}


def add_gan_flags(parser: argparse.ArgumentParser) -> None:
    """--preset and every GAN option, in one help group."""
    gan = parser.add_argument_group(
        "the GAN: a preset, any of its settings overridden (with --resume only --epochs, to train on to that many)"
    )
    gpu = ", ".join(f"{k}={v}" for k, v in GAN_PRESETS["gpu"].items())
    gan.add_argument("--preset", choices=tuple(GAN_PRESETS), help=f"cpu (default): GanConfig's defaults; gpu: {gpu}")
    add_config_flags(gan, GanConfig, GAN_FLAGS, defaults=GanConfig())


def gan_config(args: argparse.Namespace) -> GanConfig:
    """The config of parsed options: the preset's (default cpu), overridden where given."""
    return gan_preset_config(args.preset or "cpu", **given(args, GAN_FLAGS))


def notebook_gan_config(options: str, preset: str) -> GanConfig:
    """The notebook's RECIPE ("--steps 2400 --loss bce", as on the command line), from `preset` unless it
    names one: ValueError naming a wrong option or value."""
    return gan_config(parse_options(add_gan_flags, ["--preset", preset], options, "RECIPE"))
