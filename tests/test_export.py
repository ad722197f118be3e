"""python -m freqquest.export: the network member as TFLite (float32, float16, INT8), run by
predict --tflite so the edge artifact is exercised."""

import keras
import numpy as np
import pytest

from freqquest import export
from freqquest.config import TFLITE_KINDS, AudioConfig
from freqquest.features.store import FeatureStore
from freqquest.models import build_model
from freqquest.models.training import load_fold_models
from freqquest.serving.export import TfliteNetwork, convert, float32_clone, network_member
from freqquest.serving.predictor import Predictor


@pytest.fixture(scope="module")
def exported(scratch_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tflite")
    paths = {kind: folder / f"{kind}.tflite" for kind in TFLITE_KINDS}
    for kind, path in paths.items():
        assert (
            export.main([str(scratch_run), f"--{kind}", str(path), "--cache-dir", str(tmp_path_factory.mktemp("c"))])
            == 0
        )
    return paths


@pytest.fixture(scope="module")
def test_log_mels(lowrate_demo):
    return (
        FeatureStore(AudioConfig(), None, workers=1)
        .log_mels(sorted((lowrate_demo / "test" / "test").iterdir()))
        .features
    )


def test_each_kind_predicts_like_the_keras_network(scratch_run, exported, test_log_mels):
    keras_probabilities = network_member(load_fold_models(scratch_run, 2)).predict(test_log_mels, verbose=0)
    sizes = {kind: path.stat().st_size for kind, path in exported.items()}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"] and sizes["int8"] < sizes["float32"] / 3
    for kind, tolerance, agreement in (("float32", 1e-4, 1.0), ("float16", 0.02, 0.9), ("int8", 0.15, 0.8)):
        probabilities = TfliteNetwork(exported[kind]).predict(test_log_mels)
        assert probabilities.shape == (30, 5) and probabilities.dtype == np.float32
        assert np.abs(probabilities - keras_probabilities).max() < tolerance, kind
        assert np.mean(probabilities.argmax(1) == keras_probabilities.argmax(1)) >= agreement, kind
    int8 = TfliteNetwork(exported["int8"])
    assert int8.source["dtype"] == np.int8 and int8.target["dtype"] == np.int8  # full-integer: input and output too


def test_predict_runs_the_exported_model_in_the_networks_place(scratch_run, exported, lowrate_demo):
    clip = sorted((lowrate_demo / "test" / "test").iterdir())[6]
    edge = Predictor(scratch_run, tflite=exported["float32"]).predict(clip)
    original = Predictor(scratch_run).predict(clip)
    np.testing.assert_allclose(edge.members["network"], original.members["network"], atol=1e-4)
    np.testing.assert_allclose(edge.members["logreg"], original.members["logreg"], rtol=1e-6)


def test_a_run_without_a_network_has_nothing_to_export(birdnet_run, tmp_path, caplog):
    assert export.main([str(birdnet_run), "--int8", str(tmp_path / "x.tflite")]) == 2
    assert "has no network to export (birdnet-embedding)" in caplog.text and not (tmp_path / "x.tflite").exists()
    with pytest.raises(ValueError, match="--tflite replaces a network member"):
        Predictor(birdnet_run, tflite=tmp_path / "x.tflite")


def test_a_mixed_precision_model_converts_from_a_float32_clone():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = build_model("cnn", (32, 44), 3, width=4)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    clone = float32_clone(mixed)
    assert {layer.dtype_policy.name for layer in clone.layers} == {"float32"}
    x = np.random.default_rng(0).normal(-40, 10, (4, 32, 44)).astype(np.float32)
    np.testing.assert_allclose(clone.predict(x, verbose=0), mixed.predict(x, verbose=0), atol=5e-3)
    representative = np.random.default_rng(1).normal(-40, 10, (16, 32, 44)).astype(np.float32)
    assert len(convert(mixed, "int8", representative)) > 1000
    with pytest.raises(ValueError, match="representative set"):
        convert(mixed, "int8")
