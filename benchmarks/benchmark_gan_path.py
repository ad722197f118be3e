#!/usr/bin/env python3
"""What the generated clips' path costs, judged as the CGAN's goals are: real held-out clips sent
through variants of the path (the GAN's image, back to a log-Mel, back to a waveform), each judged
by the GAN-test judge (the pipeline's default member fitted on the GAN's own training files).
No GAN is trained: a generator can score no better than real clips through its path.

  python benchmarks/benchmark_gan_path.py --seeds 42,43
  python benchmarks/benchmark_gan_path.py --variants files,default,stft --seeds 42

The clips are the 973 shared ones as the `all` cell of benchmark_cgan.py sees them (a fifth of the
recordings held out with the run's seed). Variants:
  files       the held-out files as they are (what each figure is read against)
  default     the run's path: the GAN's image (the log-Mel at full resolution), the Mel filterbank's
              pseudo-inverse, Griffin-Lim (GanConfig.griffin_lim_iters)
  gl100       as default, 100 Griffin-Lim iterations
  half        each 2 x 2 block averaged, stretched back before the rest of default (the half-resolution
              images the CGAN made before issue 42 retired them)
  half-time   every 2 frames averaged, every Mel band kept
  half-mel    every 2 Mel bands averaged, every frame kept
  stft        the clip's own STFT magnitude, Griffin-Lim (what recovering a phase costs alone)
  mel-phase   the log-Mel (full resolution, pseudo-inverse) with the clip's own phase (what the
              Mel filterbank costs alone)
Prints each variant's accuracy overall and per class with 95% intervals over recordings, and each
variant's paired difference to `default`.
"""

import argparse
import os
import sys
import time

import librosa
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_cgan import fold_competition  # noqa: E402

from freqquest.competition.audio import load_clip  # noqa: E402
from freqquest.config import AudioConfig  # noqa: E402
from freqquest.gan import evaluation as judge  # noqa: E402
from freqquest.gan.config import GanConfig  # noqa: E402
from freqquest.gan.inversion import GanScale, log_mels_to_audio, mel_pseudo_inverse  # noqa: E402
from freqquest.gan.run import RealClips, checked_competition, gan_and_held_out, load_real_clips  # noqa: E402
from freqquest.intervals import bootstrap_mean, paired_difference  # noqa: E402

VARIANTS = ("files", "default", "gl100", "half", "half-time", "half-mel", "stft", "mel-phase")
POOLED_AXES = {"half": (1, 2), "half-mel": (1,), "half-time": (2,)}


def through_the_path(
    held: RealClips, top_db: float, audio: AudioConfig, pooled_axes: tuple = (), iterations: int = 0
) -> np.ndarray:
    """The held-out log-Mels as the GAN's images, averaged over pairs along `pooled_axes` (1: Mel
    bands, 2: frames) and stretched back, then to audio as generated clips are."""
    db = held.features
    for axis in pooled_axes:
        db = stretched_back(pooled_pairs(db, axis), db.shape[axis], axis)
    scale = GanScale.of(GanConfig(), top_db)
    return log_mels_to_audio(scale.unscale(scale.scale(db)), audio, iterations or GanConfig.griffin_lim_iters)


