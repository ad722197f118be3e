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
  default     the run's path: the image at half resolution, stretched back, the Mel filterbank's
              pseudo-inverse, Griffin-Lim (GanConfig.griffin_lim_iters)
  full        the image at full resolution, the rest as default
  gl100       as default, 100 Griffin-Lim iterations
  full-gl100  full resolution and 100 iterations
  half-time   every 2 frames averaged, every Mel band kept (stretched back before the rest of default)
  half-mel    every 2 Mel bands averaged, every frame kept
  stft        the clip's own STFT magnitude, Griffin-Lim (what recovering a phase costs alone)
  mel-phase   the log-Mel (full resolution, pseudo-inverse) with the clip's own phase (what the
              Mel filterbank costs alone)
Prints each variant's accuracy overall and per class with 95% intervals over recordings, and each
variant's paired difference to `default`.
"""

import argparse
import dataclasses
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
from freqquest.gan.inversion import GanScale, _double, log_mels_to_audio, mel_pseudo_inverse  # noqa: E402
from freqquest.gan.run import RealClips, checked_competition, gan_and_held_out, load_real_clips  # noqa: E402
from freqquest.intervals import bootstrap_mean, paired_difference  # noqa: E402

VARIANTS = ("files", "default", "full", "gl100", "full-gl100", "half-time", "half-mel", "stft", "mel-phase")
POOLED_AXIS = {"half-mel": 1, "half-time": 2}


@dataclasses.dataclass(frozen=True)
class Path:
    """One way from a real clip to the waveform the judge hears."""

    half: bool = True
    iterations: int = GanConfig.griffin_lim_iters

    def audio(self, held: RealClips, top_db: float, audio: AudioConfig) -> np.ndarray:
        scale = dataclasses.replace(GanScale.of(GanConfig(), top_db), half=self.half)
        return log_mels_to_audio(scale.unscale(scale.scale(held.features), audio.feature_shape), audio, self.iterations)


def one_axis_halved(held: RealClips, top_db: float, audio: AudioConfig, axis: int) -> np.ndarray:
    """As the default path, with the log-Mel averaged over pairs along one axis only."""
    scale = GanScale.of(GanConfig(), top_db)
    db = held.features
    pad = [(0, 0)] * 3
    pad[axis] = (0, db.shape[axis] % 2)
    padded = np.pad(db, pad, mode="edge")
    shape = list(padded.shape)
    shape[axis : axis + 1] = [shape[axis] // 2, 2]
    pooled = padded.reshape(shape).mean(axis=axis + 1)
    images = scale.scale(_double(pooled, audio.feature_shape))
    return log_mels_to_audio(scale.unscale(images, audio.feature_shape), audio, GanConfig.griffin_lim_iters)


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
    if name in POOLED_AXIS:
        return judge.embed_audio(one_axis_halved(held, top_db, audio, POOLED_AXIS[name]), audio)
    path = Path(half="full" not in name, iterations=100 if "gl100" in name else GanConfig.griffin_lim_iters)
    return judge.embed_audio(path.audio(held, top_db, audio), audio)


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
