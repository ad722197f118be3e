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
from freqquest.blend.classical import ModelFolder  # noqa: E402
from freqquest.blend.members import blend_for_test, recipe_embedders  # noqa: E402
from freqquest.blend.recordings import recording_fingerprints  # noqa: E402
from freqquest.blend.whole_set import TrainingClips, predict_set  # noqa: E402
from freqquest.classify.validation import Fitting, validate_new_recordings  # noqa: E402
from freqquest.config import AudioConfig  # noqa: E402
from freqquest.features.inputs import extract_clip_set  # noqa: E402
from freqquest.features.store import FeatureStore  # noqa: E402
from freqquest.intervals import bootstrap_mean, paired_difference, pooled_scores  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
US8K5 = os.path.join(SHARED, "data", "us8k5")
# Named recipes: the options of Audio_Classification_Kaggle.py each stands for.
RECIPES = {
    "frozen": "--model none --embeddings birdnet --no-route-reused --pseudo-label 0",
    "default": "",
    "scratch": "--preset scratch",
}
KINDS = ("new", "reused", "half")
LABELS = {
    "new": "new recordings (group folds over recordings)",
    "reused": "reused recordings (random folds over clips)",
    "half": "half and half (half the test clips new)",
}


def recipe_config(options: str):
    """The TrainConfig that `python Audio_Classification_Kaggle.py OPTIONS` would train."""
    return cli.options_from_args(cli.parse_args(shlex.split(options))).train


def outer_folds(kind: str, labels, groups, seed: int, folds: int) -> list:
    """(train, test) index pairs whose tests cover every clip once. `half`: the recordings in two
    halves A and B, the clips in two random halves H1 and H2; A's clips of H1 train and H2 is tested,
    then B's clips of H2 train and H1 is tested: half of each test is slices of training recordings,
    half new recordings, as `make_competition.py --test-frac 0.5 --train-folds 1` builds it."""
    if kind == "new":
        return list(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(labels, labels, groups))
    if kind == "reused":
        return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(labels, labels))
    a, _ = next(StratifiedGroupKFold(2, shuffle=True, random_state=seed).split(labels, labels, groups))
    h1, h2 = next(StratifiedKFold(2, shuffle=True, random_state=seed).split(labels, labels))
    in_a, first = np.isin(np.arange(len(labels)), a), np.isin(np.arange(len(labels)), h1)
    return [(np.flatnonzero(in_a & first), h2), (np.flatnonzero(~in_a & ~first), h1)]


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
    """The recipe fitted on `train_idx` as a run fits it, predicting `test_idx` as a run predicts its
    test set: its whole_set.SetPrediction."""
    train = shared.training_clips(clip_set, train_idx, store.audio, config.recording_vote)
    blends = validate_new_recordings(Fitting(config, train, store, work)).blends if config.trains_network else []
    blend = blend_for_test(config, blends, train.inputs, train.labels, train.n_classes, work)
    rates = native_rates([shared.paths[i] for i in test_idx])
    match_bandwidth(blend, config, store, train.paths, train.labels, rates, ModelFolder(work))
    return predict_set(blend, config, train, None, clip_set.inputs.take(test_idx), rates)


def run_recipe(name: str, config, shared: SharedClips, store: FeatureStore, seeds: dict, folds: int, work: str) -> dict:
    """kind -> (seeds, clips) 1/0 of each clip's out-of-fold prediction; kind -> (seeds, clips) the
    share of its test set each clip's run estimated to be slices of training recordings, and the
    truth (whether its recording had a clip in training); and the seconds it took."""
    clip_set = extract_clip_set(store, shared.paths, recipe_embedders(config, store.embedding_threads), name)
    scores, shares, started = {}, {}, time.time()
    for kind in KINDS:
        runs, estimated, truth = [], [], []
        for seed in seeds[kind]:
            predicted = np.zeros(len(shared.labels), np.int64)
            share, known = np.full(len(shared.labels), np.nan), np.zeros(len(shared.labels))
            for k, (train_idx, test_idx) in enumerate(outer_folds(kind, shared.labels, shared.groups, seed, folds)):
                fold_config = dataclasses.replace(config, seed=config.seed + 100 * seed)
                fold_work = tempfile.mkdtemp(dir=work, prefix=f"{name}-{kind}-{seed}-{k}-")
                prediction = predict_out_of_fold(shared, clip_set, fold_config, store, train_idx, test_idx, fold_work)
                predicted[test_idx] = prediction.probabilities.argmax(axis=1)
                share[test_idx] = np.nan if prediction.matches.share is None else prediction.matches.share
                known[test_idx] = np.isin(shared.groups[test_idx], shared.groups[train_idx])
            runs.append((predicted == shared.labels).astype(float))
            estimated.append(share)
            truth.append(known)
            print(
                f"  {name} {kind} seed {seed}: {runs[-1].mean():.4f}; slices of training recordings: "
                f"{share_line({'estimated': [share], 'truth': [known]})}",
                flush=True,
            )
        scores[kind] = runs
        shares[kind] = {"estimated": estimated, "truth": truth}
    return {"scores": scores, "shares": shares, "seconds": time.time() - started}


def recording_means(scores: np.ndarray, groups) -> np.ndarray:
    """Each recording's mean score (in sorted order of the recordings): every recording weighs the same."""
    _, index = np.unique(np.asarray(groups), return_inverse=True)
    return np.bincount(index, weights=scores) / np.bincount(index)