def pooled_pairs(db: np.ndarray, axis: int) -> np.ndarray:
    """The mean of each pair along `axis` (an odd edge repeated)."""
    pad = [(0, 0)] * db.ndim
    pad[axis] = (0, db.shape[axis] % 2)
    padded = np.pad(db, pad, mode="edge")
    shape = list(padded.shape)
    shape[axis : axis + 1] = [shape[axis] // 2, 2]
    return padded.reshape(shape).mean(axis=axis + 1)


def stretched_back(db: np.ndarray, length: int, axis: int) -> np.ndarray:
    """`length` points along `axis` by linear interpolation."""
    points = np.linspace(0, db.shape[axis] - 1, length)
    along = np.apply_along_axis(lambda line: np.interp(points, np.arange(len(line)), line), axis, db)
    return along.astype(np.float32)


def stft_griffin_lim(held: RealClips, audio: AudioConfig, iterations: int = GanConfig.griffin_lim_iters) -> np.ndarray:
    def one(path):
        clip = load_clip(path, audio)
        magnitude = np.abs(librosa.stft(clip, n_fft=audio.n_fft, hop_length=audio.hop_length))
        return librosa.griffinlim(
            magnitude, n_iter=iterations, hop_length=audio.hop_length, n_fft=audio.n_fft, length=audio.n_samples
        )

    return peak_normalized(np.stack([one(p) for p in held.paths]))


def mel_with_own_phase(held: RealClips, audio: AudioConfig) -> np.ndarray:
    def one(path, db):
        spectrum = librosa.stft(load_clip(path, audio), n_fft=audio.n_fft, hop_length=audio.hop_length)
        magnitude = np.sqrt(np.maximum(mel_pseudo_inverse(audio) @ librosa.db_to_power(db.astype(np.float64)), 0.0))
        return librosa.istft(
            magnitude * np.exp(1j * np.angle(spectrum)), hop_length=audio.hop_length, length=audio.n_samples
        )

    return peak_normalized(np.stack([one(p, db) for p, db in zip(held.paths, held.features, strict=True)]))


def peak_normalized(clips: np.ndarray) -> np.ndarray:
    peaks = np.abs(clips).max(axis=1, keepdims=True)
    return (clips * np.where(peaks > 0, 0.9 / np.maximum(peaks, 1e-12), 1.0)).astype(np.float32)


def variant_embeddings(name: str, held: RealClips, top_db: float, audio: AudioConfig, cache_dir) -> np.ndarray:
    if name == "files":
        return judge.embed_files(held.paths, audio, cache_dir=cache_dir)
    if name == "stft":
        return judge.embed_audio(stft_griffin_lim(held, audio), audio)
    if name == "mel-phase":
        return judge.embed_audio(mel_with_own_phase(held, audio), audio)
    clips = through_the_path(held, top_db, audio, POOLED_AXES.get(name, ()), 100 if name == "gl100" else 0)
    return judge.embed_audio(clips, audio)


def measure(root: str, cache_dir: str, seed: int, variants: list) -> dict:
    """variant -> (right or wrong per held-out clip, labels, recordings, seconds), and the classes."""
    audio = AudioConfig()
    real = load_real_clips(*checked_competition(root, 0.2), audio, cache_dir, None)
    gan_clips, held = gan_and_held_out(real, 0.2, seed)
    gan_test_judge = judge.fit_judge(
        judge.embed_files(gan_clips.paths, audio, cache_dir=cache_dir), gan_clips.labels, seed
    )
    top_db = float(gan_clips.features.max())
    results = {}
    for name in variants:
        started = time.time()
        embeddings = variant_embeddings(name, held, top_db, audio, cache_dir)
        right = gan_test_judge.predict(embeddings) == held.labels
        results[name] = (right, time.time() - started)
    return {"results": results, "labels": held.labels, "groups": list(held.groups), "classes": real.classes}


def print_table(measured: list, variants: list) -> None:
    classes = measured[0]["classes"]
    right = {v: np.concatenate([m["results"][v][0] for m in measured]) for v in variants}
    labels = np.concatenate([m["labels"] for m in measured])
    # a recording held out in two seeds counts as one unit in the bootstrap
    groups = np.concatenate([m["groups"] for m in measured])
    print(f"\n{len(labels)} held-out clips over {len(measured)} seed(s), judged by the GAN-test judge")
    print("| variant | overall [95%] | " + " | ".join(classes) + " | paired vs default (points) | s |")
    print("| --- | --- | " + " | ".join("---" for _ in classes) + " | --- | --- |")
    for v in variants:
        overall = bootstrap_mean(right[v].astype(float), groups)
        per_class = [f"{right[v][labels == k].mean():.2f}" for k in range(len(classes))]
        paired = (
            paired_difference(right[v].astype(float), right["default"].astype(float), groups).as_points()
            if "default" in variants and v != "default"
            else ""
        )
        seconds = sum(m["results"][v][1] for m in measured)
        print(f"| {v} | {overall} | " + " | ".join(per_class) + f" | {paired} | {seconds:.0f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="42,43", help="the hold-out splits, as the CGAN's seeds make them")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--work", default="/tmp/freqquest-benchmark", help="the competition and caches (shared with benchmark_cgan.py)"
    )
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    root, cache_dir = os.path.join(args.work, "comp-all"), os.path.join(args.work, "cache")
    fold_competition("all", root)
    measured = [measure(root, cache_dir, int(s), variants) for s in args.seeds.split(",")]
    print_table(measured, variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
