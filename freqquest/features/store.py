"""Features of audio files: extracted in parallel with a progress bar, cached on disk.

An extractor turns one file into one float32 array of a fixed shape: the log-Mel here
(`LogMel`), a pretrained embedding in `embeddings/`. A `FeatureStore` runs extractors over
lists of files with the settings every call shares (the audio config, the cache folder, the
number of processes).

The cache of an extractor lives in `<cache_dir>/<extractor.cache_name>/` as shards: each
holds one `.npy` array (memory-mapped on read) and one `.json` list of the file keys it
holds. Shards are written every SHARD_CLIPS clips as extraction proceeds, each atomically
(the array first, then the key list that indexes it), so an interrupted extraction keeps what
it finished and a rerun extracts only the rest. A file's key is its resolved path, size and
modification time, so an edited or replaced file is extracted again, and a second run with
the same settings extracts nothing.

The cache is derived data, so it heals: a shard that does not read as it should (a truncated
array, a wrong shape or dtype, a key list that names a missing array or is not JSON, as a full
disk or an interrupted copy leaves them) is reported once with its path and removed, and its
clips are extracted again like any clip the cache does not hold.
"""

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import uuid

import librosa
import numpy as np
import soundfile as sf
from joblib import Parallel, delayed, parallel_config
from tqdm.auto import tqdm

from ..competition.audio import AudioLoadError, load_clip
from ..config import AudioConfig, to_dict
from ..io import atomic_path, write_text_atomic
from .embeddings import get_embedder, shared_passes

log = logging.getLogger(__name__)

SHARD_CLIPS = 256  # new clips per cache shard: what an interrupted extraction can lose
WARM_RATE, WARM_SAMPLES = 44100, 22050  # the file each worker extracts before the progress bar: half a second


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


@dataclasses.dataclass(frozen=True)
class LogMel:
    """The log-Mel of a file under `config`; with `band_limit` (a sample rate), of the file as if
    recorded at that rate (audio.load_clip)."""

    config: AudioConfig
    band_limit: int | None = None

    @property
    def cache_name(self) -> str:
        return self.config.cache_key() + (f"-{self.band_limit}hz" if self.band_limit else "")

    @property
    def shape(self) -> tuple:
        return self.config.feature_shape

    @property
    def clip_config(self) -> AudioConfig:
        """How a file is loaded for it."""
        return self.config

    def describe(self) -> dict:
        return to_dict(self.config) | ({"band_limit": self.band_limit} if self.band_limit else {})

    def of_clip(self, clip: np.ndarray) -> np.ndarray:
        """The log-Mel of a clip already loaded at `clip_config`."""
        return log_mel(clip, self.config)

    def __call__(self, path) -> np.ndarray:
        return self.of_clip(load_clip(path, self.config, self.band_limit))


