import keras
import numpy as np
import pytest

from freqquest.config import PRETRAINABLE_MODELS, TrainConfig
from freqquest.models import LOG_MEL_NETWORKS, build_model
from freqquest.models.efficientnet import IMAGENET_FILE, IMAGENET_MD5, IMAGENET_URL

LOG_MEL_MODELS = tuple(LOG_MEL_NETWORKS)
OURS = tuple(name for name, network in LOG_MEL_NETWORKS.items() if not network.pretrainable)

SHAPE = (32, 63)


@pytest.fixture
def batch():
    return np.random.default_rng(0).normal(-40, 20, size=(3, *SHAPE)).astype(np.float32)


@pytest.mark.parametrize("name", LOG_MEL_MODELS)
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
    return [
        other
        for other in model.layers
        if any(t._keras_history.operation is layer for node in other._inbound_nodes for t in node.input_tensors)
    ]


@pytest.mark.parametrize("name", OURS)
def test_width_sets_the_filters_of_every_stage(name):
    narrow, wide = build_model(name, SHAPE, 5, width=8), build_model(name, SHAPE, 5, width=16)
    conv_filters = {layer.filters for layer in wide.layers if isinstance(layer, keras.layers.Conv2D)}
    assert conv_filters == {16, 32, 64}
    assert wide.count_params() > 2 * narrow.count_params()


@pytest.mark.parametrize("name", LOG_MEL_MODELS)
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


@pytest.mark.parametrize("name", OURS)
def test_pooling_averages_time_and_keeps_the_frequency_axis(name):
    model = build_model(name, SHAPE, 5, width=8)
    pooled = model.get_layer("pool_over_time")
    assert tuple(pooled.output.shape) == (None, SHAPE[0] // 8, 1, 32)
    assert pooled.pool_size == (1, pooled.input.shape[2])


def test_the_config_knows_which_models_take_weights():
    assert tuple(n for n, network in LOG_MEL_NETWORKS.items() if network.pretrainable) == PRETRAINABLE_MODELS
    assert TrainConfig(model="efficientnetv2b0", weights="imagenet").weights == "imagenet"
    with pytest.raises(ValueError, match="weights apply to efficientnetv2b0, not to 'cnn'"):
        TrainConfig(model="cnn", weights="imagenet")
    with pytest.raises(ValueError, match="cnn has no pretrained weights to load"):
        build_model("cnn", SHAPE, 5, weights="imagenet")


def save_backbone_weights(path, shape=SHAPE):
    """Random EfficientNetV2-B0 weights for `shape`, saved as a weights file; returns them."""
    backbone = keras.applications.EfficientNetV2B0(
        include_top=False, weights=None, input_shape=(*shape, 3), include_preprocessing=False
    )
    backbone.save_weights(path)
    return backbone.get_weights()


def assert_backbone_weights(model, expected):
    loaded = model.get_layer("efficientnetv2-b0").get_weights()
    assert len(loaded) == len(expected)
    for got, want in zip(loaded, expected):
        np.testing.assert_array_equal(got, want)


def test_efficientnet_starts_from_a_weights_file(tmp_path):
    expected = save_backbone_weights(tmp_path / "b0.weights.h5")
    assert_backbone_weights(
        build_model("efficientnetv2b0", SHAPE, 5, weights=str(tmp_path / "b0.weights.h5")), expected
    )
    with pytest.raises(FileNotFoundError, match="weights file not found: .*missing.h5"):
        build_model("efficientnetv2b0", SHAPE, 5, weights=str(tmp_path / "missing.h5"))


def test_efficientnet_loads_a_file_in_the_format_keras_publishes_its_imagenet_weights_in(tmp_path):
    """The ImageNet file is a legacy .h5 of the 224 x 224 backbone with Keras's image preprocessing;
    ours takes another input size and no preprocessing, and must still get every weight."""
    published = keras.applications.EfficientNetV2B0(include_top=False, weights=None, input_shape=(224, 224, 3))
    published.save(tmp_path / IMAGENET_FILE)
    assert_backbone_weights(
        build_model("efficientnetv2b0", SHAPE, 5, weights=str(tmp_path / IMAGENET_FILE)), published.get_weights()
    )


def test_imagenet_weights_are_fetched_once_into_the_keras_cache(tmp_path, monkeypatch):
    expected = save_backbone_weights(tmp_path / "b0.weights.h5")
    calls = []

    def cached_file(fname, origin, cache_subdir, file_hash):
        calls.append((fname, origin, cache_subdir, file_hash))
        return str(tmp_path / "b0.weights.h5")

    monkeypatch.setattr(keras.utils, "get_file", cached_file)
    assert_backbone_weights(build_model("efficientnetv2b0", SHAPE, 5, weights="imagenet"), expected)
    assert calls == [(IMAGENET_FILE, IMAGENET_URL, "models", IMAGENET_MD5)]


def test_imagenet_weights_without_internet_say_how_to_go_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise Exception(f"URL fetch failure on {IMAGENET_URL}: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    with pytest.raises(FileNotFoundError) as info:
        build_model("efficientnetv2b0", SHAPE, 5, weights="imagenet")
    message = str(info.value)
    assert "could not download the ImageNet weights of EfficientNetV2-B0" in message
    assert "Name or service not known" in message
    assert f"fetch {IMAGENET_URL} elsewhere, then pass --weights /path/to/efficientnetv2-b0_notop.h5" in message
