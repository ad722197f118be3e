#!/usr/bin/env python3
"""Which map explains the default recipe (BirdNET's frozen embedding and a logistic
regression on it, trained on the demo): a short synthetic event, a siren-like sweep or a bark,
inserted into background noise at a known time and band, and each method's map judged by where it
points: integrated gradients at BirdNET's spectrogram, and Grad-CAM at layers from its stem to
what its last segment reads.

  python benchmarks/benchmark_explain.py [--events 40] [--methods integrated-gradients,grad-cam:CONV_0,...]

For each method: how often the map's peak lies inside the event's time and band (a cell of the
method's grid of slack), the share of the map's mass inside them (chance: the box's share of the
window), the correlation with the map of the same model with its logistic regression's weights
drawn at random (the model-randomization check of Adebayo et al. 2018: near 1 means the map does not
depend on what the model learned), and the seconds a map takes.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from freqquest.blend.classical import embedding_classifier  # noqa: E402
from freqquest.competition.dataset import scan_competition  # noqa: E402
from freqquest.competition.demo import build_demo  # noqa: E402
from freqquest.config import AudioConfig  # noqa: E402
from freqquest.features.embeddings.birdnet_file import SAMPLE_RATE, WINDOW_SAMPLES  # noqa: E402
from freqquest.features.store import FeatureStore  # noqa: E402
from freqquest.serving.explain import EmbeddingProbe  # noqa: E402

METHODS = (
    "integrated-gradients",
    *(f"grad-cam:{layer}" for layer in ("CONV_0", "BLOCK_1-3_ADD", "BLOCK_3-5_ADD", "BLOCK_4-4_ADD")),
)
GRID = {
    "integrated-gradients": (96, 511),
    "grad-cam:CONV_0": (48, 256),
    "grad-cam:BLOCK_1-3_ADD": (24, 64),
    "grad-cam:BLOCK_3-5_ADD": (6, 16),
    "grad-cam:BLOCK_4-4_ADD": (3, 8),
}


def event_window(kind: str, rng: np.random.Generator) -> tuple:
    """(a 3 s window at 48 kHz: noise with the event, (start s, end s, low Hz, high Hz) of the event)."""
    n = WINDOW_SAMPLES
    window = rng.normal(0, 0.02, n).astype(np.float32)
    start = rng.uniform(0.2, 2.2)
    if kind == "sweep":
        seconds, low = 0.6, rng.uniform(700, 1500)
        high = low * 1.6
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        freq = low + (high - low) * t / seconds
        event = 0.5 * np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE)
    else:
        seconds, f0 = 0.25, rng.uniform(350, 600)
        low, high = f0 * 0.9, f0 * 5.5
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        event = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * np.exp(-t * 12) * 0.5
    first = int(start * SAMPLE_RATE)
    window[first : first + len(event)] += event.astype(np.float32)
    return window, (start, start + seconds, low, high)


def judged(heatmap: np.ndarray, box: tuple, band_hz: np.ndarray, grid: tuple) -> tuple:
    """(the peak inside the box, give or take a cell of the grid; the share of the map's mass inside the box)."""
    start, end, low, high = box
    frames = heatmap.shape[1]
    columns = (np.arange(frames) + 0.5) * 3.0 / frames
    inside_t = (columns >= start) & (columns <= end)
    inside_f = (band_hz >= low) & (band_hz <= high)
    slack_t, slack_f = 3.0 / grid[1], int(np.ceil(len(band_hz) / grid[0]))
    row, column = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    bands = np.flatnonzero(inside_f)
    hit = (start - slack_t <= columns[column] <= end + slack_t) and (
        bands.min() - slack_f <= row <= bands.max() + slack_f
    )
    mass = heatmap[np.ix_(inside_f, inside_t)].sum() / max(heatmap.sum(), 1e-12)
    return bool(hit), float(mass), float(inside_f.mean() * inside_t.mean())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=40)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-explain"))
    a = p.parse_args()
    competition = scan_competition(build_demo(os.path.join(a.work, "demo")))
    train = FeatureStore(AudioConfig(), os.path.join(a.work, "cache")).embeddings(competition.train_paths, "birdnet")
    classifier = embedding_classifier().fit(train.features, competition.train_labels)
    randomized = embedding_classifier().fit(train.features, competition.train_labels)
    regression = randomized[-1]
    regression.coef_ = np.random.default_rng(1).normal(0.0, regression.coef_.std(), regression.coef_.shape)
    rng = np.random.default_rng(0)
    events = [event_window("sweep" if k % 2 == 0 else "bark", rng) for k in range(a.events)]
    print(f"{'method':<24}{'peak inside':>12}{'mass inside':>13}{'chance':>8}{'vs random':>11}{'s a map':>9}")
    for method in a.methods.split(","):
        probe, random_probe = EmbeddingProbe(classifier, 5, method), EmbeddingProbe(randomized, 5, method)
        hits, masses, chances, correlations, seconds = [], [], [], [], []
        for window, box in events:
            t = time.time()
            top = int(np.argmax(probe.model(probe.spectrogram(window[None]))[1]))
            _, _, heatmap, _ = probe.look(window[None], top)
            seconds.append(time.time() - t)
            hit, mass, chance = judged(heatmap, box, probe.band_hz(), GRID[method])
            hits.append(hit), masses.append(mass), chances.append(chance)
            other = random_probe.look(window[None], top)[2]
            correlations.append(np.corrcoef(heatmap.ravel(), other.ravel())[0, 1] if other.std() > 0 else 0.0)
        print(
            f"{method:<24}{np.mean(hits):>12.2f}{np.mean(masses):>13.3f}{np.mean(chances):>8.3f}"
            f"{np.nanmean(correlations):>11.2f}{np.median(seconds[1:]):>9.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
