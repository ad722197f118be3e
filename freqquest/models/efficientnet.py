"""EfficientNetV2-B0 (Tan & Le 2021) from `keras.applications` as a log-Mel backbone, from random
weights or from ImageNet's: the backbone the strongest public entries of the reference competition
fine-tuned. The log-Mel comes in standardized (zero mean, unit variance, like an ImageNet-normalized
image) and copied into the three colour channels, so Keras's own image preprocessing is left out."""

import os

import keras
from keras import layers

from .blocks import pool_over_time

IMAGENET_FILE = "efficientnetv2-b0_notop.h5"
IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/" + IMAGENET_FILE
IMAGENET_MD5 = "893217f2bb855e2983157299931e43ff"  # keras.applications' own hash of that file


def weights_file(weights: str) -> str:
    """The local file of `weights`: "imagenet" (downloaded once into the Keras cache,
    ~/.keras/models/) or the path of a weights file. Called before any training, so a machine
    without internet learns it at once, with the way round it."""
    if weights != "imagenet":
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"weights file not found: {weights}")
        return weights
    try:
        return keras.utils.get_file(IMAGENET_FILE, IMAGENET_URL, cache_subdir="models", file_hash=IMAGENET_MD5)
    except Exception as error:  # get_file raises a bare Exception for network errors
        raise FileNotFoundError(
            f"could not download the ImageNet weights of EfficientNetV2-B0 ({error}). Without internet (a Kaggle "
            f"notebook with it switched off, an offline machine), fetch {IMAGENET_URL} elsewhere, then pass "
            f"--weights /path/to/{IMAGENET_FILE} (on Kaggle: attach it as a dataset), or copy it into ~/.keras/models/"
        ) from None


def build(x, weights: str | None = None):
    backbone = keras.applications.EfficientNetV2B0(
        include_top=False,
        weights=weights_file(weights) if weights else None,
        input_shape=(*x.shape[1:3], 3),
        include_preprocessing=False,
    )
    x = layers.Concatenate(name="log_mel_as_rgb")([x, x, x])
    return pool_over_time(backbone(x))


def blocks(model) -> list:
    """The stem, each residual add and the top activation of the nested backbone, as (backbone, layer)."""
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    names = (
        ["stem_activation"]
        + [layer.name for layer in backbone.layers if layer.name.endswith("_add")]
        + ["top_activation"]
    )
    return [(backbone, backbone.get_layer(name)) for name in names]
