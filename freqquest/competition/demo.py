"""A small synthetic competition in the real layout, used when no competition data is found.

Each class is a simple sound recipe over background noise at a random level. It exists so the
whole pipeline can run in minutes on a laptop CPU; it is a demo, not a benchmark: its
accuracy says nothing about real recordings.
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

CLASSES = ("dog_bark", "drilling", "engine_idling", "siren", "street_music")
MARKER = ".freqquest-demo"
SAMPLE_RATE = 22050
DURATION = 4.0
DEMO_VERSION = 1


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


def synthesize(class_name: str, rng: np.random.Generator) -> np.ndarray:
    """One clip of `class_name` over noise at a random level, peak about 0.3-0.9, float32."""
    n = int(SAMPLE_RATE * DURATION)
    signal = RECIPES[class_name](rng, n)
    signal = signal / (np.max(np.abs(signal)) + 1e-9)
    noise = rng.standard_normal(n)
    noise = noise / np.max(np.abs(noise)) * rng.uniform(0.05, 0.5)
    clip = signal + noise
    return (clip / np.max(np.abs(clip)) * rng.uniform(0.3, 0.9)).astype(np.float32)


def is_demo(root) -> bool:
    return os.path.isfile(os.path.join(root, MARKER))


def build_demo(root, train_per_class: int = 20, test_per_class: int = 6, seed: int = 0) -> str:
    """Write the demo competition under `root` (skipped if the same demo is already there)."""
    root = str(root)
    recipe = {
        "version": DEMO_VERSION,
        "train_per_class": train_per_class,
        "test_per_class": test_per_class,
        "seed": seed,
    }
    marker = os.path.join(root, MARKER)
    if os.path.isfile(marker):
        with open(marker) as f:
            if json.load(f) == recipe:
                return root
    # built in a staging folder and moved into place, so a half-built demo is never used
    staging = root.rstrip(os.sep) + ".building"
    shutil.rmtree(staging, ignore_errors=True)
    with naming(staging):
        _write_demo(staging, recipe, seed, train_per_class, test_per_class)
    shutil.rmtree(root, ignore_errors=True)
    os.replace(staging, root)
    return root


def _write_demo(staging, recipe: dict, seed: int, train_per_class: int, test_per_class: int) -> None:
    rng = np.random.default_rng(seed)
    answers = []
    for class_id, name in enumerate(CLASSES):
        class_dir = os.path.join(staging, "train", "train", name)
        os.makedirs(class_dir)
        for i in range(train_per_class):
            # UrbanSound8K-style names: <recording>-<class>-<occurrence>-<slice>
            file = f"{9000 + class_id * 100 + i // 2}-{class_id}-0-{i % 2}.wav"
            sf.write(os.path.join(class_dir, file), synthesize(name, rng), SAMPLE_RATE, subtype="PCM_16")
        for _ in range(test_per_class):
            answers.append([f"{rng.integers(16**11, 16**12):012x}.wav", name])
    test_dir = os.path.join(staging, "test", "test")
    os.makedirs(test_dir)
    for ident, name in answers:
        sf.write(os.path.join(test_dir, ident), synthesize(name, rng), SAMPLE_RATE, subtype="PCM_16")
    order = rng.permutation(len(answers))
    _write_csv(os.path.join(staging, "sample_submission.csv"), [[answers[i][0], CLASSES[0]] for i in order])
    _write_csv(os.path.join(staging, "solution.csv"), [answers[i] for i in order])
    with open(os.path.join(staging, MARKER), "w") as f:
        json.dump(recipe, f)


def _write_csv(path, rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ID", "Class"])
        writer.writerows(rows)
