#!/usr/bin/env python3
"""Issue 39's memorizer, measured: a Keras log-Mel cnn trained on every training clip of each of the
yardstick's outer folds (to learn the recordings, not to generalize), beside the default's whole-set
prediction of the fold, and blends of the two, counted in errors.

  python benchmarks/benchmark_memorizer.py --seeds 0                  # reused kind, 5 folds: ~45 min on 2 cores
  python benchmarks/benchmark_memorizer.py --seeds 0,1,2,3,4 --kind new   # where a gate must change nothing

Each fold's result is written to --out as it lands, so a run cut short goes on where it stopped;
the report reads every recorded fold of the kind. No decision is made here: the yardstick's rule
(paired intervals over recordings, both kinds) decides, once a gate is chosen on other seeds.
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import benchmark_classification as yardstick  # noqa: E402

from freqquest.blend.members import recipe_embedders  # noqa: E402
from freqquest.config import NORMALIZATIONS, AudioConfig  # noqa: E402
from freqquest.features.inputs import extract_clip_set  # noqa: E402
from freqquest.features.store import FeatureStore  # noqa: E402
from freqquest.intervals import Interval, paired_difference  # noqa: E402

FOLDS = 5
BATCH_SIZE = 32


def blends(default: np.ndarray, cnn: np.ndarray, posterior: np.ndarray, matched: np.ndarray) -> dict:
    """The ways of adding the cnn's probabilities to the default's: name -> (clips, classes) scores."""
    unmatched = ~np.asarray(matched, bool)
    return {
        "the default": default,
        "the cnn alone": cnn,
        "the two averaged, every clip": default + cnn,
        "the cnn in proportion to the clip's posterior of being a slice": default + posterior[:, None] * cnn,
        "the cnn for the clips routing did not take": default + unmatched[:, None] * cnn,
    }


def blend_errors(folds: list, labels: np.ndarray) -> dict:
    """name -> errors over every recorded fold (each a dict of test_idx, default, cnn, posterior, matched)."""
    errors = {}
    for fold in folds:
        y = labels[np.asarray(fold["test_idx"])]
        scores = blends(*(np.asarray(fold[k]) for k in ("default", "cnn", "posterior", "matched")))
        for name, probabilities in scores.items():
            errors[name] = errors.get(name, 0) + int(np.sum(probabilities.argmax(axis=1) != y))
    return errors


UNSURE = (0.5, 0.6, 0.7, 0.8, 0.9)  # the default's top probability below which the gate may act
SURE = (0.8, 0.9, 0.95, 0.99)  # the cnn's top probability above which it may


@dataclasses.dataclass(frozen=True)
class Gate:
    """The cnn's class where the default is unsure (its top probability below `unsure`) and the cnn
    sure (above `sure`); the default's answer everywhere else."""

    unsure: float
    sure: float

    def classes(self, fold: dict) -> np.ndarray:
        default, cnn = (np.asarray(fold[k], float) for k in ("default", "cnn"))
        default = default / default.sum(axis=1, keepdims=True)
        switch = (default.max(axis=1) < self.unsure) & (cnn.max(axis=1) > self.sure)
        return np.where(switch, cnn.argmax(axis=1), default.argmax(axis=1))

    def __str__(self) -> str:
        return f"the cnn where the default's top probability < {self.unsure:g} and the cnn's > {self.sure:g}"


def choose_gate(folds: list, labels: np.ndarray) -> Gate:
    """The gate of UNSURE x SURE with the fewest errors over `folds` (a tie: the one that acts least)."""

    def cost(gate: Gate) -> tuple:
        errors = sum(int(np.sum(gate.classes(f) != labels[np.asarray(f["test_idx"])])) for f in folds)
        return errors, gate.unsure, -gate.sure

    return min((Gate(u, s) for u in UNSURE for s in SURE), key=cost)


def gate_against_default(gate: Gate, folds: list, labels: np.ndarray, groups) -> Interval:
    """The gate's accuracy minus the default's on the clips of `folds`, paired, over recordings."""
    index = np.concatenate([f["test_idx"] for f in folds])
    gated = np.concatenate([gate.classes(f) for f in folds]) == labels[index]
    default = np.concatenate([np.asarray(f["default"]).argmax(axis=1) for f in folds]) == labels[index]
    return paired_difference(gated, default, np.asarray(groups)[index])


