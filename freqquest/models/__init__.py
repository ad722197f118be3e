"""Model registry: every architecture returns class probabilities, with what its input needs
inside the model so a saved `.keras` file needs nothing else to predict. The log-Mel networks
(cnn, resnet, efficientnetv2b0) read a log-Mel (n_mels, n_frames); birdnet reads the activations
of BirdNET's frozen first segments for one window (models/birdnet.py)."""
import keras
from keras import layers

from ..config import BIRDNET, MODELS
from . import birdnet, cnn, efficientnet, resnet

BUILDERS = {"cnn": cnn.build, "resnet": resnet.build}  # ours, with a width to choose
PRETRAINABLE = {"efficientnetv2b0": efficientnet.build}  # keras.applications', with weights to load
LOG_MEL_MODELS = (*BUILDERS, *PRETRAINABLE)
NAMES = (*LOG_MEL_MODELS, BIRDNET)
assert NAMES == MODELS, "config.MODELS names the networks built here"


def build_model(name: str, input_shape: tuple, n_classes: int, normalization: str = "clip", stats=None, width: int = 32,
                weights: str | None = None, tune_from: str = "POST"):
    """Build `name`: ours with `width` filters in the first stage (doubling per stage), a
    pretrainable one with `weights` ("imagenet", a weights file, or None for random ones);
    `stats` = (mean, variance) of the training features for global normalization; birdnet from
    segment `tune_from` on, with BirdNET's weights and a new classifier."""
    if name not in NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(NAMES)}")
    if weights is not None and name not in PRETRAINABLE:
        raise ValueError(f"{name} has no pretrained weights to load; weights are for {', '.join(PRETRAINABLE)}")
    if name == BIRDNET:
        return birdnet.build_tuned(tune_from, input_shape, n_classes)
    inputs = keras.Input(shape=input_shape, name="log_mel")
    x = input_stem(inputs, normalization, stats)
    if name in PRETRAINABLE:
        features = PRETRAINABLE[name](x, weights)
    else:
        features = BUILDERS[name](x, widths=(width, 2 * width, 4 * width))
    outputs = classifier_head(features, n_classes)
    return keras.Model(inputs, outputs, name=name)


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

