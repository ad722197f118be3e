import dataclasses
import os

import numpy as np
import pytest
import soundfile as sf

from freqquest.blend import VALIDATION
from freqquest.blend.bandwidth import low_rates, match_bandwidth, native_rates, readable_rates
from freqquest.blend.classical import ModelFolder
from freqquest.blend.members import Blend, ClassicalMember, EmbeddingMember
from freqquest.config import AudioConfig, TrainConfig
from freqquest.features.inputs import ClipInputs
from freqquest.features.store import FeatureStore
from freqquest.runs import matched_dir

from .conftest import fit_classical, predict_classical, write_tone

AUDIO = AudioConfig(sample_rate=16000, duration=1.0, n_fft=512, hop_length=256, n_mels=32, fmax=8000.0)
CONFIG = TrainConfig(blend="logreg", seed=0)
STORE = FeatureStore(AUDIO, None, workers=1)


@pytest.fixture
def train(tmp_path):
    """Class 0 a tone near 500 Hz, class 1 the same plus a 6 kHz tone, recorded at 16 kHz."""
    paths, labels = [], []
    for i in range(8):
        label = i % 2
        path = write_tone(tmp_path / f"train{i}.wav", rate=16000, seconds=1.0, freq=500 + 10 * i, amplitude=0.4)
        if label:
            y, rate = sf.read(path, dtype="float32")
            t = np.arange(len(y)) / rate
            sf.write(path, y + 0.4 * np.sin(2 * np.pi * 6000 * t).astype(np.float32), rate, subtype="FLOAT")
        paths.append(str(path))
        labels.append(label)
    return paths, np.array(labels)


@pytest.fixture
def test_set(tmp_path):
    paths = [
        write_tone(tmp_path / f"test_{rate}.wav", rate=rate, seconds=1.0, freq=500)
        for rate in (8000, 44100, 11025, 8000)
    ]
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVE")
    return STORE.log_mels([str(p) for p in paths] + [str(tmp_path / "broken.wav")])


def test_native_rates_come_from_the_headers_and_zero_where_unreadable(test_set):
    np.testing.assert_array_equal(native_rates(test_set.paths), [8000, 44100, 11025, 8000, 0])
    assert native_rates(test_set.paths).dtype == np.int64


def test_readable_rates_are_zero_where_the_audio_could_not_be_decoded(test_set):
    np.testing.assert_array_equal(readable_rates(test_set), [8000, 44100, 11025, 8000, 0])
    test_set.errors[0] = "decoding failed"
    np.testing.assert_array_equal(readable_rates(test_set), [0, 44100, 11025, 8000, 0])


def test_low_rates_are_those_whose_nyquist_is_below_the_top_mel_band():
    assert low_rates([8000, 44100, 0, 11025, 16000, 15999, 8000], AUDIO) == [8000, 11025, 15999]
    assert low_rates([22050, 44100], AudioConfig()) == []
    assert low_rates([], AUDIO) == []


def test_matched_models_are_fitted_on_the_training_clips_at_each_low_test_rate(tmp_path, train, test_set):
    paths, labels = train
    x = ClipInputs(STORE.log_mels(paths).features)
    logreg = ClassicalMember("logreg", fit_classical("logreg", x, labels, seed=0), 2)
    blend = Blend(2, [logreg])
    run_dir = tmp_path / "run"
    cached = FeatureStore(AUDIO, str(tmp_path / "cache"), workers=1)
    match_bandwidth(blend, CONFIG, cached, paths, labels, readable_rates(test_set), ModelFolder(str(run_dir)))

    assert sorted(logreg.matched) == [8000, 11025]
    assert os.listdir(matched_dir(run_dir, 8000)) == ["logreg.joblib"]
    for rate in (8000, 11025):
        band_limited = ClipInputs(STORE.log_mels(paths, band_limit=rate).features)
        expected = fit_classical("logreg", band_limited, labels, seed=0)
        judged = ClipInputs(test_set.features)
        np.testing.assert_allclose(
            predict_classical("logreg", logreg.matched[rate], judged, 2),
            predict_classical("logreg", expected, judged, 2),
            rtol=1e-5,
            atol=1e-6,
        )

    saved = os.path.getmtime(os.path.join(matched_dir(run_dir, 8000), "logreg.joblib"))
    again = ClassicalMember("logreg", logreg.model, 2)
    match_bandwidth(
        Blend(2, [again]), CONFIG, cached, paths, labels, readable_rates(test_set), ModelFolder(str(run_dir))
    )
    assert sorted(again.matched) == [8000, 11025]
    assert os.path.getmtime(os.path.join(matched_dir(run_dir, 8000), "logreg.joblib")) == saved  # loaded, not refitted


@pytest.mark.parametrize(
    "config,classical", [(dataclasses.replace(CONFIG, match_bandwidth=False), True), (CONFIG, False)]
)
def test_nothing_is_matched_when_switched_off_or_without_members_on_log_mel_statistics(
    tmp_path, train, test_set, config, classical
):
    paths, labels = train
    x = ClipInputs(STORE.log_mels(paths).features)
    kind = ClassicalMember if classical else EmbeddingMember
    members = [kind("logreg" if classical else "birdnet", fit_classical("logreg", x, labels, seed=0), 2)]
    run = ModelFolder(str(tmp_path / "run"))
    match_bandwidth(Blend(2, members), config, STORE, paths, labels, readable_rates(test_set), run)
    assert members[0].matched == {} and not (tmp_path / "run").exists()


def test_only_the_rates_of_the_judged_clips_are_matched(tmp_path, train, test_set, caplog):
    """Rate 0 marks a clip that is not judged (unreadable, or not in this fold's validation)."""
    paths, labels = train
    x = ClipInputs(STORE.log_mels(paths).features)
    logreg = ClassicalMember("logreg", fit_classical("logreg", x, labels, seed=0), 2)
    caplog.set_level("INFO")
    match_bandwidth(
        Blend(2, [logreg]),
        CONFIG,
        STORE,
        paths,
        labels,
        np.array([0, 44100, 11025, 0, 0]),
        ModelFolder(str(tmp_path / "fold_1")),
        judged=VALIDATION,
    )
    assert sorted(logreg.matched) == [11025] and os.listdir(tmp_path / "fold_1") == ["classical_11025hz"]
    assert "1 validation clip(s) recorded at 11025 Hz: judged by logreg" in caplog.text
