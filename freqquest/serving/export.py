"""A run's network member as TFLite (`python -m freqquest.export`, whose help says what a user gets):
the fold networks averaged into one model, a float32 clone of a mixed-precision one, the
converter's three kinds, INT8's representative inputs, and the exported model run in the
network's place (TfliteNetwork)."""

import logging
import os
import warnings

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from ..blend.members import member_kinds, recipe_embedders
from ..competition.dataset import is_competition_root, scan_competition
from ..config import NETWORK, TFLITE_KINDS
from ..features.inputs import extract_clip_set
from ..features.store import FeatureStore
from ..io import atomic_path
from ..quiet import import_tensorflow, silenced
from ..runs import open_run

log = logging.getLogger(__name__)

REPRESENTATIVE_CLIPS = 200  # training clips whose inputs calibrate INT8's activation ranges


def network_member(models: list):
    """One Keras model whose output is the mean of the fold networks' probabilities."""
    import keras  # TensorFlow: the command line imports this module before it loads

    if len(models) == 1:
        return models[0]
    inputs = keras.Input(models[0].input_shape[1:], name="inputs")
    # each fold under a name of its own
    folds = [keras.Model(model.input, model.output, name=f"fold_{k + 1}") for k, model in enumerate(models)]
    return keras.Model(inputs, keras.layers.Average(name="fold_mean")([fold(inputs) for fold in folds]), name="network")


def float32_clone(model):
    """The model with every layer's dtype policy set to float32 and the same weights: TFLite's
    converter wants float32 graphs, and a model trained under mixed_float16 keeps that policy."""
    import keras  # TensorFlow: the command line imports this module before it loads

    def plain(node):
        if isinstance(node, dict):
            if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and "mixed" in str(
                node.get("config", {}).get("name")
            ):
                return "float32"
            return {key: plain(value) for key, value in node.items()}
        if isinstance(node, list):
            return [plain(value) for value in node]
        return node

    if all(layer.dtype_policy.name == "float32" for layer in _all_layers(model)):
        return model
    clone = keras.Model.from_config(plain(model.get_config()))
    clone.set_weights(model.get_weights())
    return clone


def _all_layers(model) -> list:
    import keras  # TensorFlow: the command line imports this module before it loads

    return [
        inner
        for layer in model.layers
        for inner in ([layer] + (_all_layers(layer) if isinstance(layer, keras.Model) else []))
    ]


def representative_inputs(run_dir, n: int = REPRESENTATIVE_CLIPS, cache_dir=None) -> np.ndarray:
    """What the run's network reads of up to n of its training clips (from the run's data folder,
    through the cache): their log-Mels, or each window of BirdNET's frozen segments for the
    fine-tuned BirdNET (the network member's `network_inputs`)."""
    run = open_run(run_dir)
    if not is_competition_root(run.data):
        raise FileNotFoundError(
            f"INT8 calibrates on the run's training clips, and {run.data} (the data of {run_dir}) is not "
            f"here: export on the machine that trained it, or use --float16 / --float32"
        )
    paths = scan_competition(run.data).train_paths
    chosen = [paths[i] for i in np.random.default_rng(0).permutation(len(paths))[:n]]
    found = extract_clip_set(
        FeatureStore(run.audio, cache_dir), chosen, recipe_embedders(run.train), "representative clips"
    )
    network = dict(member_kinds(run.train))[NETWORK]
    return network.network_inputs(found.inputs.take(found.ok))


def convert(model, kind: str, representative: np.ndarray | None = None) -> bytes:
    tf = import_tensorflow()
    if kind not in TFLITE_KINDS:
        raise ValueError(f"kind must be one of {TFLITE_KINDS}, got {kind!r}")
    converter = tf.lite.TFLiteConverter.from_keras_model(float32_clone(model))
    if kind == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    if kind == "int8":
        if representative is None or not len(representative):
            raise ValueError("INT8 needs a representative set of the network's inputs")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([row[None].astype(np.float32)] for row in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with warnings.catch_warnings(), silenced():  # the converter prints every tensor it saves
        warnings.simplefilter("ignore")
        return converter.convert()


def export_run(run_dir, kind: str, out, cache_dir=None) -> str:
    """Write the run's network member as a TFLite model of `kind`; the path written."""
    from ..models.training import load_fold_models  # TensorFlow, likewise

    run = open_run(run_dir)
    config = run.train
    if run.demo:
        log.warning(
            "note: %s was trained on the synthetic demo: the exported model knows synthetic sounds only", run_dir
        )
    if not config.trains_network:
        raise ValueError(
            f"{run_dir} has no network to export ({', '.join(config.member_names)}): a run of "
            f"--preset scratch (or with --model) has one"
        )
    model = network_member(load_fold_models(run_dir, config.folds))
    representative = representative_inputs(run_dir, cache_dir=cache_dir) if kind == "int8" else None
    flat = convert(model, kind, representative)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            f.write(flat)
    log.info("%s: the network member of %s as %s TFLite, %.2f MB", out, run_dir, kind, len(flat) / 1e6)
    return str(out)


class TfliteNetwork:
    """An exported network, predicting like a Keras model (predict, predict_on_batch, output_shape) so the blend
    can take it in the fold networks' place. An INT8 model's input and output are quantized and
    dequantized here with the scales the converter chose, and it runs on TFLite's builtin kernels:
    under TF 2.21 the XNNPACK delegate computes the per-clip standardization of an INT8 model with
    a mean relative error of 0.63 against 0.05 on the builtin kernels (top-1 agreement with Keras
    fell to 0.43 on the demo's test clips)."""

    def __init__(self, path, threads: int = 1):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: write it with python -m freqquest.export")
        self.interpreter = _interpreter(path, threads, xnnpack=True)
        if self.interpreter.get_input_details()[0]["dtype"] == np.int8:
            self.interpreter = _interpreter(path, threads, xnnpack=False)
        self.source, self.target = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()[0]
        self.output_shape = (None, int(self.target["shape"][-1]))
        self.batch = None

    def predict(self, features: np.ndarray, batch_size: int = 64, verbose: int = 0) -> np.ndarray:
        out = np.empty((len(features), self.output_shape[-1]), np.float32)
        for start in range(0, len(features), batch_size):
            block = np.asarray(features[start : start + batch_size], np.float32)
            if self.batch != len(block):
                self.interpreter.resize_tensor_input(self.source["index"], [len(block), *block.shape[1:]])
                self.interpreter.allocate_tensors()
                self.batch = len(block)
            self.interpreter.set_tensor(self.source["index"], _quantize(block, self.source))
            self.interpreter.invoke()
            out[start : start + len(block)] = _dequantize(
                self.interpreter.get_tensor(self.target["index"]), self.target
            )
        return out

    def predict_on_batch(self, features: np.ndarray) -> np.ndarray:
        return self.predict(features, batch_size=max(1, len(features)))


def _interpreter(path, threads: int, xnnpack: bool):
    with silenced():  # the XNNPACK delegate's note
        return Interpreter(
            model_path=str(path),
            num_threads=threads,
            experimental_op_resolver_type=(
                OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            ),
        )


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if detail["dtype"] == np.float32 or not scale:
        return x.astype(detail["dtype"])
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def _dequantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    return (
        x.astype(np.float32) if detail["dtype"] == np.float32 or not scale else ((x.astype(np.float32) - zero) * scale)
    )
