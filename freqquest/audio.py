"""Robust loading of one clip: any sample rate, channel count, bit depth; WAV, FLAC or OGG.

Every clip leaves here as float32 mono at the AudioConfig rate and exactly
`config.n_samples` long, or raises AudioLoadError naming the file and what is wrong.
"""
import os

import librosa
import numpy as np
import soundfile as sf

from .config import AudioConfig


class AudioLoadError(Exception):
    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def probe(path) -> str | None:
    """Read only the header; return None when the file looks loadable, else the reason."""
    try:
        info = sf.info(str(path))
    except Exception as error:  # libsndfile raises several types for broken headers
        return _reason(path, error)
    if info.frames == 0:
        return "the file holds no audio samples"
    return None


def read_audio(path) -> tuple[np.ndarray, int]:
    """Decode a file as it is: float32 of shape (frames, channels) and its sample rate."""
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioLoadError(path, _reason(path, error)) from None
    if samples.shape[0] == 0:
        raise AudioLoadError(path, "the file holds no audio samples")
    return samples, rate


def to_mono(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]


def fit_length(clip: np.ndarray, n_samples: int, mode: str) -> np.ndarray:
    """Crop long clips to their start; pad short ones with silence or loop them."""
    if clip.shape[0] >= n_samples:
        return clip[:n_samples]
    if mode == "loop":
        repeats = -(-n_samples // clip.shape[0])
        return np.tile(clip, repeats)[:n_samples]
    if mode == "pad":
        return np.pad(clip, (0, n_samples - clip.shape[0]))
    raise ValueError(f"unknown fit mode {mode!r}")


def native_rate(path) -> int | None:
    """The sample rate the file was recorded at, from its header; None when unreadable."""
    try:
        return int(sf.info(str(path)).samplerate)
    except Exception:  # libsndfile raises several types for broken headers
        return None


def load_clip(path, config: AudioConfig, band_limit: int | None = None) -> np.ndarray:
    """`band_limit` (a sample rate): a clip recorded above it is first resampled down to it, so it
    holds only what a recording at that rate could (bandwidth.py)."""
    samples, rate = read_audio(path)
    clip = np.nan_to_num(to_mono(samples), nan=0.0, posinf=0.0, neginf=0.0)
    if band_limit is not None and rate > band_limit:
        clip = librosa.resample(clip, orig_sr=rate, target_sr=band_limit, res_type="soxr_hq")
        rate = band_limit
    if rate != config.sample_rate:
        clip = librosa.resample(clip, orig_sr=rate, target_sr=config.sample_rate, res_type="soxr_hq")
    return fit_length(clip.astype(np.float32, copy=False), config.n_samples, config.fit_mode)


def _reason(path, error) -> str:
    if not os.path.exists(path):
        return "file not found"
    if os.path.getsize(path) == 0:
        return "empty file (0 bytes)"
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    # libsndfile says "Error opening '<path>': <what>"; the path is already in our message
    return f"not decodable as audio ({message.rsplit(chr(39) + ': ', 1)[-1]})"
