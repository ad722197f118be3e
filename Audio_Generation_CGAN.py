#!/usr/bin/env python3
"""Train a class-conditional GAN on the competition's log-Mel spectrograms, listen to what it
makes, and measure how good it is.

  python Audio_Generation_CGAN.py                                   # ./data (or Kaggle/Colab input); demo if none
  python Audio_Generation_CGAN.py --data DIR --steps 3000 --run-dir runs/gan1   # the budget, in generator steps
  python Audio_Generation_CGAN.py --preset gpu                      # longer and wider, for a GPU
  python Audio_Generation_CGAN.py --resume runs/gan1                # continue an interrupted run
  python Audio_Generation_CGAN.py --generate runs/gan1 --per-class 20 --out generated/
  python Audio_Generation_CGAN.py --evaluate runs/gan1 [--eval-data OTHER_COMPETITION]
"""

import argparse
import sys

from freqquest.arguments import ArgumentParser
from freqquest.config import AudioConfig
from freqquest.gan.config import GAN_EVAL_PER_CLASS, GAN_LOSSES, GAN_PRESETS, GanConfig, gan_preset_config

NUMBERS = (
    "steps",
    "epochs",
    "batch_size",
    "latent_dim",
    "width",
    "g_learning_rate",
    "d_learning_rate",
    "class_weight",
    "ema_decay",
    "seed",
    "sample_every",
    "griffin_lim_iters",
    "candidates",
)
MEANINGS = {
    "candidates": "each sample the likeliest of its class, by the discriminator's classifier head, among this many "
    "drawn; also for --generate and --evaluate ",
    "steps": "the training budget in generator steps (batches), whatever the dataset's size ",
    "epochs": "train this many epochs instead of the --steps budget; with --resume, train on to this many ",
}
TYPES = {"epochs": int}  # those whose default (None) says nothing of their type
SWITCHES = {
    "per_clip_level": "each clip scaled from its own loudest pixel rather than the training set's",
    "half_resolution": "the GAN's images at half the log-Mel's resolution, stretched back before Griffin-Lim",
}
GAN_OPTIONS = ("loss", *NUMBERS, *SWITCHES)  # the recipe's settings a flag can give


