"""The networks: every architecture returns class probabilities, with what its input needs
inside the model so a saved `.keras` file needs nothing else to predict. The log-Mel networks
(cnn, resnet, efficientnetv2b0) read a log-Mel (n_mels, n_frames); birdnet reads the activations
of BirdNET's frozen first segments for one window (models/birdnet.py).

Each entry of the registry says how its network is built and which of its layers end its
convolutional blocks, first to last: what Grad-CAM and the feature maps read."""

import dataclasses
from collections.abc import Callable

import keras
from keras import layers

from ..config import LOG_MEL_MODELS, MODELS, PRETRAINABLE_MODELS
from . import birdnet, cnn, efficientnet, resnet


@dataclasses.dataclass(frozen=True)
class LogMelNetwork:
    """A network on the standardized log-Mel: its backbone (`backbone(x, width, weights)`, the
    features the head pools), whether it has pretrained weights to load, and the layers that end its
    blocks (`blocks(model)`: (the model that holds them, layer), first to last)."""

    backbone: Callable
    blocks: Callable
    pretrainable: bool = False


LOG_MEL_NETWORKS = {
    "cnn": LogMelNetwork(lambda x, width, _: cnn.build(x, (width, 2 * width, 4 * width)), cnn.blocks),
    "resnet": LogMelNetwork(lambda x, width, _: resnet.build(x, (width, 2 * width, 4 * width)), resnet.blocks),
    "efficientnetv2b0": LogMelNetwork(lambda x, _, weights: efficientnet.build(x, weights), efficientnet.blocks, True),
}
assert tuple(LOG_MEL_NETWORKS) == LOG_MEL_MODELS and (*LOG_MEL_NETWORKS, birdnet.NAME) == MODELS


def build_model(
    name: str,
    input_shape: tuple,
    n_classes: int,
    normalization: str = "clip",
    stats=None,
    width: int = 32,
    weights: str | None = None,
    tune_from: str = "POST",
):
    """Build `name`: ours with `width` filters in the first stage (doubling per stage), a
    pretrainable one with `weights` ("imagenet", a weights file, or None for random ones);
    `stats` = (mean, variance) of the training features for global normalization; birdnet from
    segment `tune_from` on, with BirdNET's weights and a new classifier."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    network = LOG_MEL_NETWORKS.get(name)
    if weights is not None and not (network and network.pretrainable):
        raise ValueError(f"{name} has no pretrained weights to load; weights are for {', '.join(PRETRAINABLE_MODELS)}")
    if network is None:
        return birdnet.build_tuned(tune_from, input_shape, n_classes)
    inputs = keras.Input(shape=input_shape, name="log_mel")
    features = network.backbone(input_stem(inputs, normalization, stats), width, weights)
    return keras.Model(inputs, classifier_head(features, n_classes), name=name)


def explained_blocks(model) -> list:
    """The layers that end the convolutional blocks of one of our log-Mel networks, first to last,
    as (the model that holds them, layer)."""
    return LOG_MEL_NETWORKS[model.name].blocks(model)


def input_stem(inputs, normalization: str, stats):
    x = layers.Reshape((*inputs.shape[1:], 1))(inputs)
    if normalization == "clip":
        # per-clip standardization: the loudness of a recording says little about its class
        return layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False, name="clip_norm")(x)
    if normalization == "global":
        if stats is None:
            raise ValueError("global normalization needs the training features' (mean, variance)")
        mean, variance = stats
        return layers.Normalization(axis=None, mean=float(mean), variance=float(variance), name="global_norm")(x)
    raise ValueError(f"unknown normalization {normalization!r}")


def classifier_head(x, n_classes: int, dropout: float = 0.3):
    x = layers.Dense(128, activation="relu", name="embedding")(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(n_classes)(x)
    # float32 probabilities even under mixed precision
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)
