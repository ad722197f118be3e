"""What the GAN sees of a log-Mel (GanScale), and from a generated log-Mel back to a waveform:
undo the scaling, invert the Mel filterbank, and recover a phase with Griffin-Lim (librosa),
using the run's AudioConfig."""

import dataclasses
import functools
import os

import joblib
import librosa
import numpy as np
import soundfile as sf

from ..config import AudioConfig
from ..io import atomic_path
from .config import GanConfig


@dataclasses.dataclass(frozen=True)
class GanScale:
    """A log-Mel in dB as the GAN's image in [-1, 1]: `db_range` dB below a top level mapped to
    [-1, 1] and clipped. The top is the training clips' loudest pixel (`top_db`), or with
    `per_clip` each clip's own loudest: a quiet recording then fills the range instead of sitting
    at the floor (the level is lost, and Griffin-Lim's output is peak-normalized anyway; a
    generated image is given `top_db` back). The image is the log-Mel at its full resolution."""

    top_db: float
    db_range: float
    per_clip: bool = False

    @classmethod
    def of(cls, config: GanConfig, top_db: float) -> "GanScale":
        """How a recipe turns log-Mels into the GAN's images, given the training clips' top level."""
        return cls(top_db, config.db_range, config.per_clip_level)

    def scale(self, db: np.ndarray) -> np.ndarray:
        db = np.asarray(db, np.float32)
        top = db.max(axis=(1, 2), keepdims=True) if self.per_clip else self.top_db
        return np.clip((db - (top - self.db_range)) / self.db_range * 2.0 - 1.0, -1.0, 1.0).astype(np.float32)

    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        """The images back in dB."""
        return ((np.asarray(scaled, np.float32) + 1.0) / 2.0 * self.db_range + (self.top_db - self.db_range)).astype(
            np.float32
        )


def log_mel_to_audio(db: np.ndarray, config: AudioConfig, n_iter: int = 32, seed: int = 0) -> np.ndarray:
    """A float32 clip of exactly config.n_samples at config.sample_rate, peak-normalized to 0.9
    (silence stays silence)."""
    # The Mel filterbank's pseudo-inverse, not librosa's NNLS (mel_to_stft): NNLS took minutes
    # per generated clip on a CPU where this takes milliseconds.
    power = np.maximum(mel_pseudo_inverse(config) @ librosa.db_to_power(np.asarray(db, np.float64)), 0.0)
    audio = librosa.griffinlim(
        np.sqrt(power).astype(np.float32),
        n_iter=n_iter,
        hop_length=config.hop_length,
        n_fft=config.n_fft,
        length=config.n_samples,
        random_state=seed,
    )
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return (audio * (0.9 / peak) if peak > 0 else audio).astype(np.float32)


@functools.lru_cache(maxsize=4)
def mel_pseudo_inverse(config: AudioConfig) -> np.ndarray:
    basis = librosa.filters.mel(
        sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax
    )
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
