#!/usr/bin/env python3
"""The CGAN on real UrbanSound8K clips (../shared/data/us8k5): trained on one fold, judged on the
other (recordings it never heard) in BirdNET's embedding, side by side for each recipe, in one run.

  python benchmarks/benchmark_cgan.py                                   # the default, both directions
  python benchmarks/benchmark_cgan.py --direction 1to2 --recipe='' --recipe='--epochs 300'
  python benchmarks/benchmark_cgan.py --candidates 1,4                  # each trained run sampled both ways
  python benchmarks/benchmark_cgan.py --recipe='' --recipe='--loss bce' --seeds 42,43   # two trainings each

Each --recipe is options of Audio_Generation_CGAN.py. Each trained run is evaluated once per
--candidates value (default: the recipe's own). Prints, per run and evaluation: training,
evaluation and generating-100-clips seconds; conditional accuracy (generated, the held-out
ceiling, their ratio, and the lowest class's ratio to its own ceiling; the GAN's own training
clips through the same path: what a generator that drew them exactly would score); KID and
Fréchet distance beside the real-vs-real floor and an untrained generator; diversity against the
real clips'; memorization; train on synthetic. Then each recipe's generated accuracy minus the
first recipe's, overall and per class, pooled over the directions and seeds, with 95% intervals
over the generated clips, and overall for each direction and seed. The intervals hold the judging's
noise, not the training's: one training of a GAN differs from the next, so a difference that
changes sign from one direction or seed to the next is not yet a difference.
"""

import argparse
import dataclasses
import itertools
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_classification import SHARED  # noqa: E402

import Audio_Generation_CGAN as cli  # noqa: E402
from freqquest.gan.config import GAN_EVAL_PER_CLASS  # noqa: E402
from freqquest.intervals import independent_difference  # noqa: E402

OTHER = {"1to2": "2to1", "2to1": "1to2"}  # the competition whose training clips are the other fold
TRAIN_FOLD = {"1to2": "1", "2to1": "2"}
FORMAT_ZOO = ["--hash-test-ids", "--format-zoo", "0.3", "--corrupt", "3"]  # files as a user's come


def competition_command(direction: str, out: str) -> list:
    """make_competition.py's command for one direction: one fold's clips to learn from, the other's to test."""
    train_fold = TRAIN_FOLD[direction]
    test_fold = TRAIN_FOLD[OTHER[direction]]
    return [
        sys.executable,
        os.path.join(SHARED, "tools", "make_competition.py"),
        "--src",
        os.path.join(SHARED, "data", "us8k5"),
        "--out",
        out,
        "--train-folds",
        train_fold,
        "--test-folds",
        test_fold,
        *FORMAT_ZOO,
    ]


