#!/usr/bin/env python3
"""Issue 39's memorizer, measured: a model fitted on every training clip of each of the yardstick's
outer folds (to learn the recordings, not to generalize), beside the default's whole-set prediction
of the fold, and blends of the two, counted in errors. Three kinds (--memorizer):
  cnn        the Keras log-Mel cnn, trained from scratch
  birdnet    BirdNET's last segment fine-tuned (the `--model birdnet` network), on every window
  recording  a logistic regression over the training recordings on BirdNET's embedding, each
             recording's probability given to its class: recording identification

  python benchmarks/benchmark_memorizer.py --seeds 0                  # reused kind, 5 folds: ~45 min on 2 cores
  python benchmarks/benchmark_memorizer.py --seeds 0,1,2,3,4 --kind new   # where a gate must change nothing
  python benchmarks/benchmark_memorizer.py --memorizer recording --seeds 0,1,2 --defaults R.json --second C.json

Each fold's result is written to --out as it lands, so a run cut short goes on where it stopped;
the report reads every recorded fold of the kind. `--defaults FILE` takes the default's predictions
of each fold from another memorizer's results on the same folds instead of fitting the default
again; `--second FILE` reads another memorizer's results beside this one's: where the two agree on
a class other than the default's, theirs is taken (a blend with nothing to choose). No decision is
made here: the yardstick's rule (paired intervals over recordings, both kinds) decides, once a gate
is chosen on other seeds.
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

from freqquest.blend.members import predict_proba, recipe_embedders  # noqa: E402
from freqquest.config import NORMALIZATIONS, AudioConfig, TrainConfig  # noqa: E402
from freqquest.features.embeddings import BirdNetWindows  # noqa: E402
from freqquest.features.inputs import ClipInputs, extract_clip_set  # noqa: E402
from freqquest.features.store import FeatureStore  # noqa: E402
from freqquest.intervals import Interval, paired_difference  # noqa: E402

FOLDS = 5
BATCH_SIZE = 32


def blends(fold: dict) -> dict:
    """The ways of adding the memorizer's probabilities to the default's: name -> (clips, classes) scores
    (a fold with a `second` memorizer's: where both memorizers agree against the default, theirs)."""
    default, memorizer, posterior = (np.asarray(fold[k], float) for k in ("default", "memorizer", "posterior"))
    unmatched = ~np.asarray(fold["matched"], bool)
    ways = {
        "the default": default,
        "the memorizer alone": memorizer,
        "the two averaged, every clip": default + memorizer,
        "the memorizer in proportion to the clip's posterior of being a slice": default
        + posterior[:, None] * memorizer,
        "the memorizer for the clips routing did not take": default + unmatched[:, None] * memorizer,
    }
    if "second" in fold:
        agreed = memorizer.argmax(axis=1) == np.asarray(fold["second"]).argmax(axis=1)
        ways["both memorizers where they agree against the default"] = np.where(agreed[:, None], memorizer, default)
    return ways


def blend_correct(folds: list, labels: np.ndarray) -> dict:
    """name -> right (1) or wrong (0) for every clip of every recorded fold, in the folds' order."""
    correct = {}
    for fold in folds:
        y = labels[np.asarray(fold["test_idx"])]
        for name, probabilities in blends(fold).items():
            correct.setdefault(name, []).append(probabilities.argmax(axis=1) == y)
    return {name: np.concatenate(right) for name, right in correct.items()}


UNSURE = (0.5, 0.6, 0.7, 0.8, 0.9)  # the default's top probability below which the gate may act
SURE = (0.8, 0.9, 0.95, 0.99)  # the cnn's top probability above which it may


@dataclasses.dataclass(frozen=True)
class Gate:
    """The memorizer's class where the default is unsure (its top probability below `unsure`) and the
    memorizer sure (above `sure`); the default's answer everywhere else."""

    unsure: float
    sure: float

    def classes(self, fold: dict) -> np.ndarray:
        default, memorizer = (np.asarray(fold[k], float) for k in ("default", "memorizer"))
        default = default / default.sum(axis=1, keepdims=True)
        switch = (default.max(axis=1) < self.unsure) & (memorizer.max(axis=1) > self.sure)
        return np.where(switch, memorizer.argmax(axis=1), default.argmax(axis=1))

    def __str__(self) -> str:
        return (
            f"the memorizer where the default's top probability < {self.unsure:g} and the memorizer's > {self.sure:g}"
        )


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
class Fold:
    """What a memorizer is fitted on and predicts: every shared clip's inputs, labels and recordings,
    and the fold's training and test clips."""

    inputs: ClipInputs
    labels: np.ndarray
    groups: np.ndarray
    train_idx: np.ndarray
    test_idx: np.ndarray
    n_classes: int
    seed: int


@dataclasses.dataclass(frozen=True)
class CnnMemorizer:
    """The cnn fitted on every training clip of a fold for `epochs`, no validation, no augmentation.
    `normalization` "global" keeps each clip's level, which per-clip standardization ("clip", the
    pipeline's default) removes: a recording's level is part of what a memorizer could learn.
    `cosine` decays Adam's step from 1e-3 to zero over the epochs, so the weights kept are those
    of a converged fit rather than of wherever a constant step left them."""

    epochs: int = 25
    normalization: str = "clip"
    cosine: bool = False

    def reads(self) -> dict:
        return {}

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

    def probabilities(self, fold: Fold) -> np.ndarray:
        x = fold.inputs.log_mels
        model = self.fit(x[fold.train_idx], fold.labels[fold.train_idx], fold.n_classes, fold.seed)
        return predict_proba(model, x[fold.test_idx])

    def results_name(self, kind: str) -> str:
        """Its results' file: memorizer-reused-25.json for the first one measured, the others named by what differs."""
        normalization = "" if self.normalization == "clip" else f"-{self.normalization}"
        return f"memorizer-{kind}-{self.epochs}{normalization}{'-cosine' if self.cosine else ''}.json"


@dataclasses.dataclass(frozen=True)
class BirdNetMemorizer:
    """BirdNET's last segment (POST) fine-tuned with a new classifier on every window of every
    training clip for `epochs` at the recipe's step (Adam 1e-4), no validation; a clip's
    probabilities are the mean over its windows. It starts from a trained ear, where the cnn
    starts from nothing."""

    epochs: int = 10
    tune_from: str = TrainConfig().tune_from

    def reads(self) -> dict:
        return {BirdNetWindows.name: BirdNetWindows(self.tune_from)}

    def probabilities(self, fold: Fold) -> np.ndarray:
        import keras

        from freqquest.models.birdnet import build_tuned

        keras.utils.set_random_seed(fold.seed)
        windows = fold.inputs.of(BirdNetWindows.name)
        per_clip = windows.shape[1]
        x_train = windows[fold.train_idx].reshape(-1, *windows.shape[2:])
        y_train = np.repeat(fold.labels[fold.train_idx], per_clip)
        model = build_tuned(self.tune_from, windows.shape[2:], fold.n_classes)
        model.compile(
            keras.optimizers.Adam(TrainConfig(model="birdnet").learning_rate), "sparse_categorical_crossentropy"
        )
        model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=self.epochs, verbose=0, shuffle=True)
        rows = windows[fold.test_idx].reshape(-1, *windows.shape[2:])
        return predict_proba(model, rows).reshape(len(fold.test_idx), per_clip, -1).mean(axis=1)

    def results_name(self, kind: str) -> str:
        return f"memorizer-{kind}-birdnet-{self.epochs}.json"


