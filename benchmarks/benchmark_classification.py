#!/usr/bin/env python3
"""Side-by-side figures on real UrbanSound8K clips (../shared/data/us8k5), in one run.

  python benchmarks/benchmark_classification.py                          # both directions: plain recipe vs every preset
  python benchmarks/benchmark_classification.py --split kaggle           # the Kaggle-like random split (leaky)
  python benchmarks/benchmark_classification.py --presets default --seeds 42,7 --skip-plain --direction 1to2
  python benchmarks/benchmark_classification.py --presets '' --recipe='--embeddings birdnet' --ablate --skip-plain

Honest split, in each direction (1to2: train on fold 1, test on fold 2; 2to1: the reverse; both:
each, side by side, and their mean): whole recordings unseen, opaque test IDs, 30% of the files
rewritten in other formats, 3 corrupt test files. Prints feature-extraction clips/s (the plain
sequential librosa loop vs ours, cold and cached; the recipes' pretrained features cold and
cached), then for each
recipe and seed: validation and leaderboard-style test accuracy, training and wall time,
training samples/s and prediction clips/s, and each blended member's test accuracy alone.
`--ablate` scores, from the same runs, every subset of the blend's members with and without
bandwidth matching and the recording vote: what each ingredient adds, measured in one run.
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
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plain_recipe  # noqa: E402

import Audio_Classification_Kaggle as cli  # noqa: E402
from freqquest.blend.bandwidth import match_bandwidth, readable_rates  # noqa: E402
from freqquest.blend.members import (  # noqa: E402
    average_members,
    load_blend,
    recipe_embedders,  # noqa: E402
)
from freqquest.blend.recordings import KnownRecordings, recording_fingerprints, vote_by_recording  # noqa: E402
from freqquest.competition.dataset import scan_competition  # noqa: E402
from freqquest.config import PRESETS, AudioConfig, preset_config  # noqa: E402
from freqquest.features.embeddings import BirdNet  # noqa: E402
from freqquest.features.inputs import extract_clip_set  # noqa: E402
from freqquest.features.store import FeatureStore, LogMel  # noqa: E402
from freqquest.run.pipeline import ClassificationOptions, run_classification  # noqa: E402
from freqquest.run.submission import make_submission, to_class_names, write_submission  # noqa: E402
from freqquest.runs import (  # noqa: E402
    HISTORY,
    fold_dir,
    read_run_config,  # noqa: E402
)

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
ZOO = ["--hash-test-ids", "--format-zoo", "0.3", "--corrupt", "3"]
SPLITS = {
    "1to2": ["--train-folds", "1", "--test-folds", "2", *ZOO],
    "2to1": ["--train-folds", "2", "--test-folds", "1", *ZOO],
    "kaggle": ["--test-frac", "0.2", *ZOO],
}
LABELS = {
    "1to2": "honest, train fold 1 -> test fold 2",
    "2to1": "honest, train fold 2 -> test fold 1",
    "kaggle": "KAGGLE-LIKE random 80/20 split (leaky)",
}


def build_competition(split, out):
    if not os.path.isfile(os.path.join(out, "solution.csv")):
        subprocess.run(
            [
                sys.executable,
                os.path.join(SHARED, "tools", "make_competition.py"),
                "--src",
                os.path.join(SHARED, "data", "us8k5"),
                "--out",
                out,
                *SPLITS[split],
            ],
            check=True,
        )
    return out


def score(submission, root):
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(SHARED, "tools", "score_submission.py"),
            submission,
            os.path.join(root, "solution.csv"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[1])


def recipe_config(options: str):
    """The TrainConfig that `python Audio_Classification_Kaggle.py OPTIONS` would train."""
    return cli.options_from_args(cli.parse_args(shlex.split(options))).train


def recipe_label(name, config):
    members = "+".join(config.member_names)
    return f"{name} ({members}, {config.folds} fold(s), tta {config.tta})"


def feature_throughput(competition, work, embedders: dict):
    """clips/s of the plain loop, of our log-Mels cold and cached, and of the recipes' pretrained
    features cold and cached (extracted together, as the pipeline does: one pass over each file
    for every feature of one model). benchmark_extraction.py compares checkouts."""
    paths = competition.train_paths + [p for p in competition.test_paths if p is not None]
    rates = {}
    t = time.time()
    plain_recipe.extract(paths)
    rates["plain sequential librosa loop"] = len(paths) / (time.time() - t)
    groups = {
        "log-Mel": {"log-Mel": LogMel(AudioConfig())},
        " + ".join(embedders): {name: e.extractor(AudioConfig()) for name, e in embedders.items()},
    }
    for label, extractors in groups.items():
        store = FeatureStore(AudioConfig(), tempfile.mkdtemp(dir=work, prefix="cold-cache-"))
        for state in ("cold", "cached"):
            t = time.time()
            found = store.extract_all(paths, extractors)
            assert all((s.n_extracted == 0) == (state == "cached") for s in found.values())
            rates[f"freqquest {label}, {state}"] = len(paths) / (time.time() - t)
    return len(paths), rates


@dataclasses.dataclass
class TestView:
    """A finished run's members on the test clips, for scoring subsets of them after the fact."""

    run_dir: str
    root: str
    competition: object
    members: dict  # name -> probabilities of the readable test clips, bandwidth-matched where the run matches
    unmatched: dict  # the same without bandwidth matching
    fingerprints: np.ndarray
    known: KnownRecordings
    paths: list
    ok: np.ndarray
    fallback: str

    def score(self, names, matched: bool, vote: bool, label: str) -> float:
        """The leaderboard's accuracy of the blend of `names` (the fallback class for unreadable clips)."""
        probabilities = average_members({n: (self.members if matched else self.unmatched)[n] for n in names})
        if vote:
            probabilities = vote_by_recording(probabilities, self.fingerprints, self.known)
        readable = [p for p, ok in zip(self.paths, self.ok) if ok]
        predicted = dict(
            zip(
                readable,
                to_class_names(probabilities, self.competition.classes, np.ones(len(readable), bool), self.fallback),
            )
        )
        names_out = [predicted.get(p, self.fallback) for p in self.competition.test_paths]
        path = os.path.join(self.run_dir, f"submission-{label}.csv")
        write_submission(
            make_submission(self.competition.test_ids, names_out),
            path,
            self.competition.test_ids,
            self.competition.classes,
        )
        return score(path, self.root)