def fold_competition(direction: str, out: str) -> str:
    """The competition of one direction, built once in `out`."""
    if not os.path.isfile(os.path.join(out, "solution.csv")):
        subprocess.run(competition_command(direction, out), check=True)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--recipe",
        action="append",
        metavar="OPTIONS",
        help="options of Audio_Generation_CGAN.py, as --recipe='--epochs 50' (repeatable; default: one, '')",
    )
    p.add_argument(
        "--direction",
        choices=("1to2", "2to1", "both"),
        default="both",
        help="1to2: the GAN learns fold 1 and fold 2 judges it; 2to1 the other way round",
    )
    p.add_argument(
        "--candidates", help="comma-separated sampling candidates to evaluate each run with (default: the recipe's)"
    )
    p.add_argument(
        "--seeds", help="comma-separated training seeds, each recipe trained once per seed (default: the recipe's)"
    )
    p.add_argument("--eval-per-class", type=int, default=GAN_EVAL_PER_CLASS)
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-benchmark"))
    a = p.parse_args()
    from freqquest import scripts

    scripts.start(False)
    logging.getLogger().setLevel(logging.WARNING)
    from freqquest.gan.run import GanOptions, evaluate_gan, format_evaluation, generate, run_gan_training, with_interval

    if not os.path.isdir(os.path.join(SHARED, "data", "us8k5")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    competitions = {
        direction: fold_competition(direction, os.path.join(a.work, f"comp-{direction}")) for direction in OTHER
    }
    directions = ("1to2", "2to1") if a.direction == "both" else (a.direction,)
    rows = []
    for options in a.recipe or [""]:
        recipe_config = cli.gan_config(cli.parse_args(shlex.split(options)))
        seeds = [int(s) for s in a.seeds.split(",")] if a.seeds else [recipe_config.seed]
        for seed, direction in itertools.product(seeds, directions):
            config = dataclasses.replace(recipe_config, seed=seed)
            learned, judging = competitions[direction], competitions[OTHER[direction]]
            run_dir = os.path.join(a.work, f"cgan-{direction}-{int(time.time())}")
            run_gan_training(
                GanOptions(
                    data=learned,
                    run_dir=run_dir,
                    cache_dir=os.path.join(a.work, "cache"),
                    gan=config,
                    evaluate=False,
                    eval_data=judging,
                )
            )
            with open(os.path.join(run_dir, "summary.json")) as f:
                train_s = json.load(f)["train_s"]
            for candidates in [int(c) for c in a.candidates.split(",")] if a.candidates else [config.candidates]:
                t = time.time()
                generate(run_dir, 20, os.path.join(run_dir, f"generated-{candidates}"), candidates=candidates)
                generate_s = time.time() - t
                t = time.time()
                evaluation = evaluate_gan(
                    run_dir, per_class=a.eval_per_class, candidates=candidates, cache_dir=os.path.join(a.work, "cache")
                )
                evaluate_s = time.time() - t
                rows.append(
                    MeasuredRun(
                        options, direction, seed, candidates, train_s, evaluate_s, generate_s, evaluation, run_dir
                    )
                )
                print(format_evaluation(evaluation), flush=True)

    print(f"\nCGAN trained on one fold, judged on the other in BirdNET's embedding; {os.cpu_count()} cores")
    for row in rows:
        print_run(row, with_interval)
    print_differences(rows)


@dataclasses.dataclass(frozen=True)
class MeasuredRun:
    """One trained run, evaluated with one number of sampling candidates."""

    recipe: str
    direction: str
    seed: int
    candidates: int
    train_s: float
    evaluate_s: float
    generate_s: float
    evaluation: dict
    run_dir: str

    @property
    def name(self) -> str:
        return f"{self.recipe or '(the default)'}, {self.direction}, seed {self.seed}, {self.candidates} candidate(s)"


def print_run(row: MeasuredRun, with_interval) -> None:
    e = row.evaluation
    acc = e["conditional_accuracy"]
    ceiling = acc["real (ceiling)"]
    ratios = {
        c: (acc["generated"]["per_class"][c] or 0) / ceiling["per_class"][c]
        for c in e["classes"]
        if ceiling["per_class"][c]
    }
    dist, div, mem = e["distances"], e["diversity"], e["memorization"]
    print(f"\n{row.name}  ({row.run_dir})")
    print(
        f"  seconds: training {row.train_s:.0f}, evaluation {row.evaluate_s:.0f}, generating 100 clips "
        f"{row.generate_s:.1f}"
    )
    print(
        f"  conditional accuracy {with_interval(acc['generated'])} of a ceiling of {with_interval(ceiling)} "
        f"({acc['generated']['overall'] / ceiling['overall']:.2f}); lowest class {min(ratios, key=ratios.get)} "
        f"at {min(ratios.values()):.2f} of its ceiling; untrained {acc['untrained generator']['overall']:.3f}"
    )
    own = acc["its training clips"]
    print(f"  a faithful generator (the GAN's own training clips through the path) {with_interval(own)}")
    print("  per class, generated / ceiling / its training clips, 95% intervals:")
    for c in e["classes"]:
        print(f"    {c:<14} " + " / ".join(with_interval(part, c) for part in (acc["generated"], ceiling, own)))
    kid = dist["generated"]["kid_interval"]
    print(
        f"  kid: generated {dist['generated']['kid']:.4g} [{kid['low']:.4g}, {kid['high']:.4g}], floor "
        f"{dist['real (floor)']['kid']:.4g} ({dist['generated']['kid'] / dist['real (floor)']['kid']:.2f}x), "
        f"untrained {dist['untrained generator']['kid']:.4g}"
    )
    print(
        f"  frechet: generated {dist['generated']['frechet']:.4g}, floor {dist['real (floor)']['frechet']:.4g}, "
        f"untrained {dist['untrained generator']['frechet']:.4g}"
    )
    print(
        f"  diversity {div['generated']['mean']:.2f} against the real clips' {div['real']['mean']:.2f}; "
        f"{mem['generated_nearer_than_every_real']} generated clip(s) nearer to a training clip than every "
        "held-out one"
    )
    print("  train on ... test on held-out: " + ", ".join(f"{k} {v:.3f}" for k, v in e["train_on_synthetic"].items()))


def generated_judgements(evaluation: dict, class_name: str | None = None) -> np.ndarray:
    """The judge's verdict on each generated clip (1 right, 0 wrong), of one class or of all: a class's
    clips are `per_class` draws, so its accuracy gives them exactly, up to their order."""
    figures = evaluation["conditional_accuracy"]["generated"]["per_class"]
    n = evaluation["per_class"]
    names = [class_name] if class_name else evaluation["classes"]
    return np.concatenate([np.r_[np.ones(round(figures[c] * n)), np.zeros(n - round(figures[c] * n))] for c in names])


def print_differences(rows: list) -> None:
    """Each recipe against the first, generated accuracy overall and per class, pooled over the
    directions and seeds measured; then overall for each training the two recipes share (direction,
    seed), where a training's own luck shows as a change of sign."""
    recipes = list(dict.fromkeys((row.recipe, row.candidates) for row in rows))
    if len(recipes) < 2:
        return
    classes = rows[0].evaluation["classes"]

    def pooled(recipe, class_name=None, training=None):
        return np.concatenate(
            [
                generated_judgements(r.evaluation, class_name)
                for r in rows
                if (r.recipe, r.candidates) == recipe and training in (None, (r.direction, r.seed))
            ]
        )

    trainings = list(dict.fromkeys((row.direction, row.seed) for row in rows))
    print(
        f"\ngenerated accuracy minus the first recipe's, points, pooled over "
        f"{', '.join(f'{d} seed {s}' for d, s in trainings)}; 95% intervals over the generated clips"
    )
    for recipe in recipes[1:]:
        print(f"  {recipe[0] or '(the default)'} ({recipe[1]} candidate(s)) - {recipes[0][0] or '(the default)'}:")
        for class_name in [None, *classes]:
            difference = independent_difference(pooled(recipe, class_name), pooled(recipes[0], class_name))
            print(f"    {class_name or 'overall':<14} {difference.as_points()}")
        for direction, seed in trainings:
            difference = independent_difference(
                pooled(recipe, training=(direction, seed)), pooled(recipes[0], training=(direction, seed))
            )
            print(f"    overall, {direction} seed {seed}: {difference.as_points()}")


if __name__ == "__main__":
    main()
