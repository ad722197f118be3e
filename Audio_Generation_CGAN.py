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

from freqquest.arguments import ArgumentParser, Flag, add_config_flags, add_data_options, check_data_and_resume, given
from freqquest.config import AudioConfig
from freqquest.gan.config import GAN_EVAL_PER_CLASS, GAN_LOSSES, GAN_PRESETS, GanConfig, gan_preset_config

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
    "ema_decay": Flag("samples come from a moving average of the generator's weights; 0 is off"),
    "seed": Flag("the training's seed"),
    "sample_every": Flag("a grid of samples every this many epochs"),
    "griffin_lim_iters": Flag("Griffin-Lim's iterations, a log-Mel to audio"),
    "candidates": Flag(
        "each sample the likeliest of its class, by the discriminator's classifier head, among this many drawn; "
        "also for --generate and --evaluate"
    ),
    "per_clip_level": Flag("each clip scaled from its own loudest pixel rather than the training set's"),
    "half_resolution": Flag("the GAN's images at half the log-Mel's resolution, stretched back before Griffin-Lim"),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(p, "runs/<time>-cgan-<loss>", "processes for features and Griffin-Lim")
    gan = p.add_argument_group(
        "the GAN: a preset, any of its settings overridden (with --resume only --epochs, to train on to that many)"
    )
    gpu = ", ".join(f"{k}={v}" for k, v in GAN_PRESETS["gpu"].items())
    gan.add_argument("--preset", choices=tuple(GAN_PRESETS), help=f"cpu (default): GanConfig's defaults; gpu: {gpu}")
    add_config_flags(gan, GanConfig, GAN_FLAGS, defaults=GanConfig())
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
    recipe = {field: flag for field, flag in GAN_FLAGS.items() if field != "epochs"}  # --epochs trains on
    check_data_and_resume(p, args, recipe, note=" (--epochs aside, which trains on to that many)")
    return args


def gan_config(args: argparse.Namespace) -> GanConfig:
    return gan_preset_config(args.preset or "cpu", **given(args, GAN_FLAGS))


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
