#!/usr/bin/env python3
"""The yardstick: recipes compared on all 973 shared UrbanSound8K clips (../shared/data/us8k5), on
both kinds of test, with 95% intervals over recordings and paired differences.

  python benchmarks/benchmark_classification.py                                   # every named recipe
  python benchmarks/benchmark_classification.py --recipes frozen,default --new-seeds 0 --reused-seeds 0
  python benchmarks/benchmark_classification.py --recipes frozen --recipe 'tuned=--model birdnet --folds 1'

Each kind of test predicts every clip out of fold, each model trained on most of the data, as a
user's run is (the recipe's own folds inside each outer fold):
- new recordings: stratified group folds over the recordings (a recording's slices on one side);
- reused recordings: stratified folds over the clips, so that most test clips have sibling
  slices in training, as the reference leaderboard's random split has them.
Each is repeated over seeds and the runs pooled: a clip counts once, with the share of runs that
got it right. Every recipe gets its mean with a 95% interval from a bootstrap over the
recordings (the unit that errs together), and every recipe its paired difference to the
baseline (`--baseline`, the frozen embedding's recipe) with its interval. The rule: an ingredient
stays when its interval lies above zero on the kind of test it is for and not below zero on the
other. Prints time a recipe and peak memory of the process; `--out` keeps every clip's result.
"""

import argparse
import dataclasses
import json
import logging
import os
import resource
import shlex
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import Audio_Classification_Kaggle as cli  # noqa: E402
from freqquest.blend.bandwidth import match_bandwidth, native_rates  # noqa: E402
from freqquest.blend.members import blend_for_test, recipe_embedders  # noqa: E402
from freqquest.blend.recordings import recording_fingerprints  # noqa: E402
from freqquest.blend.whole_set import TrainingClips, predict_set  # noqa: E402
from freqquest.config import AudioConfig  # noqa: E402
from freqquest.features.inputs import extract_clip_set  # noqa: E402
from freqquest.features.store import FeatureStore  # noqa: E402
from freqquest.intervals import bootstrap_mean, paired_difference, pooled_scores  # noqa: E402
from freqquest.run.validation import Fitting, validate_new_recordings  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
US8K5 = os.path.join(SHARED, "data", "us8k5")
# Named recipes: the options of Audio_Classification_Kaggle.py each stands for.
RECIPES = {
    "frozen": "--model none --embeddings birdnet --no-route-reused --pseudo-label 0",
    "default": "",
    "scratch": "--preset scratch",
}
KINDS = ("new", "reused")
LABELS = {
    "new": "new recordings (group folds over recordings)",
    "reused": "reused recordings (random folds over clips)",
}


def recipe_config(options: str):
    """The TrainConfig that `python Audio_Classification_Kaggle.py OPTIONS` would train."""
    return cli.options_from_args(cli.parse_args(shlex.split(options))).train


def outer_folds(kind: str, labels, groups, seed: int, folds: int) -> list:
    if kind == "new":
        return list(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(labels, labels, groups))
    return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(labels, labels))


@dataclasses.dataclass
class SharedClips:
    """The shared clips as a user's run would hold them, with what a recipe reads of them."""

    paths: list
    labels: np.ndarray
    groups: np.ndarray
    classes: list

    @classmethod
    def load(cls) -> "SharedClips":
        manifest = pd.read_csv(os.path.join(US8K5, "manifest.csv"))
        classes = sorted(manifest["label"].unique())
        return cls(
            [os.path.join(US8K5, f) for f in manifest["file"]],
            np.array([classes.index(c) for c in manifest["label"]]),
            manifest["fsid"].astype(str).to_numpy(),
            classes,
        )

    def training_clips(self, clip_set, index, audio: AudioConfig, vote: bool) -> TrainingClips:
        inputs = clip_set.inputs.take(index)
        paths = [self.paths[i] for i in index]
        return TrainingClips(
            paths,
            inputs,
            self.labels[index],
            self.groups[index],
            native_rates(paths),
            np.ones(len(index), bool),
            recording_fingerprints(inputs.log_mels, audio) if vote else None,
            len(self.classes),
            audio,
        )


def predict_out_of_fold(shared: SharedClips, clip_set, config, store: FeatureStore, train_idx, test_idx, work: str):
    """The recipe fitted on `train_idx` as a run fits it, predicting `test_idx` as a run predicts its test set."""
    train = shared.training_clips(clip_set, train_idx, store.audio, config.recording_vote)
    blends = validate_new_recordings(Fitting(config, train, store, work)).blends if config.trains_network else []
    blend = blend_for_test(config, blends, train.inputs, train.labels, train.n_classes, work)
    rates = native_rates([shared.paths[i] for i in test_idx])
    match_bandwidth(blend, config, store, train.paths, train.labels, rates, work)
    return predict_set(blend, config, train, None, clip_set.inputs.take(test_idx), rates).probabilities


