"""A small synthetic competition in the real layout, used when no competition data is found.

Each class is a simple sound recipe over background noise. A recording is one draw of its
recipe (its pitch, tempo, noise level) over `slices` x 4 s, cut into slices named as
UrbanSound8K names them, so slices of one recording sound alike and those of two do not. The
test set holds either whole recordings that train lacks (`split="new"`), or random slices, most
of whose recordings have other slices in train (`split="reused"`, as the reference
competition's random split does), or half of each (`split="half"`). `solution.csv` names each
test clip's recording beside its class: which test clips are slices of training recordings is
then known, for the tests, and never read by the pipeline. It exists so the whole pipeline can
run in minutes on a laptop CPU; it is a demo, not a benchmark: its accuracy says nothing about
real recordings.
"""

import csv
import json
import logging
import os
import shutil

import numpy as np
import soundfile as sf

from ..io import naming

log = logging.getLogger(__name__)

DEMO_MARKER = ".freqquest-demo"  # in the root of a demo competition
CLASSES = ("dog_bark", "drilling", "engine_idling", "siren", "street_music")
SAMPLE_RATE = 22050
DURATION = 4.0
DEMO_VERSION = 3  # 3: each recording has a background of its own; solution.csv names each test clip's recording
SPLITS = ("reused", "new", "half")


def _time(n):
    return np.arange(n) / SAMPLE_RATE


def _siren(rng, n):
    t = _time(n)
    center, depth = rng.uniform(700, 1100), rng.uniform(200, 450)
    rate = rng.uniform(0.3, 2.0)
    freq = center + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    return np.sin(phase) + 0.3 * np.sin(2 * phase)


def _dog_bark(rng, n):
    out = np.zeros(n)
    for _ in range(rng.integers(2, 6)):
        length = int(rng.uniform(0.08, 0.25) * SAMPLE_RATE)
        start = rng.integers(0, n - length)
        t = _time(length)
        f0 = rng.uniform(300, 700) * (1 - 0.3 * t / t[-1])
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        burst = sum(np.sin(k * phase) / k for k in range(1, 6)) * np.exp(-t * rng.uniform(15, 30))
        out[start : start + length] += burst
    return out


def _drilling(rng, n):
    t = _time(n)
    whine = np.sin(2 * np.pi * rng.uniform(1800, 3500) * t)
    hiss = np.convolve(rng.standard_normal(n), np.ones(3) / 3, mode="same")
    modulation = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(20, 50) * t)
    return modulation * (whine + 0.5 * hiss)


def _engine_idling(rng, n):
    t = _time(n)
    f0 = rng.uniform(25, 55)
    pulses = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 9))
    return pulses * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))


def _street_music(rng, n):
    out = np.zeros(n)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
    beat = int(SAMPLE_RATE * 60 / rng.uniform(90, 140))
    for start in range(0, n, beat):
        length = min(beat, n - start)
        t = _time(length)
        note = rng.choice(scale) * rng.choice([1, 2])
        out[start : start + length] += (np.sin(2 * np.pi * note * t) + 0.4 * np.sin(4 * np.pi * note * t)) * np.exp(
            -3 * t
        )
        click = min(length, int(0.03 * SAMPLE_RATE))
        out[start : start + click] += (
            0.8 * rng.standard_normal(click) * np.exp(-np.arange(click) / (0.005 * SAMPLE_RATE))
        )
    return out


RECIPES = {
    "dog_bark": _dog_bark,
    "drilling": _drilling,
    "engine_idling": _engine_idling,
    "siren": _siren,
    "street_music": _street_music,
}


def background(rng: np.random.Generator, n: int) -> np.ndarray:
    """A recording's own background: noise coloured by a random filter, and a hum at a random
    pitch, as a place and a microphone colour everything recorded there."""
    noise = np.convolve(rng.standard_normal(n), rng.standard_normal(32) * np.exp(-np.arange(32) / 8), mode="same")
    hum = rng.uniform(0, 0.5) * np.sin(2 * np.pi * rng.uniform(50, 400) * _time(n))
    out = noise / np.max(np.abs(noise)) + hum
    return out / np.max(np.abs(out))


def synthesize(class_name: str, rng: np.random.Generator, seconds: float = DURATION) -> np.ndarray:
    """`seconds` of `class_name` over its recording's background at a random level, peak about
    0.3-0.9, float32."""
    n = int(SAMPLE_RATE * seconds)
    signal = RECIPES[class_name](rng, n)
    signal = signal / (np.max(np.abs(signal)) + 1e-9)
    noise = background(rng, n) * rng.uniform(0.05, 0.5)
    clip = signal + noise
    return (clip / np.max(np.abs(clip)) * rng.uniform(0.3, 0.9)).astype(np.float32)


