#!/usr/bin/env python3
"""Side-by-side figures on real UrbanSound8K clips (../shared/data/us8k5), in one run.

  python benchmarks/benchmark_classification.py                      # honest split: plain recipe vs every preset
  python benchmarks/benchmark_classification.py --split kaggle       # the Kaggle-like random split (leaky; labelled so)
  python benchmarks/benchmark_classification.py --presets default --models cnn,resnet --seeds 1,2,3 --skip-plain
  python benchmarks/benchmark_classification.py --presets default --recipe='--time-shift --time-masks 2' --skip-plain

Honest split: train on fold 1, test on fold 2 (whole recordings unseen), opaque test IDs, 30% of
the files rewritten in other formats, 3 corrupt test files. Prints feature-extraction clips/s
(the plain sequential librosa loop vs ours, cold and cached), training time, validation and
leaderboard-style test accuracy, training samples/s and prediction clips/s for each recipe.
"""
import argparse
import dataclasses
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time

import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plain_recipe  # noqa: E402

import Audio_Classification_Kaggle as cli  # noqa: E402
from freqquest.bandwidth import match_bandwidth, readable_rates  # noqa: E402
from freqquest.config import PRESETS, AudioConfig, preset_config, read_run_config  # noqa: E402
from freqquest.dataset import scan_competition  # noqa: E402
from freqquest.features import extract_features  # noqa: E402
from freqquest.inference import average_members, predict_members, to_class_names  # noqa: E402
from freqquest.pipeline import ClassificationOptions, run_classification  # noqa: E402
from freqquest.submission import make_submission, write_submission  # noqa: E402
from freqquest.training import HISTORY, fold_dir, load_blend  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
SPLITS = {
    "honest": ["--test-folds", "2", "--train-folds", "1", "--hash-test-ids", "--format-zoo", "0.3", "--corrupt", "3"],
    "kaggle": ["--test-frac", "0.2", "--hash-test-ids", "--format-zoo", "0.3", "--corrupt", "3"],
}


def build_competition(split, out):
    if not os.path.isfile(os.path.join(out, "solution.csv")):
        subprocess.run([sys.executable, os.path.join(SHARED, "tools", "make_competition.py"), "--src",
                        os.path.join(SHARED, "data", "us8k5"), "--out", out, *SPLITS[split]], check=True)
    return out


def score(submission, root):
    done = subprocess.run([sys.executable, os.path.join(SHARED, "tools", "score_submission.py"), submission,
                           os.path.join(root, "solution.csv")], capture_output=True, text=True, check=True)
    return float(done.stdout.split()[1])


NO_VOTE = "blend without the recording vote"


def score_members(run_dir, config, competition, root, cache):
    """Each blended member's leaderboard-style test accuracy on its own, and the blend's without
    the recording vote (the fallback class, as in the submission, where a test clip is unreadable)."""
    test = extract_features([p for p in competition.test_paths if p is not None], AudioConfig(), cache, desc="test features")
    fallback = read_run_config(run_dir)["fallback_class"]
    blend = load_blend(run_dir, config)
    rates = readable_rates(test)
    match_bandwidth(blend, config, AudioConfig(), competition.train_paths, competition.train_labels, rates, run_dir, cache)
    scores = {}
    members = predict_members(blend, test.features, config.tta, rates)
    for name, probabilities in (members | {NO_VOTE: average_members(members)}).items():
        predicted = dict(zip(test.paths, to_class_names(probabilities, competition.classes, test.ok, fallback)))
        names = [predicted.get(p, fallback) for p in competition.test_paths]
        path = os.path.join(run_dir, f"submission-{name.replace(' ', '-')}-alone.csv")
        write_submission(make_submission(competition.test_ids, names), path, competition.test_ids, competition.classes)
        scores[name] = score(path, root)
    return scores


def recipe_config(options: str):
    """The TrainConfig that `python Audio_Classification_Kaggle.py OPTIONS` would train."""
    return cli.options_from_args(cli.parse_args(shlex.split(options))).train


