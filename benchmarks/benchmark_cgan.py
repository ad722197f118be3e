#!/usr/bin/env python3
"""The CGAN on real UrbanSound8K clips (../shared/data/us8k5, fold 1 as the competition's train set):
training time, generation time, and the evaluation beside its references (real-clip ceiling,
real-vs-real floor, untrained generator, chance).

  python benchmarks/benchmark_cgan.py --epochs 100 --eval-per-class 10   # what the README reports, on 2 CPU cores
"""
import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_classification import SHARED, build_competition  # noqa: E402

from freqquest.config import GanConfig  # noqa: E402
from freqquest.gan.run import GanOptions, format_evaluation, generate, run_gan_training  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--loss", default=GanConfig().loss)
    p.add_argument("--mode-seeking-weight", type=float, default=GanConfig().mode_seeking_weight)
    p.add_argument("--diff-augment", action="store_true")
    p.add_argument("--eval-per-class", type=int, default=10)
    p.add_argument("--eval-preset", default="scratch", help="the classification preset of the evaluation's networks")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-benchmark"))
    a = p.parse_args()
    if not os.path.isdir(os.path.join(SHARED, "data", "us8k5")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    root = build_competition("honest", os.path.join(a.work, "comp-honest"))
    run_dir = os.path.join(a.work, f"cgan-{a.loss}-{a.epochs}-{int(time.time())}")
    config = dataclasses.replace(GanConfig(), epochs=a.epochs, loss=a.loss, sample_every=max(1, a.epochs // 3),
                                 mode_seeking_weight=a.mode_seeking_weight, diff_augment=a.diff_augment)
    t = time.time()
    run_gan_training(GanOptions(data=root, run_dir=run_dir, cache_dir=os.path.join(a.work, "cache"), gan=config,
                                eval_per_class=a.eval_per_class, eval_preset=a.eval_preset))
    total = time.time() - t
    with open(os.path.join(run_dir, "summary.json")) as f:
        train_s = json.load(f)["train_s"]
    t = time.time()
    generate(run_dir, 4, os.path.join(run_dir, "generated"))
    generate_s = time.time() - t
    with open(os.path.join(run_dir, "evaluation.json")) as f:
        evaluation = json.load(f)
    print(f"\nCGAN ({a.loss}, width {config.width}, mode seeking {config.mode_seeking_weight:g}, "
          f"DiffAugment {'on' if config.diff_augment else 'off'}), {a.epochs} epochs on train fold 1, {os.cpu_count()} cores")
    print(f"  training (with samples every {config.sample_every} epochs)  {train_s:8.1f} s")
    print(f"  training + evaluation                  {total:8.1f} s")
    print(f"  generating 20 clips (Griffin-Lim {config.griffin_lim_iters} it.)  {generate_s:8.1f} s")
    print(format_evaluation(evaluation))
    print(f"run folder: {run_dir}")


if __name__ == "__main__":
    main()
