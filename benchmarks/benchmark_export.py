#!/usr/bin/env python3
"""The network member on a small device: the Keras float model against its TFLite float32, float16
and INT8 exports (python -m freqquest.export), side by side in one run, on the honest split of
../shared/data/us8k5 (train fold 1, predict the unseen recordings of fold 2).

  python benchmarks/benchmark_export.py                     # trains a --preset scratch run first
  python benchmarks/benchmark_export.py --run RUN_DIR       # a finished run with a network, on that split
  python benchmarks/benchmark_export.py --preset default    # trains the default run first (BirdNET fine-tuned)

Prints, for each: the network alone's accuracy on the test clips, its top-1 agreement with the
Keras model, the median latency of one clip on one CPU core, and the file size.
"""

import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from freqquest import quiet  # noqa: E402

LATENCY_CLIPS = 100


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", metavar="RUN_DIR", help="a finished run with a network (default: train one)")
    p.add_argument("--preset", default="scratch", help="the recipe of the run trained without --run (default scratch)")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-benchmark"))
    a = p.parse_args()
    quiet.configure(False)
    tf = quiet.import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(1)  # one core, for the Keras model too
    tf.config.threading.set_inter_op_parallelism_threads(1)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from benchmark_classification import SHARED, build_competition

    from freqquest.blend.members import member_kinds, recipe_embedders
    from freqquest.classify.pipeline import ClassificationOptions, run_classification
    from freqquest.competition.dataset import scan_competition
    from freqquest.config import BIRDNET, NETWORK, TFLITE_KINDS, preset_config
    from freqquest.features.inputs import extract_clip_set
    from freqquest.features.store import FeatureStore
    from freqquest.models.training import load_fold_models
    from freqquest.runs import BEST_MODEL, fold_dir, read_run_config
    from freqquest.serving.export import TfliteNetwork, export_run, network_member

    if not os.path.isdir(os.path.join(SHARED, "data", "us8k5")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    root = build_competition("1to2", os.path.join(a.work, "comp-1to2"))
    cache = os.path.join(a.work, "cache")
    run = a.run
    if run is None:
        run = os.path.join(a.work, f"export-run-{int(time.time())}")
        run_classification(
            ClassificationOptions(
                data=root, out=os.path.join(run + ".csv"), run_dir=run, cache_dir=cache, train=preset_config(a.preset)
            )
        )
    saved = read_run_config(run)
    config, classes = saved["train"], saved["classes"]
    competition = scan_competition(root)
    solution = pd.read_csv(os.path.join(root, "solution.csv")).set_index("ID")["Class"]
    test = extract_clip_set(
        FeatureStore(saved["audio"], cache),
        [p for p in competition.test_paths if p is not None],
        recipe_embedders(config),
        "test",
    )
    ids = [i for i, path in zip(competition.test_ids, competition.test_paths) if path is not None]
    keep = test.ok & np.array([solution[i] != "?" for i in ids])
    inputs = test.inputs.take(keep)
    y = np.array([classes.index(solution[i]) for i, k in zip(ids, keep) if k])

    kind = dict(member_kinds(config))[NETWORK]  # what reads the network's inputs of a clip and averages its views
    keras_model = network_member(load_fold_models(run, config.folds))
    call = tf.function(lambda batch: keras_model(batch, training=False))
    members = {
        "Keras (float32)": (
            kind([Called(call, len(classes))], config.tta),
            sum(os.path.getsize(os.path.join(fold_dir(run, k), BEST_MODEL)) for k in range(config.folds)),
        )
    }
    for exported in TFLITE_KINDS:
        path = export_run(run, exported, os.path.join(a.work, f"network-{exported}.tflite"), cache)
        members[f"TFLite {exported}"] = (kind([TfliteNetwork(path, threads=1)], config.tta), os.path.getsize(path))
    reference = members["Keras (float32)"][0].predict(inputs).argmax(axis=1)
    print(
        f"\nthe network member of {run} ({config.model}, {config.folds} fold(s)) on {len(y)} test clips of fold 2 "
        "(honest), "
        f"{os.cpu_count()} cores, one thread each"
        + (
            ": what its fine-tuned segments compute of the clip's five windows; "
            "BirdNET's frozen ones before them run as the shipped float32 file"
            if config.model == BIRDNET
            else ""
        )
    )
    print(f"{'model':<20}{'accuracy':>10}{'agreement':>11}{'ms / clip':>11}{'size MB':>9}")
    for name, (member, size) in members.items():
        probabilities = member.predict(inputs)
        times = []
        for k in range(min(LATENCY_CLIPS, len(y))):
            one = inputs.take(np.array([k]))
            t = time.perf_counter()
            member.predict(one)
            times.append(time.perf_counter() - t)
        print(
            f"{name:<20}{np.mean(probabilities.argmax(1) == y):>10.4f}"
            f"{np.mean(probabilities.argmax(1) == reference):>11.4f}"
            f"{1000 * np.median(times):>11.2f}{size / 1e6:>9.2f}"
        )


class Called:
    """A tf.function over a Keras model, predicting as the members ask (the Keras model's latency without
    model.predict's)."""

    def __init__(self, call, n_classes: int):
        self.call, self.output_shape = call, (None, n_classes)

    def predict(self, x, batch_size=64, verbose=0):
        return np.asarray(self.call(x), np.float32)


if __name__ == "__main__":
    main()
