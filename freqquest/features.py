"""Log-Mel features: extracted in parallel with a progress bar, cached on disk.

The cache lives in `<cache_root>/<config.cache_key()>/` (band-limited copies in
`<config.cache_key()>-<rate>hz/`) as shards: each extraction writes
one `.npy` array (memory-mapped on read) and one `.json` list of the file keys it holds.
A file's key is its resolved path, size and modification time, so an edited or replaced
file is extracted again, and a second run with the same config extracts nothing.
"""
import dataclasses
import hashlib
import json
import os
import uuid

import librosa
import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from .audio import AudioLoadError, load_clip
from .config import AudioConfig, to_dict
from .io import atomic_path, write_text_atomic


def log_mel(clip: np.ndarray, config: AudioConfig) -> np.ndarray:
    """Log-power Mel spectrogram in dB (librosa's Slaney mel scale), shape (n_mels, n_frames)."""
    mel = librosa.feature.melspectrogram(
        y=clip,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
        power=2.0,
    )
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).astype(np.float32)


def file_key(path) -> str:
    real = os.path.realpath(path)
    stat = os.stat(real)
    return hashlib.sha1(f"{real}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:24]


@dataclasses.dataclass
class FeatureSet:
    """Features for a list of files, in that order; rows of unreadable files are zeros."""

    paths: list
    features: np.ndarray
    errors: list  # one reason per file, "" where the file loaded
    n_extracted: int  # computed now (unreadable files are tried again each time, never cached)
    n_cached: int

    @property
    def ok(self) -> np.ndarray:
        return np.array([not e for e in self.errors], dtype=bool)

    @property
    def failed(self) -> dict:
        return {p: e for p, e in zip(self.paths, self.errors) if e}


class FeatureCache:
    def __init__(self, root, config: AudioConfig, band_limit: int | None = None):
        self.config = config
        self.directory = os.path.join(str(root), config.cache_key() + (f"-{band_limit}hz" if band_limit else ""))
        self._index = None

    def _load_index(self) -> dict:
        if self._index is None:
            self._index = {}
            if os.path.isdir(self.directory):
                for name in sorted(os.listdir(self.directory)):
                    if name.startswith("shard-") and name.endswith(".json"):
                        with open(os.path.join(self.directory, name)) as f:
                            keys = json.load(f)
                        shard = name[: -len(".json")]
                        for row, key in enumerate(keys):
                            self._index[key] = (shard, row)
        return self._index

    def __contains__(self, key) -> bool:
        return key in self._load_index()

    def read(self, keys: list) -> np.ndarray:
        index = self._load_index()
        out = np.empty((len(keys), *self.config.feature_shape), dtype=np.float32)
        shards = {}
        for i, key in enumerate(keys):
            shard, row = index[key]
            if shard not in shards:
                shards[shard] = np.load(os.path.join(self.directory, shard + ".npy"), mmap_mode="r")
            out[i] = shards[shard][row]
        return out

    def add(self, keys: list, features: np.ndarray) -> None:
        """Write one shard atomically: the array first, then the key list that indexes it."""
        if not keys:
            return
        os.makedirs(self.directory, exist_ok=True)
        config_path = os.path.join(self.directory, "config.json")
        if not os.path.exists(config_path):
            write_text_atomic(config_path, json.dumps(to_dict(self.config), indent=2))
        shard = f"shard-{uuid.uuid4().hex[:12]}"
        array_path = os.path.join(self.directory, shard + ".npy")
        with atomic_path(array_path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(features, dtype=np.float32))
        write_text_atomic(os.path.join(self.directory, shard + ".json"), json.dumps(keys))
        index = self._load_index()
        for row, key in enumerate(keys):
            index[key] = (shard, row)


def extract_one(path, config: AudioConfig, band_limit: int | None = None):
    """Worker: (features, None) for a good file, (None, reason) for an unreadable one."""
    try:
        return log_mel(load_clip(path, config, band_limit), config), None
    except AudioLoadError as error:
        return None, error.reason
    except Exception as error:  # one strange file must not end a long run
        return None, f"unexpected {type(error).__name__} while extracting features: {error}"


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def extract_features(paths, config: AudioConfig, cache_root=None, workers=None, desc="features",
                     band_limit: int | None = None) -> FeatureSet:
    """Features for every path, in order; cached files are read, the rest extracted. With
    `band_limit`, of each clip as if recorded at that sample rate (audio.load_clip)."""
    paths = [str(p) for p in paths]
    features = np.zeros((len(paths), *config.feature_shape), dtype=np.float32)
    errors = [""] * len(paths)
    cache = FeatureCache(cache_root, config, band_limit) if cache_root is not None else None

    keys = [file_key(p) if os.path.exists(p) else None for p in paths]
    cached = [i for i, k in enumerate(keys) if cache is not None and k is not None and k in cache]
    if cached:
        features[cached] = cache.read([keys[i] for i in cached])
    cached_set = set(cached)
    todo = [i for i in range(len(paths)) if i not in cached_set]

    workers = workers or default_workers()
    # absolute: the workers outlive this call, and with it the working directory they started in
    results = _run_extraction([os.path.abspath(paths[i]) for i in todo], config, workers, desc, band_limit)
    new_keys, new_rows = [], []
    for i, (array, error) in zip(todo, results):
        if error is not None:
            errors[i] = error
            continue
        features[i] = array
        if keys[i] is not None:
            new_keys.append(keys[i])
            new_rows.append(i)
    if cache is not None and new_keys:
        cache.add(new_keys, features[new_rows])

    n_extracted = sum(1 for i in todo if not errors[i])
    return FeatureSet(paths=paths, features=features, errors=errors, n_extracted=n_extracted, n_cached=len(cached))


def _run_extraction(paths, config, workers, desc, band_limit):
    if not paths:
        return []
    bar = dict(total=len(paths), desc=desc, unit="clip", mininterval=1.0)
    if workers == 1 or len(paths) < 4 * workers:
        return [extract_one(p, config, band_limit) for p in tqdm(paths, **bar)]
    # loky workers are fresh interpreters that skip the caller's __main__ (and so TensorFlow),
    # and stay alive between calls, so the test set reuses the train set's workers
    parallel = Parallel(n_jobs=workers, backend="loky", return_as="generator")
    return list(tqdm(parallel(delayed(extract_one)(p, config, band_limit) for p in paths), **bar))
