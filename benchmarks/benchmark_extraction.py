#!/usr/bin/env python3
"""Cold feature extraction of the default recipe, this checkout against another, side by side.

  python benchmarks/benchmark_extraction.py --repo /tmp/old        # e.g. git worktree add /tmp/old <commit>
  python benchmarks/benchmark_extraction.py --clips 200 --reference

Each checkout extracts, in a fresh process with a fresh cache and the pipeline's own workers (one
per core), what its default recipe reads of the same clips (real UrbanSound8K clips of the
shared folds 1 and 2 in 30% other formats, as the classification benchmark builds them): the
log-Mels, then every pretrained feature (`inputs.extract_clip_set`, the call the pipeline makes).
The first extraction pays the workers' start, as a user's first run does; a second one, on the
next clips into another fresh cache, is the steady rate. Prints clips/s of each, and the largest
difference between the checkouts' features. `--reference` adds this checkout's pretrained
features computed from the shipped BirdNET file run whole on TFLite's builtin kernels (one
process): what the features are defined as.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(REPO, "..", "shared")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Run inside each checkout (its own package): times, then the features, saved for comparing.
MEASURE = r"""
import json, sys, tempfile, time
import numpy as np
from freqquest import scripts
scripts.start(False)
from freqquest.config import AudioConfig, preset_config
from freqquest.blend.members import recipe_embedders
from freqquest.features.store import FeatureStore
from freqquest.features.inputs import extract_clip_set
paths, out = json.loads(sys.argv[1]), sys.argv[2]
embedders = recipe_embedders(preset_config("default"))
half = len(paths) // 2
figures, features = {}, {}
for label, part in (("first (workers start)", paths[:half]), ("second (steady)", paths[half:])):
    store = FeatureStore(AudioConfig(), tempfile.mkdtemp(), worker_models=tuple(embedders.values()))
    t = time.time()
    store.log_mels(part)
    mels = time.time() - t
    t = time.time()
    clips = extract_clip_set(store, part, embedders)
    pretrained = time.time() - t
    figures[label] = {
        "clips": len(part),
        "log-Mel clips/s": len(part) / mels,
        "pretrained clips/s": len(part) / pretrained,
    }
    for name, array in clips.inputs.pretrained.items():
        features.setdefault(name, []).append(array)
np.savez(out, **{name: np.concatenate(arrays) for name, arrays in features.items()})
print("FIGURES " + json.dumps(figures))
"""


def measure(repo: str, paths: list, out: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(paths), out],
        cwd=repo,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=repo),
    )
    if done.returncode:
        sys.exit(f"the extraction of {repo} failed:\n{done.stderr[-3000:]}")
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("FIGURES "))[len("FIGURES ") :])


def reference_features(paths: list) -> dict:
    """This checkout's pretrained features of the default recipe from the shipped file run whole on the builtin
    kernels."""
    sys.path.insert(0, REPO)
    from freqquest.config import AudioConfig, preset_config
    from freqquest.features.embeddings import BirdNet, BirdNetWindows
    from freqquest.features.store import FeatureStore

    config = preset_config("default")
    store = FeatureStore(AudioConfig(), None, workers=1)
    found = {"birdnet": store.extract(paths, BirdNet(reference=True).extractor(AudioConfig())).features}
    found["birdnet_windows"] = store.extract(
        paths, BirdNetWindows(config.tune_from, reference=True).extractor(AudioConfig())
    ).features
    return found


def format_zoo_competition(out: str) -> str:
    """Fold 1 as training clips, 30% of them rewritten in other formats (make_competition.py)."""
    if not os.path.isfile(os.path.join(out, "solution.csv")):
        tool = os.path.join(SHARED, "tools", "make_competition.py")
        zoo = ["--hash-test-ids", "--format-zoo", "0.3", "--corrupt", "3"]
        subprocess.run(
            [
                sys.executable,
                tool,
                "--src",
                os.path.join(SHARED, "data", "us8k5"),
                "--out",
                out,
                "--train-folds",
                "1",
                "--test-folds",
                "2",
                *zoo,
            ],
            check=True,
        )
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", help="another checkout to run beside this one (e.g. the last landed commit)")
    p.add_argument("--clips", type=int, default=400, help="clips in all, half for each extraction (default 400)")
    p.add_argument("--reference", action="store_true", help="also compare with the shipped file on the builtin kernels")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-benchmark"))
    a = p.parse_args()
    if not os.path.isdir(os.path.join(SHARED, "data", "us8k5")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    root = format_zoo_competition(os.path.join(a.work, "comp-1to2"))
    files = sorted(os.path.join(d, f) for d, _, names in os.walk(os.path.join(root, "train", "train")) for f in names)
    paths = [files[i] for i in np.random.default_rng(0).permutation(len(files))[: a.clips]]
    repos = {"this checkout": REPO} | ({"--repo": os.path.abspath(a.repo)} if a.repo else {})
    figures, saved = {}, {}
    for label, repo in repos.items():
        saved[label] = os.path.join(tempfile.mkdtemp(), "features.npz")
        figures[label] = measure(repo, paths, saved[label])
    print(f"cold extraction of the default recipe's features, {len(paths)} clips, {os.cpu_count()} cores")
    print(f"{'checkout':<16}{'extraction':<24}{'clips':>6}{'log-Mel clips/s':>17}{'pretrained clips/s':>20}")
    for label, runs in figures.items():
        for run, f in runs.items():
            print(f"{label:<16}{run:<24}{f['clips']:>6}{f['log-Mel clips/s']:>17.1f}{f['pretrained clips/s']:>20.1f}")
    if a.repo:
        for run in figures["this checkout"]:
            ratio = figures["this checkout"][run]["pretrained clips/s"] / figures["--repo"][run]["pretrained clips/s"]
            print(f"pretrained features, {run}: {ratio:.2f}x the other checkout's rate")
    found = dict(np.load(saved["this checkout"]))
    others = {"--repo": dict(np.load(saved["--repo"]))} if a.repo else {}
    if a.reference:
        t = time.time()
        others["the shipped file, builtin kernels"] = reference_features(paths)
        print(f"the shipped file on the builtin kernels, one process: {len(paths) / (time.time() - t):.1f} clips/s")
    for label, other in others.items():
        for name, array in found.items():
            print(
                f"{name}: largest difference from {label} {np.abs(array - other[name]).max():.2e} "
                f"(largest value {np.abs(other[name]).max():.1f})"
            )


if __name__ == "__main__":
    main()