@dataclasses.dataclass(frozen=True)
class Memorizer:
    """The cnn fitted on every training clip of a fold for `epochs`, no validation, no augmentation.
    `normalization` "global" keeps each clip's level, which per-clip standardization ("clip", the
    pipeline's default) removes: a recording's level is part of what a memorizer could learn.
    `cosine` decays Adam's step from 1e-3 to zero over the epochs, so the weights kept are those
    of a converged fit rather than of wherever a constant step left them."""

    epochs: int = 25
    normalization: str = "clip"
    cosine: bool = False

    def fit(self, x_train, y_train, n_classes: int, seed: int):
        import keras

        from freqquest.models import build_model

        keras.utils.set_random_seed(seed)
        stats = (float(x_train.mean()), float(x_train.var())) if self.normalization == "global" else None
        model = build_model("cnn", x_train.shape[1:], n_classes, self.normalization, stats)
        steps = self.epochs * -(-len(x_train) // BATCH_SIZE)
        rate = keras.optimizers.schedules.CosineDecay(1e-3, steps) if self.cosine else 1e-3
        model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy")
        model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=self.epochs, verbose=0)
        return model

    def results_name(self, kind: str) -> str:
        """Its results' file: memorizer-reused-25.json for the first one measured, the others named by what differs."""
        normalization = "" if self.normalization == "clip" else f"-{self.normalization}"
        return f"memorizer-{kind}-{self.epochs}{normalization}{'-cosine' if self.cosine else ''}.json"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0", help="seeds of the outer folds, comma-separated (default 0)")
    p.add_argument("--kind", choices=("reused", "new"), default="reused", help="the kind of test (default reused)")
    p.add_argument("--epochs", type=int, default=25, help="the cnn's epochs on every training clip (default 25)")
    p.add_argument(
        "--normalization", choices=NORMALIZATIONS, default="clip", help="the cnn's input standardization (default clip)"
    )
    p.add_argument("--cosine", action="store_true", help="decay the cnn's step to zero over its epochs")
    p.add_argument(
        "--choose-on",
        metavar="SEEDS",
        help="choose a gate on these seeds' recorded folds and read it on the other recorded seeds' (e.g. 0,1,2)",
    )
    p.add_argument("--gate", metavar="UNSURE,SURE", help="read this gate on every recorded fold (e.g. 0.7,0.99)")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-yardstick"))
    p.add_argument("--out", default=None, help="each fold's result, as JSON (default: under --work)")
    a = p.parse_args(argv)
    if not os.path.isfile(os.path.join(yardstick.US8K5, "manifest.csv")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    memorizer = Memorizer(a.epochs, a.normalization, a.cosine)
    out = a.out or os.path.join(a.work, memorizer.results_name(a.kind))
    recorded = json.load(open(out)) if os.path.isfile(out) else {}
    os.makedirs(a.work, exist_ok=True)
    shared = yardstick.SharedClips.load()
    store = FeatureStore(AudioConfig(), os.path.join(a.work, "cache"))
    config = yardstick.recipe_config("")
    clip_set = extract_clip_set(store, shared.paths, recipe_embedders(config, 1), "shared")
    for seed in [int(s) for s in a.seeds.split(",") if s]:
        outer = yardstick.outer_folds(a.kind, shared.labels, shared.groups, seed, FOLDS)
        for k, (train_idx, test_idx) in enumerate(outer):
            key = f"seed {seed} fold {k}"
            if key in recorded:
                continue
            started = time.time()
            fold_config = dataclasses.replace(config, seed=config.seed + 100 * seed)
            work = tempfile.mkdtemp(dir=a.work, prefix=f"memorizer-{seed}-{k}-")
            prediction = yardstick.predict_out_of_fold(shared, clip_set, fold_config, store, train_idx, test_idx, work)
            x = clip_set.inputs.log_mels
            model = memorizer.fit(x[train_idx], shared.labels[train_idx], len(shared.classes), 1000 * seed + k)
            recorded[key] = {
                "test_idx": test_idx.tolist(),
                "default": prediction.probabilities.tolist(),
                "cnn": model.predict(x[test_idx], verbose=0).tolist(),
                "posterior": prediction.matches.posterior.tolist(),
                "matched": prediction.matches.matched.tolist(),
                "seconds": time.time() - started,
            }
            with open(out + ".tmp", "w") as f:
                json.dump(recorded, f)
            os.replace(out + ".tmp", out)
            print(f"{key}: {time.time() - started:.0f} s", flush=True)
    folds = list(recorded.values())
    n = sum(len(fold["test_idx"]) for fold in folds)
    print(f"{a.kind} recordings, {len(folds)} folds ({', '.join(recorded)}), {n} predictions; errors:")
    for name, errors in blend_errors(folds, shared.labels).items():
        print(f"  {name:64s} {errors:4d}  ({1 - errors / max(n, 1):.4f})")
    read_against_default(a, recorded, shared)


def read_against_default(a, recorded: dict, shared) -> None:
    """--choose-on: a gate chosen on some seeds, read on the others; --gate: one gate read on every fold."""

    def against_default(gate: Gate, folds: list) -> str:
        difference = gate_against_default(gate, folds, shared.labels, shared.groups)
        return f"{difference.as_points()} points against the default (paired, 95% over recordings)"

    if a.choose_on:
        seeds = {f"seed {s} " for s in a.choose_on.split(",")}
        choosing = [fold for key, fold in recorded.items() if key[: key.index("fold")] in seeds]
        reading = [fold for key, fold in recorded.items() if key[: key.index("fold")] not in seeds]
        gate = choose_gate(choosing, shared.labels)
        print(f"gate chosen on seeds {a.choose_on} ({len(choosing)} folds): {gate}")
        print(f"  on those folds: {against_default(gate, choosing)}")
        if reading:
            print(f"  read on the other {len(reading)} folds: {against_default(gate, reading)}")
    if a.gate:
        gate = Gate(*(float(v) for v in a.gate.split(",")))
        print(f"{gate}, on every recorded fold: {against_default(gate, list(recorded.values()))}")


if __name__ == "__main__":
    main()
