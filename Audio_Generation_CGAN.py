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

from freqquest.arguments import ArgumentParser, add_data_options, check_data_and_resume
from freqquest.config import AudioConfig
from freqquest.gan.config import GAN_EVAL_PER_CLASS
from freqquest.gan.flags import GAN_FLAGS, add_gan_flags, gan_config


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(p, "runs/<time>-cgan-<loss>", "processes for features and Griffin-Lim")
    add_gan_flags(p)
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


def check(args: argparse.Namespace) -> argparse.Namespace:
    from freqquest.scripts import check_data_folder

    check_data_folder(args.data)
    return args


def run(args: argparse.Namespace) -> None:
    from freqquest.gan.run import GanOptions, evaluate_gan, format_evaluation, generate, run_gan_training

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


def main(argv=None) -> int:
    args = parse_args(argv)  # before anything imports TensorFlow: --help and mistakes answer at once
    from freqquest.scripts import run_command

    return run_command(lambda: check(args), args.verbose, run)


if __name__ == "__main__":
    sys.exit(main())
