import keras
import numpy as np
import pytest

from freqquest.models import NAMES, build_model

SHAPE = (32, 63)


@pytest.fixture
def batch():
    return np.random.default_rng(0).normal(-40, 20, size=(3, *SHAPE)).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("normalization", ["clip", "global"])
def test_models_output_probabilities(name, normalization, batch):
    model = build_model(name, SHAPE, 5, normalization, stats=(-40.0, 400.0))
    probabilities = np.asarray(model(batch, training=False))
    assert probabilities.shape == (3, 5)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_resnet_has_pre_activation_skip_connections():
    model = build_model("resnet", SHAPE, 5)
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 6  # 3 stages of 2 blocks
    # pre-activation: the identity path is not passed through a ReLU after the addition
    assert all(not isinstance(layer, keras.layers.ReLU) for add in adds for layer in _consumers(model, add))


def _consumers(model, layer):
    """The layers that take `layer`'s output as an input."""
    return [other for other in model.layers
            if any(t._keras_history.operation is layer for node in other._inbound_nodes for t in node.input_tensors)]


@pytest.mark.parametrize("name", NAMES)
def test_width_sets_the_filters_of_every_stage(name):
    narrow, wide = build_model(name, SHAPE, 5, width=8), build_model(name, SHAPE, 5, width=16)
    conv_filters = {layer.filters for layer in wide.layers if isinstance(layer, keras.layers.Conv2D)}
    assert conv_filters == {16, 32, 64}
    assert wide.count_params() > 2 * narrow.count_params()


@pytest.mark.parametrize("name", NAMES)
def test_saved_model_predicts_the_same(tmp_path, name, batch):
    model = build_model(name, SHAPE, 5)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(batch, verbose=0), model.predict(batch, verbose=0), rtol=1e-5, atol=1e-6)


def test_clip_normalization_ignores_loudness(batch):
    model = build_model("cnn", SHAPE, 5, "clip")
    quiet, loud = batch, batch * 2.0 + 30.0  # same pattern, other gain and offset in dB
    np.testing.assert_allclose(model.predict(quiet, verbose=0), model.predict(loud, verbose=0), atol=1e-4)


def test_mixed_precision_keeps_float32_probabilities(batch):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model("cnn", SHAPE, 5)
        assert model.get_layer("probabilities").compute_dtype == "float32"
        assert model.layers[-2].compute_dtype == "float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        build_model("vgg", SHAPE, 5)
    with pytest.raises(ValueError, match="needs the training features"):
        build_model("cnn", SHAPE, 5, "global")


@pytest.mark.parametrize("name", NAMES)
def test_pooling_averages_time_and_keeps_the_frequency_axis(name):
    model = build_model(name, SHAPE, 5, width=8)
    pooled = model.get_layer("pool_over_time")
    assert tuple(pooled.output.shape) == (None, SHAPE[0] // 8, 1, 32)
    assert pooled.pool_size == (1, pooled.input.shape[2])
