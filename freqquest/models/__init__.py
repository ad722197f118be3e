"""Model registry: every architecture takes a log-Mel (n_mels, n_frames) input and returns
class probabilities, with the input normalization inside the model so a saved `.keras` file
needs nothing else to predict."""
import keras
from keras import layers

from ..config import MODELS
from . import cnn, efficientnet, resnet

BUILDERS = {"cnn": cnn.build, "resnet": resnet.build}  # ours, with a width to choose
PRETRAINABLE = {"efficientnetv2b0": efficientnet.build}  # keras.applications', with weights to load
NAMES = (*BUILDERS, *PRETRAINABLE)
assert NAMES == MODELS, "config.MODELS names the networks built here"


def build_model(name: str, input_shape: tuple, n_classes: int, normalization: str = "clip", stats=None, width: int = 32,
                weights: str | None = None):
    """Build `name`: ours with `width` filters in the first stage (doubling per stage), a
    pretrainable one with `weights` ("imagenet", a weights file, or None for random ones);
    `stats` = (mean, variance) of the training features for global normalization."""
    if name not in NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(NAMES)}")
    if weights is not None and name not in PRETRAINABLE:
        raise ValueError(f"{name} has no pretrained weights to load; weights are for {', '.join(PRETRAINABLE)}")
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