def kind_figures(scores: list, base: list | None, groups) -> dict:
    """A recipe's figures on one kind: per clip and per recording, each with its 95% interval, and
    its paired difference to the baseline's (`base`: None for the baseline itself)."""
    pooled = pooled_scores(scores)
    by_recording = recording_means(pooled, groups)
    figures = {
        "runs": len(scores),
        "accuracy": bootstrap_mean(pooled, groups).as_dict(),
        "per_recording": bootstrap_mean(by_recording).as_dict(),
    }
    if base is not None:
        base = pooled_scores(base)
        figures["paired_difference"] = paired_difference(pooled, base, groups).as_dict()
        figures["per_recording_difference"] = paired_difference(by_recording, recording_means(base, groups)).as_dict()
    return figures


def _cell(figures: dict, key: str) -> str:
    acc = figures[key]
    return f"{acc['mean']:.4f} [{acc['low']:.4f}, {acc['high']:.4f}]"


def _difference(figures: dict, key: str) -> str:
    if key not in figures:
        return ""
    d = figures[key]
    return f"{100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]"


def share_line(shares: dict) -> str:
    """The estimated share of slices of training recordings beside the truth, over every test set of the kind."""
    estimated, truth = np.asarray(shares["estimated"], dtype=float), np.asarray(shares["truth"], dtype=float)
    if estimated.size == 0 or np.all(np.isnan(estimated)):
        return "not estimated"
    return f"estimated {np.nanmean(estimated):.3f}, truly {truth.mean():.3f}"


def print_table(results: dict, baseline: str, groups) -> dict:
    """Per kind of test: each recipe's accuracy per clip and with every recording weighted the same,
    each with its 95% interval and its paired difference to the baseline; the share of its test
    clips each recipe estimated to be slices of training recordings, beside the truth."""
    table = {name: {} for name in results}
    kinds = [kind for kind in KINDS if any(result["scores"].get(kind) for result in results.values())]
    for kind in kinds:
        runs = {len(r["scores"][kind]) for r in results.values() if r["scores"].get(kind)}
        print(f"\n{LABELS[kind]}; runs {', '.join(map(str, sorted(runs)))}")
        print(
            f"{'recipe':<14}{'per clip':>26}{'paired':>26}{'per recording':>26}{'paired':>26}"
            f"   slices of training recordings"
        )
        for name, result in results.items():
            if not result["scores"].get(kind):
                continue
            base = results.get(baseline, {}).get("scores", {}).get(kind) if name != baseline else None
            figures = table[name][kind] = kind_figures(result["scores"][kind], base, groups)
            shares = result.get("shares", {}).get(kind)
            print(
                f"{name:<14}{_cell(figures, 'accuracy'):>26}{_difference(figures, 'paired_difference'):>26}"
                f"{_cell(figures, 'per_recording'):>26}{_difference(figures, 'per_recording_difference'):>26}"
                f"   {share_line(shares) if shares else '-'}"
            )
    print(
        f"(paired differences in points against {baseline}, over the same clips; 95% intervals by bootstrap over the "
        f"{len(set(groups))} recordings; seconds a recipe: "
        + ", ".join(f"{name} {result['seconds']:.0f}" for name, result in results.items())
        + ")"
    )
    return table


def recorded_results(path: str, seeds: dict) -> dict:
    """The recipes an earlier --out recorded, for a paired comparison with this run's: their folds
    are the same only for the same seeds, so a kind recorded with other seeds is refused."""
    with open(path) as f:
        recorded = json.load(f)
    for kind, given in seeds.items():
        if given and recorded["seeds"].get(kind) not in (None, given):
            raise SystemExit(f"{path} ran {kind} with seeds {recorded['seeds'][kind]}, this run {given}: not paired")
    return {
        name: {
            "options": r["options"],
            "seconds": r["seconds"],
            "scores": {k: v for k, v in r["scores"].items() if seeds.get(k)},
            "shares": {k: v for k, v in r.get("shares", {}).items() if seeds.get(k)},
        }
        for name, r in recorded["results"].items()
    }


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
    p.add_argument("--half-seeds", default="0,1,2", help="seeds of the half-and-half folds ('': none)")
    p.add_argument("--folds", type=int, default=5, help="outer folds of the new and reused kinds")
    p.add_argument(
        "--against",
        metavar="JSON",
        action="append",
        default=[],
        help="an earlier --out (another commit's code): its recipes join the table, paired over the same folds",
    )
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-yardstick"))
    p.add_argument("--out", metavar="JSON", help="write every recipe's per-clip results and the table here")
    a = p.parse_args(argv)
    if not os.path.isfile(os.path.join(US8K5, "manifest.csv")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    recipes = {name: RECIPES[name] for name in a.recipes.split(",") if name}
    recipes |= dict(option.split("=", 1) for option in a.recipe)
    given = (a.new_seeds, a.reused_seeds, a.half_seeds)
    seeds = {kind: [int(s) for s in seeds.split(",") if s] for kind, seeds in zip(KINDS, given)}
    os.makedirs(a.work, exist_ok=True)
    shared = SharedClips.load()
    store = FeatureStore(AudioConfig(), os.path.join(a.work, "cache"))
    print(
        f"{len(shared.labels)} clips of {len(set(shared.groups))} recordings, {a.folds} outer folds; seeds {seeds}; "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    results = {}
    for path in a.against:
        results |= recorded_results(path, seeds)
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
                            "shares": {
                                k: {part: np.asarray(v).tolist() for part, v in parts.items()}
                                for k, parts in r.get("shares", {}).items()
                            },
                        }
                        for n, r in results.items()
                    },
                },
                f,
            )


if __name__ == "__main__":
    main()
