"""From a generated log-Mel back to a waveform: undo the [-1, 1] scaling, invert the Mel
filterbank, and recover a phase with Griffin-Lim (librosa), using the run's AudioConfig."""
import functools
import os

import joblib
import librosa
import numpy as np
import soundfile as sf

from ..config import AudioConfig
from ..io import atomic_path


def scale_log_mel(db: np.ndarray, top_db: float, db_range: float) -> np.ndarray:
    """dB in [top_db - db_range, top_db] -> [-1, 1], clipped."""
    return np.clip((db - (top_db - db_range)) / db_range * 2.0 - 1.0, -1.0, 1.0).astype(np.float32)


def unscale_log_mel(scaled: np.ndarray, top_db: float, db_range: float) -> np.ndarray:
    return ((np.asarray(scaled, np.float32) + 1.0) / 2.0 * db_range + (top_db - db_range)).astype(np.float32)


def log_mel_to_audio(db: np.ndarray, config: AudioConfig, n_iter: int = 32, seed: int = 0) -> np.ndarray:
    """A float32 clip of exactly config.n_samples at config.sample_rate, peak-normalized to 0.9
    (silence stays silence)."""
    # The Mel filterbank's pseudo-inverse, not librosa's NNLS (mel_to_stft): NNLS took minutes
    # per generated clip on a CPU where this takes milliseconds.
    power = np.maximum(mel_pseudo_inverse(config) @ librosa.db_to_power(np.asarray(db, np.float64)), 0.0)
    audio = librosa.griffinlim(np.sqrt(power).astype(np.float32), n_iter=n_iter, hop_length=config.hop_length,
                               n_fft=config.n_fft, length=config.n_samples, random_state=seed)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return (audio * (0.9 / peak) if peak > 0 else audio).astype(np.float32)


@functools.lru_cache(maxsize=4)
def mel_pseudo_inverse(config: AudioConfig) -> np.ndarray:
    basis = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax)
    return np.linalg.pinv(basis)


def write_wav(path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM, written atomically."""
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")


def log_mels_to_audio(dbs, config: AudioConfig, n_iter: int = 32, workers: int | None = None) -> np.ndarray:
    """log_mel_to_audio over a batch, in parallel processes: (n, n_samples) float32."""
    if len(dbs) == 0:
        return np.zeros((0, config.n_samples), np.float32)
    jobs = (joblib.delayed(log_mel_to_audio)(db, config, n_iter, i) for i, db in enumerate(dbs))
    return np.stack(joblib.Parallel(n_jobs=workers or os.cpu_count() or 1, prefer="processes")(jobs))