def feature_throughput(competition, work):
    paths = competition.train_paths + [p for p in competition.test_paths if p is not None]
    t = time.time()
    plain_recipe.extract(paths)
    plain = len(paths) / (time.time() - t)
    cache = tempfile.mkdtemp(dir=work, prefix="cold-cache-")
    t = time.time()
    extract_features(paths, AudioConfig(), cache)
    cold = len(paths) / (time.time() - t)
    t = time.time()
    cached = extract_features(paths, AudioConfig(), cache)
    assert cached.n_extracted == 0
    return len(paths), plain, cold, len(paths) / (time.time() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", choices=sorted(SPLITS), default="honest")
    p.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets to run ('' for the plain recipe alone)")
    p.add_argument("--models", default="", help="comma-separated models overriding each preset's (default: the preset's)")
    p.add_argument("--recipe", action="append", default=[], metavar="OPTIONS",
                   help="recipe options of Audio_Classification_Kaggle.py, run beside the presets; repeatable. "
                   "Write it as --recipe='--preset best --time-shift' (with '=') so the options are not read as the benchmark's")
    p.add_argument("--seeds", default="42", help="comma-separated seeds")
    p.add_argument("--plain-epochs", type=int, default=40)
    p.add_argument("--skip-plain", action="store_true")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-benchmark"))
    a = p.parse_args()
    if not os.path.isdir(os.path.join(SHARED, "data", "us8k5")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.makedirs(a.work, exist_ok=True)
    root = build_competition(a.split, os.path.join(a.work, f"comp-{a.split}"))
    competition = scan_competition(root)
    label = "honest: train fold 1, test fold 2" if a.split == "honest" else "KAGGLE-LIKE random 80/20 split (leaky)"
    rows, members = [], []

    n, plain_rate, cold_rate, cached_rate = feature_throughput(competition, a.work)
    print(f"\nfeature extraction, {n} clips, {os.cpu_count()} cores")
    print(f"  plain sequential librosa loop  {plain_rate:8.1f} clips/s")
    print(f"  freqquest, cold cache          {cold_rate:8.1f} clips/s")
    print(f"  freqquest, cached              {cached_rate:8.1f} clips/s", flush=True)

    if not a.skip_plain:
        t = time.time()
        names, figures = plain_recipe.run(competition, epochs=a.plain_epochs)
        path = os.path.join(a.work, f"plain-{a.split}.csv")
        write_submission(make_submission(competition.test_ids, names), path, competition.test_ids, competition.classes)
        rows.append(("plain recipe (cnn, random split, 40 ep)", "-", figures["val_accuracy_random_split"],
                     score(path, root), figures["train_s"], time.time() - t, float("nan"), float("nan")))
        print(rows[-1], flush=True)

    recipes = [(preset, preset_config(preset, **({"model": model} if model else {})))
               for preset in [p for p in a.presets.split(",") if p]
               for model in [m for m in a.models.split(",") if m] or [None]]
    recipes += [(options, recipe_config(options)) for options in a.recipe]
    for number, (name, recipe) in enumerate(recipes):
        for seed in map(int, a.seeds.split(",")):
            config = dataclasses.replace(recipe, seed=seed)
            run_dir = os.path.join(a.work, f"run-{a.split}-{number}-{config.model}-{seed}-{int(time.time())}")
            out = os.path.join(run_dir, "submission.csv")
            t = time.time()
            result = run_classification(ClassificationOptions(
                data=root, out=out, run_dir=run_dir, cache_dir=os.path.join(a.work, "cache"), train=config))
            with open(os.path.join(run_dir, "summary.json")) as f:
                summary = json.load(f)
            timings = summary["timings"]
            epochs = sum(len(pd.read_csv(os.path.join(fold_dir(run_dir, k), HISTORY))) for k in range(config.folds))
            n_fit = summary["n_train_clips"] - summary["n_validated"] / config.folds
            n_test = len(competition.test_ids)
            wall = time.time() - t
            recipe_label = f"{name} ({'+'.join((config.model, *config.classical_models))}, {config.folds} fold(s), tta {config.tta})"
            rows.append((recipe_label, seed, result.val_accuracy, score(out, root), timings["train_s"], wall,
                         n_fit * epochs / timings["train_s"], n_test / timings["predict_s"]))
            print(rows[-1], flush=True)
            if len(result.member_accuracies) > 1 or config.recording_vote:
                tests = score_members(run_dir, config, competition, root, os.path.join(a.work, "cache"))
                before = result.val_accuracy if result.accuracy_before_vote is None else result.accuracy_before_vote
                vals = result.member_accuracies | {NO_VOTE: before}
                members.append((recipe_label, seed, vals, tests))
    print(f"\n{label}; test = {len(competition.test_ids)} IDs, scored like the leaderboard")
    print("val acc: validation (out-of-fold with folds) on recordings held out of training; test acc: the leaderboard's")
    print(f"{'recipe':<44}{'seed':>6}{'val acc':>9}{'test acc':>9}{'train s':>9}{'wall s':>9}{'train/s':>9}{'pred/s':>9}")
    for name, seed, val, test, train_s, wall, train_rate, predict_rate in rows:
        print(f"{name:<44}{seed!s:>6}{val:>9.4f}{test:>9.4f}{train_s:>9.1f}{wall:>9.1f}{train_rate:>9.1f}{predict_rate:>9.1f}")
    if members:
        print(f"\neach blended member alone, and {NO_VOTE} (val acc / test acc)")
        for recipe, seed, val, test in members:
            print(f"{recipe:<44}{seed!s:>6}  " + ", ".join(f"{name} {val[name]:.4f} / {test[name]:.4f}" for name in val))


if __name__ == "__main__":
    main()
