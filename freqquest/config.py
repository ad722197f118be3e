"""One audio configuration and one training configuration, shared by every step.

The AudioConfig is saved next to every model and its hash keys the feature cache, so
features for training and for prediction can never drift apart silently.
"""
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import platform

from .io import write_text_atomic

# Bump when the feature computation changes in a way the config fields do not capture.
FEATURE_VERSION = 1

FIT_MODES = ("loop", "pad")
NORMALIZATIONS = ("clip", "global")


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 22050
    duration: float = 4.0
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 11025.0
    fit_mode: str = "loop"

    def __post_init__(self):
        if self.sample_rate <= 0 or self.duration <= 0:
            raise ValueError("sample_rate and duration must be positive")
        if self.fit_mode not in FIT_MODES:
            raise ValueError(f"fit_mode must be one of {FIT_MODES}, got {self.fit_mode!r}")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.fmax}")
        if self.hop_length <= 0 or self.n_fft <= 0 or self.n_mels <= 0:
            raise ValueError("n_fft, hop_length and n_mels must be positive")

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration))

    @property
    def n_frames(self) -> int:
        return 1 + self.n_samples // self.hop_length

    @property
    def feature_shape(self) -> tuple:
        return (self.n_mels, self.n_frames)

    def cache_key(self) -> str:
        payload = json.dumps({"v": FEATURE_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model: str = "cnn"
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 42
    val_fraction: float = 0.2
    normalization: str = "clip"
    early_stopping_patience: int = 12
    reduce_lr_patience: int = 5

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def from_dict(cls, data: dict):
    """Build a config from a saved dict, ignoring keys a newer version may have added."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


RUN_CONFIG = "config.json"


def library_versions() -> dict:
    from . import __version__

    versions = {"python": platform.python_version(), "freqquest": __version__}
    for package in ("tensorflow", "keras", "librosa", "numpy", "scikit-learn"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def write_run_config(run_dir, audio: AudioConfig, train: TrainConfig, classes: list, fallback_class: str, data_root: str) -> None:
    payload = {
        "audio": to_dict(audio),
        "train": to_dict(train),
        "classes": list(classes),
        "fallback_class": fallback_class,
        "data": os.path.abspath(data_root),
        "versions": library_versions(),
    }
    write_text_atomic(os.path.join(run_dir, RUN_CONFIG), json.dumps(payload, indent=2))


def read_run_config(run_dir) -> dict:
    """The saved config of a run, with `audio` and `train` as config objects."""
    path = os.path.join(run_dir, RUN_CONFIG)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a freqquest run folder")
    with open(path) as f:
        payload = json.load(f)
    payload["audio"] = from_dict(AudioConfig, payload["audio"])
    payload["train"] = from_dict(TrainConfig, payload["train"])
    return payload