def file_key(path) -> str:
    real = os.path.realpath(path)
    stat = os.stat(real)
    return hashlib.sha1(f"{real}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:24]


@dataclasses.dataclass
class FileResults:
    """What became of each file of a list, in that order."""

    paths: list
    errors: list  # one reason per file, "" where the file loaded

    @property
    def ok(self) -> np.ndarray:
        return np.array([not e for e in self.errors], dtype=bool)

    @property
    def failed(self) -> dict:
        return {p: e for p, e in zip(self.paths, self.errors) if e}


@dataclasses.dataclass
class FeatureSet(FileResults):
    """Features for a list of files, in that order; rows of unreadable files are zeros."""

    features: np.ndarray
    n_extracted: int  # computed now (unreadable files are tried again each time, never cached)
    n_cached: int


class FeatureCache:
    """The shards of one extractor's features (see the module docstring)."""

    def __init__(self, root, extractor):
        self.extractor = extractor
        self.directory = os.path.join(str(root), extractor.cache_name)
        self._index = None

    def _load_index(self) -> dict:
        if self._index is None:
            self._index = {}
            if os.path.isdir(self.directory):
                for name in sorted(os.listdir(self.directory)):
                    if name.startswith("shard-") and name.endswith(".json"):
                        shard = name[: -len(".json")]
                        keys = self._readable_keys(shard)
                        for row, key in enumerate(keys or ()):
                            self._index[key] = (shard, row)
        return self._index

    def _readable_keys(self, shard: str) -> list | None:
        """The keys a shard holds, or None (the shard reported and removed) when it does not read."""
        keys_path, array_path = (os.path.join(self.directory, shard + ext) for ext in (".json", ".npy"))
        try:
            with open(keys_path) as f:
                keys = json.load(f)
            array = np.load(array_path, mmap_mode="r")
            expected = (len(keys), *self.extractor.shape)
            if array.dtype != np.float32 or array.shape != expected:
                raise ValueError(f"holds {array.dtype} {array.shape}, not float32 {expected}")
            return keys
        except FileNotFoundError:
            reason = f"its key list names {array_path}, which is missing"
        except (OSError, ValueError, EOFError) as error:  # truncated, not an array, not JSON
            reason = str(error) or type(error).__name__
        log.warning(
            "feature cache: %s does not read (%s); removed, its clips are extracted again",
            os.path.join(self.directory, shard),
            reason,
        )
        for path in (keys_path, array_path):  # the key list first: it is what indexes the array
            if os.path.exists(path):
                os.remove(path)
        return None

    def __contains__(self, key) -> bool:
        return key in self._load_index()

    def read(self, keys: list) -> np.ndarray:
        index = self._load_index()
        out = np.empty((len(keys), *self.extractor.shape), dtype=np.float32)
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
            write_text_atomic(config_path, json.dumps(self.extractor.describe(), indent=2))
        shard = f"shard-{uuid.uuid4().hex[:12]}"
        array_path = os.path.join(self.directory, shard + ".npy")
        with atomic_path(array_path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(features, dtype=np.float32))
        write_text_atomic(os.path.join(self.directory, shard + ".json"), json.dumps(keys))
        index = self._load_index()
        for row, key in enumerate(keys):
            index[key] = (shard, row)


def extract_one(path, extractor):
    """Worker: (features, None) for a good file, (None, reason) for an unreadable one."""
    try:
        return extractor(path), None
    except AudioLoadError as error:
        return None, error.reason
    except Exception as error:  # one strange file must not end a long run
        return None, f"unexpected {type(error).__name__} while extracting features: {error}"


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class FeatureStore:
    """What every extraction of a run shares: the audio config, the cache folder (None: no
    cache), the number of worker processes (None: one per core), the threads each of them gives
    a pretrained embedding's model, and the embedders (embeddings.Embedder) whose models every
    worker loads first, so that one set of workers serves all of a run's extractions."""

    audio: AudioConfig
    cache_dir: str | None = None
    workers: int | None = None
    embedding_threads: int = 1
    worker_models: tuple = ()

    def log_mels(self, paths, desc="features", band_limit: int | None = None) -> FeatureSet:
        return self.extract(paths, LogMel(self.audio, band_limit), desc)

    def embeddings(self, paths, name: str, desc=None, band_limit: int | None = None) -> FeatureSet:
        """The pretrained embedding `name` (embeddings.EMBEDDERS) of every path."""
        extractor = get_embedder(name, self.embedding_threads).extractor(self.audio, band_limit)
        return self.extract(paths, extractor, desc or name)

    def extract(self, paths, extractor, desc="features") -> FeatureSet:
        """`extractor`'s features of every path, in order; cached files are read, the rest
        extracted and cached shard by shard as they come."""
        return self.extract_all(paths, {desc: extractor}, desc)[desc]

    def extract_all(self, paths, extractors: dict, desc="features") -> dict:
        """name -> FeatureSet of each of `extractors` (name -> extractor) over every path. The
        extractions of one model share a pass over each file (embeddings.shared_passes)."""
        paths = [str(p) for p in paths]
        keys = [file_key(p) if os.path.exists(p) else None for p in paths]
        found = {}
        for names, extraction in shared_passes(extractors):
            label = desc if len(extractors) == 1 else f"{desc} {' + '.join(names)}"
            found |= dict(
                zip(names, self._extract_pass(paths, keys, [extractors[n] for n in names], extraction, label))
            )
        return found

    def _extract_pass(self, paths, keys, parts: list, extraction, desc) -> list:
        """A FeatureSet for each of `parts` (extractors), computed together by `extraction` (a
        tuple of their features from a file): a file that every part's cache holds is read, the
        rest extracted and added to the caches that lack it."""
        caches = [FeatureCache(self.cache_dir, part) if self.cache_dir is not None else None for part in parts]
        features = [np.zeros((len(paths), *part.shape), dtype=np.float32) for part in parts]
        errors = [""] * len(paths)
        cached = [i for i, k in enumerate(keys) if k is not None and all(c is not None and k in c for c in caches)]
        if cached:
            for cache, array in zip(caches, features):
                array[cached] = cache.read([keys[i] for i in cached])
        cached_set = set(cached)
        todo = [i for i in range(len(paths)) if i not in cached_set]

        # absolute: the workers outlive this call, and with it the working directory they started in
        results = self._run(extraction, [os.path.abspath(paths[i]) for i in todo], desc)
        pending = [[] for _ in parts]  # per part: rows to add to its cache
        for i, (arrays, error) in zip(todo, results, strict=True):  # strict: the bar sees its end, 100%
            if error is not None:
                errors[i] = error
                continue
            for part, (array, cache, waiting) in enumerate(zip(arrays, caches, pending)):
                features[part][i] = array
                if cache is not None and keys[i] is not None and keys[i] not in cache:
                    waiting.append(i)
                    if len(waiting) == SHARD_CLIPS:
                        cache.add([keys[k] for k in waiting], features[part][waiting])
                        waiting.clear()
        for cache, array, waiting in zip(caches, features, pending):
            if cache is not None:
                cache.add([keys[k] for k in waiting], array[waiting])

        n_extracted = sum(1 for i in todo if not errors[i])
        return [
            FeatureSet(paths=paths, features=array, errors=list(errors), n_extracted=n_extracted, n_cached=len(cached))
            for array in features
        ]

    def _run(self, extractor, paths, desc):
        """The results of `extract_one` over `paths`, in order, as they come."""
        if not paths:
            return iter(())
        workers = self.workers or default_workers()
        bar = tqdm(total=len(paths), desc=desc, unit="clip", mininterval=1.0)
        if workers == 1 or len(paths) < 4 * workers:
            return _counted(bar, (extract_one(p, extractor) for p in paths))
        loading = self._worker_loading(extractor)
        # each fresh worker extracts a short file first, the bar showing it, and the bar's clock then
        # starts again, so that its ETA counts clips only: the first file through a process pays
        # librosa's compilation and the models' loading (seconds, which the screen would not show)
        bar.set_postfix_str(f"starting {workers} workers")
        with tempfile.TemporaryDirectory() as folder, parallel_config(backend="loky", **loading):
            warm = os.path.join(folder, "warm.wav")
            sf.write(warm, np.random.default_rng(0).normal(0, 0.1, WARM_SAMPLES).astype(np.float32), WARM_RATE)
            Parallel(n_jobs=workers)(delayed(extract_one)(warm, extractor) for _ in range(workers))
        bar.set_postfix_str("", refresh=False)
        bar.reset()
        return _counted(bar, self._in_workers(extractor, paths, workers, loading))

    def _worker_loading(self, extractor) -> dict:
        """What every worker runs first. loky workers are fresh interpreters that skip the caller's
        __main__ (and so TensorFlow), and stay alive between calls made with the same initializer.
        Workers load the models first: a worker that loads one after extracting log-Mels looks to
        loky like a memory leak. With the run's models named (worker_models), every call keeps the
        same workers; starting a set of them (TensorFlow, the interpreters) took about 9 s on 2 cores."""
        models = self.worker_models
        embedder = getattr(extractor, "embedder", None)
        if embedder is not None and embedder.model_key() not in {m.model_key() for m in models}:
            models = (embedder,)
        return dict(initializer=_start_worker, initargs=(models,))

    @staticmethod
    def _in_workers(extractor, paths, workers, loading: dict):
        with parallel_config(backend="loky", **loading):
            yield from Parallel(n_jobs=workers, return_as="generator")(
                delayed(extract_one)(p, extractor) for p in paths
            )


def _counted(bar, results):
    """`results` as they come, each counted on `bar`, which is closed after the last."""
    with bar:
        for result in results:
            bar.update()
            yield result


def _start_worker(embedders: tuple) -> None:
    """What an extraction worker runs first: a watch that ends it with the run that started it,
    and each embedder's model, loaded once."""
    _end_with_parent()
    for embedder in embedders:
        embedder.load()


def _end_with_parent(every_s: float = 0.5) -> None:
    """End this process once the process that started it is gone, however it ended: a run killed
    with SIGKILL runs no cleanup, and its workers would otherwise compute on, unseen, holding
    hundreds of MB each (a process whose parent dies is handed to another, so its parent id changes)."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()