def test_view(run_dir, root, competition, store) -> TestView:
    saved = read_run_config(run_dir)
    config = saved["train"]
    test = extract_clip_set(
        store, [p for p in competition.test_paths if p is not None], recipe_embedders(config), "test"
    )
    blend = load_blend(run_dir, config, len(saved["classes"]))
    rates = readable_rates(test)
    match_bandwidth(
        blend,
        dataclasses.replace(config, match_bandwidth=True),
        store,
        competition.train_paths,
        competition.train_labels,
        rates,
        run_dir,
    )
    readable = test.inputs.take(test.ok)
    members = blend.predict(readable, rates[test.ok])
    unmatched = blend.predict(readable)
    train = store.log_mels(competition.train_paths, "train log-Mels")
    known = KnownRecordings.of_training_clips(
        recording_fingerprints(train.features[train.ok], store.audio),
        competition.train_labels[train.ok],
        np.asarray(competition.train_groups)[train.ok],
        len(competition.classes),
    )
    return TestView(
        run_dir,
        root,
        competition,
        members,
        unmatched,
        recording_fingerprints(readable.log_mels, store.audio),
        known,
        test.paths,
        test.ok,
        saved["fallback_class"],
    )


def ablation_rows(view: TestView) -> dict:
    """(members, matching, vote) -> test accuracy for every non-empty subset of the run's members."""
    names = list(view.members)
    out = {}
    for size in range(1, len(names) + 1):
        for subset in itertools.combinations(names, size):
            for matched, vote in itertools.product((False, True), (False, True)):
                label = "+".join(subset) + ("-matched" if matched else "") + ("-voted" if vote else "")
                out[("+".join(subset), matched, vote)] = view.score(subset, matched, vote, label)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", choices=("honest", "kaggle"), default="honest")
    p.add_argument(
        "--direction",
        choices=("1to2", "2to1", "both"),
        default="both",
        help="honest split: train fold 1 -> test fold 2, the reverse, or both side by side with the mean",
    )
    p.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets to run ('' for none)")
    p.add_argument(
        "--recipe",
        action="append",
        default=[],
        metavar="OPTIONS",
        help="recipe options of Audio_Classification_Kaggle.py, run beside the presets; repeatable. "
        "Write it as --recipe='--preset best --time-shift' (with '=') so the options are not read as the benchmark's",
    )
    p.add_argument("--seeds", default="42", help="comma-separated seeds")
    p.add_argument(
        "--ablate",
        action="store_true",
        help="also score every subset of each run's members, with and without bandwidth matching and the vote",
    )
    p.add_argument("--plain-epochs", type=int, default=40)
    p.add_argument("--skip-plain", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-benchmark"))
    a = p.parse_args()
    if not os.path.isdir(os.path.join(SHARED, "data", "us8k5")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.makedirs(a.work, exist_ok=True)
    splits = ["kaggle"] if a.split == "kaggle" else ["1to2", "2to1"] if a.direction == "both" else [a.direction]
    roots = {split: build_competition(split, os.path.join(a.work, f"comp-{split}")) for split in splits}
    competitions = {split: scan_competition(root) for split, root in roots.items()}
    store = FeatureStore(AudioConfig(), os.path.join(a.work, "cache"))
    seeds = [int(s) for s in a.seeds.split(",")]
    recipes = [(preset, preset_config(preset)) for preset in a.presets.split(",") if preset]
    recipes += [(options, recipe_config(options)) for options in a.recipe]

    if not a.skip_throughput:
        embedders = {name: e for _, config in recipes for name, e in recipe_embedders(config).items()}
        n, rates = feature_throughput(competitions[splits[0]], a.work, embedders or {"birdnet": BirdNet()})
        print(f"\nfeature extraction, {n} clips, {os.cpu_count()} cores")
        for name, rate in rates.items():
            print(f"  {name:<36}{rate:9.1f} clips/s", flush=True)

    results = []  # (recipe label, seed, split, val, test, train_s, wall_s, train/s, pred/s, member tests)
    ablations = {}  # (recipe label, seed, split) -> ablation_rows
    for split in splits:
        root, competition = roots[split], competitions[split]
        if not a.skip_plain:
            t = time.time()
            names, figures = plain_recipe.run(competition, epochs=a.plain_epochs)
            path = os.path.join(a.work, f"plain-{split}.csv")
            write_submission(
                make_submission(competition.test_ids, names), path, competition.test_ids, competition.classes
            )
            results.append(
                (
                    "plain recipe (classic cnn, random split, 40 ep)",
                    "-",
                    split,
                    figures["val_accuracy_random_split"],
                    score(path, root),
                    figures["train_s"],
                    time.time() - t,
                    float("nan"),
                    float("nan"),
                    {},
                )
            )
            print(results[-1], flush=True)
        for number, (name, recipe) in enumerate(recipes):
            for seed in seeds:
                config = dataclasses.replace(recipe, seed=seed)
                run_dir = os.path.join(a.work, f"run-{split}-{number}-{config.model}-{seed}-{int(time.time())}")
                out = os.path.join(run_dir, "submission.csv")
                t = time.time()
                result = run_classification(
                    ClassificationOptions(data=root, out=out, run_dir=run_dir, cache_dir=store.cache_dir, train=config)
                )
                wall = time.time() - t
                with open(os.path.join(run_dir, "summary.json")) as f:
                    summary = json.load(f)
                timings = summary["timings"]
                epochs = (
                    sum(len(pd.read_csv(os.path.join(fold_dir(run_dir, k), HISTORY))) for k in range(config.folds))
                    if config.trains_network
                    else float("nan")
                )
                n_fit = summary["n_train_clips"] - summary["n_validated"] / config.folds
                view = test_view(run_dir, root, competition, store)
                members = {m: view.score([m], config.match_bandwidth, False, m) for m in view.members}
                label = recipe_label(name, config)
                results.append(
                    (
                        label,
                        seed,
                        split,
                        result.val_accuracy,
                        score(out, root),
                        timings["train_s"],
                        wall,
                        n_fit * epochs / timings["train_s"],
                        len(competition.test_ids) / timings["predict_s"],
                        members,
                    )
                )
                print(results[-1][:9], flush=True)
                if a.ablate:
                    ablations[(label, seed, split)] = ablation_rows(view)

    print_results(results, splits)
    if ablations:
        print_ablations(ablations, splits)


def print_results(results, splits):
    print(
        "\nval acc: validation (out-of-fold with folds) on recordings held out of training; test acc: the leaderboard's"
    )
    for split in splits:
        print(f"  {split}: {LABELS[split]}")
    columns = "".join(f"{split + ' test':>12}" for split in splits) + (f"{'mean':>8}" if len(splits) > 1 else "")
    print(f"\n{'recipe':<58}{'seed':>5}{columns}{'val acc':>16}{'train s':>16}{'wall s':>16}")
    keys = list(dict.fromkeys((r[0], r[1]) for r in results))
    for label, seed in keys:
        rows = {r[2]: r for r in results if (r[0], r[1]) == (label, seed)}
        tests = [rows[s][4] for s in splits if s in rows]
        line = "".join(f"{rows[s][4]:>12.4f}" if s in rows else f"{'':>12}" for s in splits)
        if len(splits) > 1:
            line += f"{np.mean(tests):>8.4f}"
        triple = lambda k, fmt: " / ".join(format(rows[s][k], fmt) for s in splits if s in rows)  # noqa: E731
        print(f"{label:<58}{seed!s:>5}{line}{triple(3, '.3f'):>16}{triple(5, '.0f'):>16}{triple(6, '.0f'):>16}")
    print("\neach blended member alone on the test clips (bandwidth-matched where the recipe matches)")
    for label, seed in keys:
        for split in splits:
            for r in results:
                if (r[0], r[1], r[2]) == (label, seed, split) and len(r[9]) > 1:
                    print(f"  {label} seed {seed} {split}: " + ", ".join(f"{m} {v:.4f}" for m, v in r[9].items()))


def print_ablations(ablations, splits):
    """One table per recipe: a row per (members, matching, vote), a column per direction and seed, and the means."""
    print("\nablation: test accuracy of each subset of members (m: bandwidth matching, v: recording vote)")
    for label in dict.fromkeys(k[0] for k in ablations):
        runs = {(split, seed): rows for (name, seed, split), rows in ablations.items() if name == label}
        columns = sorted(runs, key=lambda k: (splits.index(k[0]), k[1]))
        by_split = {s: [c for c in columns if c[0] == s] for s in splits if any(c[0] == s for c in columns)}
        print(f"\n{label}")
        print(
            f"{'members':<34}{'m':>3}{'v':>3}"
            + "".join(f"{s + '/' + str(seed):>11}" for s, seed in columns)
            + "".join(f"{'mean ' + s:>11}" for s in by_split)
            + f"{'mean':>9}"
        )
        for key in runs[columns[0]]:
            subset, matched, vote = key
            values = [runs[c][key] for c in columns]
            means = [np.mean([runs[c][key] for c in cs]) for cs in by_split.values()]
            print(
                f"{subset:<34}{'y' if matched else '-':>3}{'y' if vote else '-':>3}"
                + "".join(f"{v:>11.4f}" for v in values)
                + "".join(f"{v:>11.4f}" for v in means)
                + f"{np.mean(means):>9.4f}"
            )


if __name__ == "__main__":
    main()
