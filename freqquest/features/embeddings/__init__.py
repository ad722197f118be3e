"""Pretrained audio embeddings: each clip as the vector a model trained on far more sound than a
competition holds computes for it. A step of the data flow beside the log-Mels, cached the same
way (keyed by the model file's hash, the window settings and each file's identity)."""

from .base import ClipEmbedding, Embedder, EmbeddingUnavailable, SharedPass, shared_passes
from .birdnet import BirdNet, BirdNetWindows

EMBEDDERS = {BirdNet.name: BirdNet}  # config.EMBEDDINGS names them


def get_embedder(name: str, threads: int = 1) -> Embedder:
    """The embedder called `name`, running its model on `threads` threads per process."""
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedding {name!r}; choose one of {', '.join(EMBEDDERS)}")
    return EMBEDDERS[name](threads=threads)


__all__ = [
    "EMBEDDERS",
    "BirdNet",
    "BirdNetWindows",
    "ClipEmbedding",
    "Embedder",
    "EmbeddingUnavailable",
    "SharedPass",
    "get_embedder",
    "shared_passes",
]