def run_recipe(name: str, config, shared: SharedClips, store: FeatureStore, seeds: dict, folds: int, work: str) -> dict:
    """kind -> (seeds, clips) 1/0 of each clip's out-of-fold prediction; and the seconds it took."""
    clip_set = extract_clip_set(store, shared.paths, recipe_embedders(config, store.embedding_threads), name)
    scores, started = {}, time.time()
    for kind in KINDS:
        runs = []
        for seed in seeds[kind]:
            predicted = np.zeros(len(shared.labels), np.int64)
            for k, (train_idx, test_idx) in enumerate(outer_folds(kind, shared.labels, shared.groups, seed, folds)):
                fold_config = dataclasses.replace(config, seed=config.seed + 100 * seed)
                fold_work = tempfile.mkdtemp(dir=work, prefix=f"{name}-{kind}-{seed}-{k}-")
                probabilities = predict_out_of_fold(
                    shared, clip_set, fold_config, store, train_idx, test_idx, fold_work
                )
                predicted[test_idx] = probabilities.argmax(axis=1)
            runs.append((predicted == shared.labels).astype(float))
            print(f"  {name} {kind} seed {seed}: {runs[-1].mean():.4f}", flush=True)
        scores[kind] = runs
    return {"scores": scores, "seconds": time.time() - started}


def print_table(results: dict, baseline: str, groups) -> dict:
    """Each recipe's mean [95% interval] on each kind, and its paired difference to the baseline."""
    table = {}
    kinds = [kind for kind in KINDS if any(result["scores"][kind] for result in results.values())]
    print(f"\n{'recipe':<14}" + "".join(f"{LABELS[k]:>48}" for k in kinds))
    for name, result in results.items():
        row = {}
        for kind in kinds:
            pooled = pooled_scores(result["scores"][kind])
            row[kind] = {"accuracy": bootstrap_mean(pooled, groups).as_dict(), "runs": len(result["scores"][kind])}
            if name != baseline and baseline in results:
                base = pooled_scores(results[baseline]["scores"][kind])
                row[kind]["paired_difference"] = paired_difference(pooled, base, groups).as_dict()
        table[name] = row
    for name, row in table.items():
        cells = []
        for kind in kinds:
            acc = row[kind]["accuracy"]
            cell = f"{acc['mean']:.4f} [{acc['low']:.4f}, {acc['high']:.4f}]"
            if "paired_difference" in row[kind]:
                d = row[kind]["paired_difference"]
                cell += f" {100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]"
            cells.append(f"{cell:>48}")
        print(f"{name:<14}" + "".join(cells) + f"   {results[name]['seconds']:.0f} s")
    print(
        f"(paired differences in points against {baseline}, over the same clips; 95% intervals by bootstrap over the "
        f"{len(set(groups))} recordings)"
    )
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", default=",".join(RECIPES), help=f"named recipes, comma-separated: {', '.join(RECIPES)}")
    p.add_argument(
        "--recipe",
        action="append",
        default=[],
        metavar="NAME=OPTIONS",
        help="another recipe: a name and the script's options, e.g. 'tuned=--model birdnet --folds 1'",
    )
    p.add_argument("--baseline", default="frozen", help="the recipe every other is compared with (default frozen)")
    p.add_argument("--new-seeds", default="0,1,2", help="seeds of the group folds over recordings ('': none)")
    p.add_argument("--reused-seeds", default="0,1,2,3,4", help="seeds of the random folds over clips ('': none)")
    p.add_argument("--folds", type=int, default=5, help="outer folds of each kind")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-yardstick"))
    p.add_argument("--out", metavar="JSON", help="write every recipe's per-clip results and the table here")
    a = p.parse_args(argv)
    if not os.path.isfile(os.path.join(US8K5, "manifest.csv")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    recipes = {name: RECIPES[name] for name in a.recipes.split(",") if name}
    recipes |= dict(option.split("=", 1) for option in a.recipe)
    seeds = {kind: [int(s) for s in given.split(",") if s] for kind, given in zip(KINDS, (a.new_seeds, a.reused_seeds))}
    os.makedirs(a.work, exist_ok=True)
    shared = SharedClips.load()
    store = FeatureStore(AudioConfig(), os.path.join(a.work, "cache"))
    print(
        f"{len(shared.labels)} clips of {len(set(shared.groups))} recordings, {a.folds} outer folds; seeds {seeds}; "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    results = {}
    for name, options in recipes.items():
        results[name] = run_recipe(name, recipe_config(options), shared, store, seeds, a.folds, a.work)
        results[name]["options"] = options
    table = print_table(results, a.baseline, shared.groups)
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(
                {
                    "table": table,
                    "seeds": seeds,
                    "results": {
                        n: {
                            "options": r["options"],
                            "seconds": r["seconds"],
                            "scores": {k: np.asarray(v).tolist() for k, v in r["scores"].items()},
                        }
                        for n, r in results.items()
                    },
                },
                f,
            )


if __name__ == "__main__":
    main()