def is_demo(root) -> bool:
    return os.path.isfile(os.path.join(root, DEMO_MARKER))


def build_demo(root, split: str = "reused", recordings_per_class: int = 10, slices: int = 3, seed: int = 0) -> str:
    """Write the demo competition under `root` (skipped if the same demo is already there): per
    class `recordings_per_class` recordings of `slices` slices, a fifth of them in the test set as
    `split` says."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if recordings_per_class < 3 or slices < 1:
        raise ValueError("the demo needs at least 3 recordings per class and 1 slice each")
    root = str(root)
    recipe = {
        "version": DEMO_VERSION,
        "split": split,
        "recordings_per_class": recordings_per_class,
        "slices": slices,
        "seed": seed,
    }
    marker = os.path.join(root, DEMO_MARKER)
    if os.path.isfile(marker):
        with open(marker) as f:
            if json.load(f) == recipe:
                return root
    # built in a staging folder and moved into place, so a half-built demo is never used
    staging = root.rstrip(os.sep) + ".building"
    shutil.rmtree(staging, ignore_errors=True)
    with naming(staging):
        _write_demo(staging, recipe)
    shutil.rmtree(root, ignore_errors=True)
    os.replace(staging, root)
    return root


def recordings(rng: np.random.Generator, per_class: int, slices: int) -> list:
    """(class, file name, clip) of every slice of every recording, UrbanSound8K-style names:
    <recording>-<class id>-0-<slice>."""
    n = int(SAMPLE_RATE * DURATION)
    found = []
    for class_id, name in enumerate(CLASSES):
        for r in range(per_class):
            recording = synthesize(name, rng, DURATION * slices)
            found += [
                (name, f"{9000 + 100 * class_id + r}-{class_id}-0-{s}.wav", recording[s * n : (s + 1) * n])
                for s in range(slices)
            ]
    return found


def _test_rows(rng: np.random.Generator, found: list, split: str, per_class: int) -> set:
    """Which slices go to the test set: a fifth of each class's recordings whole (`new`), a fifth of
    its slices (`reused`), or a tenth of each (`half`)."""
    chosen = set()
    for name in CLASSES:
        rows = [i for i, (label, _, _) in enumerate(found) if label == name]
        slices = len(rows) // per_class
        whole = {"new": max(1, per_class // 5), "reused": 0, "half": max(1, per_class // 10)}[split]
        held_out = set(rng.choice(per_class, whole, replace=False).tolist()) if whole else set()
        chosen |= {i for k, i in enumerate(rows) if k // slices in held_out}
        others = [i for k, i in enumerate(rows) if k // slices not in held_out]
        some = {"new": 0, "reused": max(1, len(rows) // 5), "half": len(held_out) * slices}[split]
        chosen |= set(rng.choice(others, some, replace=False).tolist()) if some else set()
    return chosen


def _write_demo(staging, recipe: dict) -> None:
    rng = np.random.default_rng(recipe["seed"])
    found = recordings(rng, recipe["recordings_per_class"], recipe["slices"])
    test_rows = _test_rows(rng, found, recipe["split"], recipe["recordings_per_class"])
    test_dir = os.path.join(staging, "test", "test")
    os.makedirs(test_dir)
    answers = []
    for i, (name, file, clip) in enumerate(found):
        if i in test_rows:  # an opaque ID: the reference competition's test names carry the class
            ident = f"{rng.integers(16**11, 16**12):012x}.wav"
            sf.write(os.path.join(test_dir, ident), clip, SAMPLE_RATE, subtype="PCM_16")
            answers.append([ident, name, file.split("-")[0]])
        else:
            os.makedirs(os.path.join(staging, "train", "train", name), exist_ok=True)
            sf.write(os.path.join(staging, "train", "train", name, file), clip, SAMPLE_RATE, subtype="PCM_16")
    order = rng.permutation(len(answers))
    _write_csv(os.path.join(staging, "sample_submission.csv"), [[answers[i][0], CLASSES[0]] for i in order])
    _write_csv(os.path.join(staging, "solution.csv"), [answers[i] for i in order], ["ID", "Class", "Recording"])
    with open(os.path.join(staging, DEMO_MARKER), "w") as f:
        json.dump(recipe, f)


def _write_csv(path, rows, header=("ID", "Class")) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