def parse_args(argv=None) -> argparse.Namespace:
    defaults = GanConfig()
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_argument_group("data and outputs")
    where.add_argument(
        "--data", metavar="DIR", help="competition root; default: search ./data, /kaggle/input, /content, else the demo"
    )
    where.add_argument("--demo", action="store_true", help="train on the synthetic demo competition")
    where.add_argument(
        "--run-dir",
        metavar="DIR",
        help="where the run goes (default runs/<time>-cgan-<loss>); a folder "
        "that holds a run is refused, unless --overwrite",
    )
    where.add_argument(
        "--overwrite", action="store_true", help="clear a --run-dir that holds a run before this one starts"
    )
    where.add_argument("--cache-dir", metavar="DIR", help="feature cache (default ./cache)")
    where.add_argument(
        "--workers", type=int, metavar="N", help="processes for features and Griffin-Lim (default: all cores)"
    )
    gan = p.add_argument_group(
        "the GAN: a preset, any of its settings overridden (with --resume only --epochs, to train on to that many)"
    )
    gan.add_argument(
        "--preset",
        choices=tuple(GAN_PRESETS),
        help="cpu: the recipe measured on 2 cores (GanConfig's "
        "defaults, listed below); gpu: "
        + ", ".join(f"{k}={v}" for k, v in GAN_PRESETS["gpu"].items())
        + " (default cpu)",
    )
    gan.add_argument(
        "--loss",
        choices=GAN_LOSSES,
        help=f"bce: the classic CGAN; hinge: with spectral normalization; wgan-gp: Wasserstein with gradient "
        f"penalty (default {defaults.loss})",
    )
    for name in NUMBERS:
        value = getattr(defaults, name)
        gan.add_argument(
            "--" + name.replace("_", "-"),
            type=TYPES.get(name, type(value)),
            help=f"{MEANINGS.get(name, '')}(default {'the budget' if value is None else value})",
        )
    for name, meaning in SWITCHES.items():
        gan.add_argument(
            "--" + name.replace("_", "-"),
            action=argparse.BooleanOptionalAction,
            help=f"{meaning} (default {'on' if getattr(defaults, name) else 'off'})",
        )
    runs = p.add_argument_group("existing runs")
    runs.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last finished epoch")
    runs.add_argument("--generate", metavar="RUN", help="write --per-class clips of every class to --out, no training")
    runs.add_argument("--per-class", type=int, default=20, help="clips per class for --generate (default 20)")
    runs.add_argument("--out", metavar="DIR", default="generated", help="folder for --generate (default ./generated)")
    runs.add_argument("--evaluate", metavar="RUN", help="evaluate a trained run again, no training")
    runs.add_argument("--no-evaluate", action="store_true", help="skip the evaluation after training")
    runs.add_argument(
        "--eval-per-class",
        type=int,
        default=GAN_EVAL_PER_CLASS,
        help=f"generated clips per class, and at most as many held-out real clips in each half and of the GAN's "
        f"training clips (default {GAN_EVAL_PER_CLASS}; a few for a smoke run)",
    )
    runs.add_argument(
        "--eval-data",
        metavar="DIR",
        help="a competition whose training clips, other recordings than the "
        "GAN's, evaluate it (default: 20%% of the recordings held out of the GAN's training)",
    )
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up and C++ log lines")
    args = p.parse_args(argv)
    if sum(map(bool, (args.resume, args.generate, args.evaluate))) > 1:
        p.error("--resume, --generate and --evaluate exclude each other")
    if args.demo and args.data:
        p.error("--demo and --data exclude each other: --demo trains on the synthetic demo, --data on your competition")
    if args.resume:
        given = [
            f"--{name.replace('_', '-')}"
            for name in (*GAN_OPTIONS, "preset")
            if name != "epochs" and getattr(args, name) is not None
        ]
        given += [
            flag
            for flag, on in (("--run-dir", args.run_dir), ("--overwrite", args.overwrite), ("--demo", args.demo))
            if on
        ]
        if given:
            p.error(
                f"--resume continues {args.resume} as its config.json says (--epochs aside, which trains on to that "
                f"many); "
                f"{', '.join(given)} would change that run: start a new one instead"
            )
    return args


def gan_config(args: argparse.Namespace) -> GanConfig:
    return gan_preset_config(
        args.preset or "cpu", **{name: getattr(args, name) for name in GAN_OPTIONS if getattr(args, name) is not None}
    )


def main(argv=None) -> int:
    args = parse_args(argv)  # before anything imports TensorFlow: --help and mistakes answer at once
    from freqquest import scripts

    scripts.start(args.verbose)
    from freqquest.gan.run import GanOptions, evaluate_gan, format_evaluation, generate, run_gan_training

    def work():
        if args.generate:
            generate(args.generate, args.per_class, args.out, workers=args.workers, candidates=args.candidates)
        elif args.evaluate:
            print(
                format_evaluation(
                    evaluate_gan(
                        args.evaluate,
                        per_class=args.eval_per_class,
                        workers=args.workers,
                        candidates=args.candidates,
                        cache_dir=args.cache_dir,
                        eval_data=args.eval_data,
                    )
                )
            )
        else:
            run_gan_training(
                GanOptions(
                    data=args.data,
                    demo=args.demo,
                    run_dir=args.run_dir,
                    cache_dir=args.cache_dir,
                    workers=args.workers,
                    resume=args.resume,
                    resume_epochs=args.epochs if args.resume else None,
                    overwrite=args.overwrite,
                    evaluate=not args.no_evaluate,
                    eval_per_class=args.eval_per_class,
                    eval_data=args.eval_data,
                    audio=AudioConfig(),
                    gan=gan_config(args),
                )
            )

    return scripts.run_guarded(work)


if __name__ == "__main__":
    sys.exit(main())
