"""Pretrained audio embeddings: each clip as the vector a model trained on far more sound than a
competition holds computes for it. A step of the data flow beside features.py, cached the same
way (keyed by the model file's hash, the window settings and each file's identity)."""
from ..config import BIRDNET, BIRDNET_TUNABLE, TrainConfig
from .base import ClipEmbedding, Embedder, EmbeddingUnavailable, SharedPass, shared_passes
from .birdnet import TUNABLE, BirdNet, BirdNetWindows

EMBEDDERS = {"birdnet": BirdNet}
assert tuple(TUNABLE) == BIRDNET_TUNABLE, "config.BIRDNET_TUNABLE names the segments embeddings.birdnet can cache the input of"


def get_embedder(name: str, threads: int = 1) -> Embedder:
    """The embedder called `name`, running its model on `threads` threads per process."""
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedding {name!r}; choose one of {', '.join(EMBEDDERS)}")
    return EMBEDDERS[name](threads=threads)


def recipe_embedders(config: TrainConfig, threads: int = 1) -> dict:
    """What the recipe's members read of pretrained models, by name: the embedding of each member
    named after one, and BirdNET's windows for a birdnet network (its frozen segments' output)."""
    embedders = {name: get_embedder(name, threads) for name in config.embedding_models}
    if config.model == BIRDNET:
        embedders[BirdNetWindows.name] = BirdNetWindows(config.tune_from, threads)
    return embedders


__all__ = ["EMBEDDERS", "BirdNet", "BirdNetWindows", "ClipEmbedding", "Embedder", "EmbeddingUnavailable", "SharedPass",
           "get_embedder", "recipe_embedders", "shared_passes"]