@dataclasses.dataclass(frozen=True)
class RecordingIdentifier:
    """A logistic regression over the training recordings (one class each) on BirdNET's embedding,
    standardized; a clip's class probabilities are the sums of its recordings' by their class.
    It names the recording a clip is a slice of, where the default names the class. `c`: the
    regression's inverse regularization, weak, since a recording is a narrow target."""

    c: float = 30.0

    def reads(self) -> dict:
        return {}

    def probabilities(self, fold: Fold) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        embedding = fold.inputs.of("birdnet")
        scaler = StandardScaler().fit(embedding[fold.train_idx])
        recordings, recording = np.unique(fold.groups[fold.train_idx], return_inverse=True)
        model = LogisticRegression(C=self.c, max_iter=2000).fit(scaler.transform(embedding[fold.train_idx]), recording)
        per_recording = model.predict_proba(scaler.transform(embedding[fold.test_idx]))
        class_of = np.zeros(len(recordings), int)
        class_of[recording] = fold.labels[fold.train_idx]
        return np.stack([per_recording[:, class_of == k].sum(axis=1) for k in range(fold.n_classes)], axis=1)

    def results_name(self, kind: str) -> str:
        return f"memorizer-{kind}-recording-c{self.c:g}.json"


def memorizer_of(a) -> "CnnMemorizer | BirdNetMemorizer | RecordingIdentifier":
    epochs = {"epochs": a.epochs} if a.epochs else {}  # else the memorizer's own
    if a.memorizer == "birdnet":
        return BirdNetMemorizer(**epochs)
    if a.memorizer == "recording":
        return RecordingIdentifier()
    return CnnMemorizer(**epochs, normalization=a.normalization, cosine=a.cosine)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--memorizer", choices=("cnn", "birdnet", "recording"), default="cnn")
    p.add_argument("--seeds", default="0", help="seeds of the outer folds, comma-separated (default 0)")
    p.add_argument("--kind", choices=("reused", "new"), default="reused", help="the kind of test (default reused)")
    p.add_argument(
        "--epochs", type=int, help="a network memorizer's epochs on every training clip (cnn 25, birdnet 10)"
    )
    p.add_argument(
        "--normalization", choices=NORMALIZATIONS, default="clip", help="the cnn's input standardization (default clip)"
    )
    p.add_argument("--cosine", action="store_true", help="decay the cnn's step to zero over its epochs")
    p.add_argument("--defaults", metavar="FILE", help="the default's predictions of each fold, from these results")
    p.add_argument("--second", metavar="FILE", help="another memorizer's results on the same folds, read beside")
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
    memorizer = memorizer_of(a)
    out = a.out or os.path.join(a.work, memorizer.results_name(a.kind))
    recorded = read_results(out)
    defaults = read_results(a.defaults) if a.defaults else {}
    os.makedirs(a.work, exist_ok=True)
    shared = yardstick.SharedClips.load()
    store = FeatureStore(AudioConfig(), os.path.join(a.work, "cache"))
    config = yardstick.recipe_config("")
    clip_set = extract_clip_set(store, shared.paths, recipe_embedders(config, 1) | memorizer.reads(), "shared")
    for seed in [int(s) for s in a.seeds.split(",") if s]:
        outer = yardstick.outer_folds(a.kind, shared.labels, shared.groups, seed, FOLDS)
        for k, (train_idx, test_idx) in enumerate(outer):
            key = f"seed {seed} fold {k}"
            if key in recorded:
                continue
            started = time.time()
            if key in defaults:
                default = {name: defaults[key][name] for name in ("default", "posterior", "matched")}
                if defaults[key]["test_idx"] != test_idx.tolist():
                    sys.exit(f"{a.defaults} holds other clips for {key}: not the same folds")
            else:
                default = predict_default(shared, clip_set, config, store, seed, k, train_idx, test_idx, a.work)
            fold = Fold(clip_set.inputs, shared.labels, np.asarray(shared.groups), train_idx, test_idx,
                        len(shared.classes), 1000 * seed + k)  # fmt: skip
            recorded[key] = {
                "test_idx": test_idx.tolist(),
                **default,
                "memorizer": memorizer.probabilities(fold).tolist(),
                "seconds": time.time() - started,
            }
            with open(out + ".tmp", "w") as f:
                json.dump(recorded, f)
            os.replace(out + ".tmp", out)
            print(f"{key}: {time.time() - started:.0f} s", flush=True)
    if a.second:
        second = read_results(a.second)
        recorded = {key: fold | {"second": second[key]["memorizer"]} for key, fold in recorded.items() if key in second}
    report(a, recorded, shared)


