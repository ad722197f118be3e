"""What the blend's members read of a set of clips: the log-Mels (the log-Mel networks' input,
and through their statistics the logreg's and svm's) and what pretrained models compute of each
clip (an embedding for a member named after it, BirdNET's windows for the birdnet network),
extracted together through one FeatureStore."""
import dataclasses
import functools

import numpy as np

from .classical import clip_statistics
from .config import EMBEDDINGS
from .features import FeatureStore, LogMel


@dataclasses.dataclass
class ClipInputs:
    """Rows of clips: their log-Mels and what pretrained models computed of them, by name, in the same order."""

    log_mels: np.ndarray
    pretrained: dict = dataclasses.field(default_factory=dict)  # name -> (clips, ...)

    def __len__(self) -> int:
        return len(self.log_mels)

    def take(self, index) -> "ClipInputs":
        return ClipInputs(self.log_mels[index], {name: e[index] for name, e in self.pretrained.items()})

    @functools.cached_property
    def statistics(self) -> np.ndarray:
        return clip_statistics(self.log_mels)

    def of(self, name: str) -> np.ndarray:
        """What the pretrained model `name` computed of these clips."""
        if name not in self.pretrained:
            raise ValueError(f"these clips have no {name} features: they were not extracted")
        return self.pretrained[name]

    def rows(self, member: str) -> np.ndarray:
        """What the classical member `member` is fitted on and predicts from: the embedding it is
        named after, or the clip statistics of the log-Mels (computed once for all members)."""
        return self.of(member) if member in EMBEDDINGS else self.statistics


@dataclasses.dataclass
class ClipSet:
    """A list of files with their ClipInputs (rows of zeros where a file is unreadable)."""

    paths: list
    inputs: ClipInputs
    errors: list  # one reason per file, "" where every extractor read it
    counts: dict  # extractor -> (clips extracted now, clips read from the cache)

    @property
    def ok(self) -> np.ndarray:
        return np.array([not e for e in self.errors], dtype=bool)

    @property
    def failed(self) -> dict:
        return {p: e for p, e in zip(self.paths, self.errors) if e}

    def describe_counts(self) -> str:
        """e.g. 'log-Mel 0 extracted, 130 from the cache; birdnet 130 extracted, 0 from the cache'."""
        return "; ".join(f"{name} {new} extracted, {cached} from the cache" for name, (new, cached) in self.counts.items())


def extract_clip_set(store: FeatureStore, paths, embedders: dict | None = None, desc: str = "clips",
                     band_limit: int | None = None) -> ClipSet:
    """The log-Mels of `paths` and what each of `embedders` (name -> embeddings.Embedder)
    computes of them; with `band_limit`, of the files as if recorded at that sample rate."""
    extractors = {"log-Mel": LogMel(store.audio, band_limit)}
    extractors |= {name: embedder.extractor(store.audio, band_limit) for name, embedder in (embedders or {}).items()}
    sets = store.extract_all(paths, extractors, desc)
    errors = [next((e for e in row if e), "") for row in zip(*(s.errors for s in sets.values()))]
    inputs = ClipInputs(sets["log-Mel"].features, {name: sets[name].features for name in embedders or {}})
    return ClipSet(sets["log-Mel"].paths, inputs, errors, {name: (s.n_extracted, s.n_cached) for name, s in sets.items()})
