#!/usr/bin/env python3
"""The network member on a small device: the Keras float model against its TFLite float32, float16
and INT8 exports (python -m freqquest.export), side by side in one run, on the honest split of
../shared/data/us8k5 (train fold 1, predict the unseen recordings of fold 2).

  python benchmarks/benchmark_export.py                     # trains a --preset scratch run first
  python benchmarks/benchmark_export.py --run RUN_DIR       # a finished run with a network, on that split

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
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-benchmark"))
    a = p.parse_args()
    quiet.configure(False)
    tf = quiet.import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(1)  # one core, for the Keras model too
    tf.config.threading.set_inter_op_parallelism_threads(1)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from benchmark_classification import SHARED, build_competition

    from freqquest.config import preset_config, read_run_config
    from freqquest.dataset import scan_competition
    from freqquest.export import KINDS, TfliteNetwork, export_run, network_member
    from freqquest.features import FeatureStore
    from freqquest.pipeline import ClassificationOptions, run_classification
    from freqquest.training import BEST_MODEL, fold_dir, load_fold_models

    if not os.path.isdir(os.path.join(SHARED, "data", "us8k5")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    root = build_competition("1to2", os.path.join(a.work, "comp-1to2"))
    cache = os.path.join(a.work, "cache")
    run = a.run
    if run is None:
        run = os.path.join(a.work, f"export-run-{int(time.time())}")
        run_classification(ClassificationOptions(data=root, out=os.path.join(run + ".csv"), run_dir=run, cache_dir=cache,
                                                 train=preset_config("scratch")))
    saved = read_run_config(run)
    competition = scan_competition(root)
    solution = pd.read_csv(os.path.join(root, "solution.csv")).set_index("ID")["Class"]
    found = FeatureStore(saved["audio"], cache).log_mels([p for p in competition.test_paths if p is not None])
    ids = [i for i, path in zip(competition.test_ids, competition.test_paths) if path is not None]
    keep = found.ok & np.array([solution[i] != "?" for i in ids])
    x = found.features[keep]
    y = np.array([saved["classes"].index(solution[i]) for i, k in zip(ids, keep) if k])

    keras_model = network_member(load_fold_models(run, saved["train"].folds))
    call = tf.function(lambda batch: keras_model(batch, training=False))
    models = {"Keras (float32)": (lambda batch: np.asarray(call(batch)),
                                  sum(os.path.getsize(os.path.join(fold_dir(run, k), BEST_MODEL)) for k in range(saved["train"].folds)))}
    for kind in KINDS:
        path = export_run(run, kind, os.path.join(a.work, f"network-{kind}.tflite"), cache)
        network = TfliteNetwork(path, threads=1)
        models[f"TFLite {kind}"] = (lambda batch, network=network: network.predict(batch, batch_size=1), os.path.getsize(path))
    reference = models["Keras (float32)"][0](x).argmax(axis=1)
    print(f"\nthe network member of {run} ({saved['train'].model}, {saved['train'].folds} fold(s)) on {len(y)} test clips "
          f"of fold 2 (honest), {os.cpu_count()} cores, one thread each")
    print(f"{'model':<20}{'accuracy':>10}{'agreement':>11}{'ms / clip':>11}{'size MB':>9}")
    for name, (predict, size) in models.items():
        probabilities = np.concatenate([predict(x[k: k + 1]) for k in range(len(x))])
        times = []
        for k in range(min(LATENCY_CLIPS, len(x))):
            t = time.perf_counter()
            predict(x[k: k + 1])
            times.append(time.perf_counter() - t)
        print(f"{name:<20}{np.mean(probabilities.argmax(1) == y):>10.4f}{np.mean(probabilities.argmax(1) == reference):>11.4f}"
              f"{1000 * np.median(times):>11.2f}{size / 1e6:>9.2f}")


if __name__ == "__main__":
    main()