def read_results(path: str) -> dict:
    """A results file's folds (the first ones, written before there were other memorizers, say "cnn")."""
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        folds = json.load(f)
    return {key: {("memorizer" if k == "cnn" else k): v for k, v in fold.items()} for key, fold in folds.items()}


def predict_default(shared, clip_set, config, store, seed: int, k: int, train_idx, test_idx, work: str) -> dict:
    """The default's whole-set prediction of one outer fold, as the yardstick computes it."""
    fold_config = dataclasses.replace(config, seed=config.seed + 100 * seed)
    folder = tempfile.mkdtemp(dir=work, prefix=f"memorizer-{seed}-{k}-")
    prediction = yardstick.predict_out_of_fold(shared, clip_set, fold_config, store, train_idx, test_idx, folder)
    return {
        "default": prediction.probabilities.tolist(),
        "posterior": prediction.matches.posterior.tolist(),
        "matched": prediction.matches.matched.tolist(),
    }


def report(a, recorded: dict, shared) -> None:
    """Errors of every blend over the recorded folds, each paired against the default over recordings."""
    folds = list(recorded.values())
    n = sum(len(fold["test_idx"]) for fold in folds)
    print(f"{a.kind} recordings, {len(folds)} folds ({', '.join(recorded)}), {n} predictions; errors:")
    index = np.concatenate([fold["test_idx"] for fold in folds]) if folds else np.zeros(0, int)
    correct = blend_correct(folds, shared.labels)
    for name, right in correct.items():
        line = f"  {name:70s} {int(np.sum(~right)):4d}  ({np.mean(right):.4f})"
        if name != "the default":
            difference = paired_difference(right, correct["the default"], np.asarray(shared.groups)[index])
            line += f"  {difference.as_points()} points"
        print(line)
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
