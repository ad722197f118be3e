import json
import os
import re

import numpy as np
import pytest

from freqquest.config import AudioConfig
from freqquest.features import store as features
from freqquest.features.store import FeatureCache, FeatureStore, LogMel, file_key, log_mel

from .conftest import SMALL, write_tone


@pytest.fixture
def clips(tmp_path):
    paths = [write_tone(tmp_path / f"tone{i}.wav", rate=8000, seconds=1.0, freq=200 + 150 * i) for i in range(12)]
    return [str(p) for p in paths]


def test_log_mel_shape_dtype_and_silence_floor():
    clip = np.zeros(SMALL.n_samples, dtype=np.float32)
    mel = log_mel(clip, SMALL)
    assert mel.shape == (32, 63) == SMALL.feature_shape
    assert mel.dtype == np.float32
    np.testing.assert_allclose(mel, np.full((32, 63), -100.0, dtype=np.float32), atol=1e-4)  # 10*log10(amin)


def test_log_mel_puts_a_tone_in_the_right_band():
    t = np.arange(SMALL.n_samples) / SMALL.sample_rate
    low = log_mel(np.sin(2 * np.pi * 200 * t).astype(np.float32), SMALL).mean(axis=1).argmax()
    high = log_mel(np.sin(2 * np.pi * 3000 * t).astype(np.float32), SMALL).mean(axis=1).argmax()
    assert low < 8 < 24 < high


def test_default_config_gives_128_mels_by_173_frames():
    assert AudioConfig().feature_shape == (128, 173)


def test_log_mels_shapes_and_bad_files(tmp_path, clips):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    paths = clips[:3] + [str(bad), str(tmp_path / "missing.wav")]
    result = FeatureStore(SMALL, None, workers=1).log_mels(paths)
    assert result.features.shape == (5, 32, 63)
    assert result.features.dtype == np.float32
    assert result.ok.tolist() == [True, True, True, False, False]
    assert result.failed == {
        str(bad): "not decodable as audio (Format not recognised.)",
        str(tmp_path / "missing.wav"): "file not found",
    }
    assert np.all(result.features[3:] == 0)
    assert np.all(result.features[:3].max(axis=(1, 2)) > -20)  # a 0.5-amplitude tone


def test_second_run_reads_everything_from_the_cache(tmp_path, clips):
    cache = tmp_path / "cache"
    store = FeatureStore(SMALL, str(cache), workers=1)
    first = store.log_mels(clips)
    assert (first.n_extracted, first.n_cached) == (12, 0)
    second = store.log_mels(clips)
    assert (second.n_extracted, second.n_cached) == (0, 12)
    np.testing.assert_array_equal(first.features, second.features)
    shards = sorted(os.listdir(cache / SMALL.cache_key()))
    assert shards[0] == "config.json" and len(shards) == 3  # config + one shard (.json + .npy)


def test_cache_is_keyed_by_config_and_file_identity(tmp_path, clips):
    cache = tmp_path / "cache"
    FeatureStore(SMALL, str(cache), workers=1).log_mels(clips)
    other = AudioConfig(**{**SMALL.__dict__, "n_mels": 16})
    assert FeatureStore(other, str(cache), workers=1).log_mels(clips).n_extracted == 12
    write_tone(clips[0], rate=8000, seconds=1.0, freq=1000)  # the file changes: its key changes
    os.utime(clips[0], ns=(1, 1))
    again = FeatureStore(SMALL, str(cache), workers=1).log_mels(clips)
    assert (again.n_extracted, again.n_cached) == (1, 11)
    np.testing.assert_array_equal(
        again.features[0], FeatureStore(SMALL, None, workers=1).log_mels(clips[:1]).features[0]
    )


def test_parallel_extraction_matches_sequential(clips):
    sequential = FeatureStore(SMALL, None, workers=1).log_mels(clips)
    parallel = FeatureStore(SMALL, None, workers=2).log_mels(clips)
    np.testing.assert_array_equal(sequential.features, parallel.features)


def test_relative_paths_are_read_from_the_current_directory_by_workers_started_elsewhere(tmp_path, monkeypatch):
    """The extraction workers outlive a call, and with it the working directory they started in."""
    for folder, base in (("a", 300.0), ("b", 900.0)):
        (tmp_path / folder).mkdir()
        for k in range(8):
            write_tone(tmp_path / folder / f"{k}.wav", freq=base + 100 * k)
    names = [f"{k}.wav" for k in range(8)]
    monkeypatch.chdir(tmp_path / "a")
    assert FeatureStore(SMALL, workers=2).log_mels(names).ok.all()
    monkeypatch.chdir(tmp_path / "b")
    in_b = FeatureStore(SMALL, workers=2).log_mels(names)
    assert in_b.ok.all() and in_b.paths == names
    np.testing.assert_allclose(in_b.features, FeatureStore(SMALL, workers=1).log_mels(names).features, atol=1e-5)


def test_cache_read_returns_rows_in_requested_order(tmp_path, small_config):
    cache = FeatureCache(tmp_path, LogMel(small_config))
    rows = np.arange(3 * 32 * 63, dtype=np.float32).reshape(3, 32, 63)
    cache.add(["a", "b", "c"], rows)
    np.testing.assert_array_equal(FeatureCache(tmp_path, LogMel(small_config)).read(["c", "a"]), rows[[2, 0]])
    assert "b" in cache and "z" not in cache


def test_file_key_changes_with_content(tmp_path):
    path = write_tone(tmp_path / "a.wav")
    key = file_key(path)
    assert key == file_key(path)
    write_tone(path, seconds=0.25)
    assert key != file_key(path)


def test_band_limited_features_have_their_own_cache(tmp_path):
    config = AudioConfig(sample_rate=16000, duration=1.0, n_fft=512, hop_length=256, n_mels=32, fmax=8000.0)
    paths = [
        str(write_tone(tmp_path / f"t{i}.wav", rate=16000, seconds=1.0, freq=f)) for i, f in enumerate((500, 6000))
    ]
    cache = tmp_path / "cache"
    store = FeatureStore(config, str(cache), workers=1)
    full = store.log_mels(paths)
    limited = store.log_mels(paths, band_limit=8000)
    assert limited.n_extracted == 2 and limited.ok.all()
    assert sorted(os.listdir(cache)) == [config.cache_key(), config.cache_key() + "-8000hz"]
    profile, limited_profile = full.features[0].mean(axis=1), limited.features[0].mean(axis=1)
    assert (
        limited_profile.argmax() == profile.argmax() and abs(limited_profile.max() - profile.max()) < 0.5
    )  # 500 Hz stays
    interior = slice(2, -2)  # the edge frames hold the clicks of cropping
    assert full.features[1][:, interior].max() > -10 and limited.features[1][:, interior].max() < -60  # 6 kHz goes
    again = store.log_mels(paths, band_limit=8000)
    assert (again.n_extracted, again.n_cached) == (0, 2)
    np.testing.assert_array_equal(again.features, limited.features)


def test_the_cache_is_written_in_shards_as_extraction_proceeds(tmp_path, clips, monkeypatch):
    monkeypatch.setattr(features, "SHARD_CLIPS", 5)
    store = FeatureStore(SMALL, str(tmp_path / "cache"), workers=1)
    store.log_mels(clips)
    shards = sorted((tmp_path / "cache" / SMALL.cache_key()).glob("shard-*.json"))
    assert sorted(len(json.loads(p.read_text())) for p in shards) == [2, 5, 5]
    assert all(p.with_suffix(".npy").is_file() for p in shards)


class Interrupted(LogMel):
    """A log-Mel extractor stopped by Ctrl-C at the eighth file."""

    def __call__(self, path):
        if os.path.basename(path) == "tone7.wav":
            raise KeyboardInterrupt
        return super().__call__(path)


def test_an_interrupted_extraction_keeps_its_finished_shards_and_a_rerun_extracts_the_rest(
    tmp_path, clips, monkeypatch
):
    monkeypatch.setattr(features, "SHARD_CLIPS", 3)
    store = FeatureStore(SMALL, str(tmp_path / "cache"), workers=1)
    with pytest.raises(KeyboardInterrupt):
        store.extract(clips, Interrupted(SMALL))
    directory = tmp_path / "cache" / SMALL.cache_key()
    assert sorted(len(json.loads(p.read_text())) for p in directory.glob("shard-*.json")) == [3, 3]
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]  # no torn shard
    again = store.log_mels(clips)
    assert (again.n_extracted, again.n_cached) == (6, 6)
    np.testing.assert_array_equal(again.features, FeatureStore(SMALL, None, workers=1).log_mels(clips).features)


def test_a_log_mel_extractor_is_named_by_its_config_and_band_limit():
    assert LogMel(SMALL).cache_name == SMALL.cache_key()
    assert LogMel(SMALL, 8000).cache_name == SMALL.cache_key() + "-8000hz"
    assert LogMel(SMALL).shape == (32, 63)
    assert LogMel(SMALL, 8000).describe()["band_limit"] == 8000 and "band_limit" not in LogMel(SMALL).describe()


def _cut(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


DAMAGE = {
    "a truncated header": lambda npy, keys: _cut(npy, 100),
    "truncated data": lambda npy, keys: _cut(npy, os.path.getsize(npy) // 2),
    "a wrong shape": lambda npy, keys: np.save(npy, np.zeros((4, 32, 63), np.float32)),
    "a wrong dtype": lambda npy, keys: np.save(npy, np.zeros((5, 32, 63), np.float64)),
    "a missing array": lambda npy, keys: os.remove(npy),
    "a key list that is not JSON": lambda npy, keys: _cut(keys, 7),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_shard_is_reported_once_removed_and_its_clips_extracted_again(
    damage, tmp_path, clips, monkeypatch, caplog
):
    monkeypatch.setattr(features, "SHARD_CLIPS", 5)
    store = FeatureStore(SMALL, str(tmp_path / "cache"), workers=1)
    clean = store.log_mels(clips)
    directory = tmp_path / "cache" / SMALL.cache_key()
    keys = next(p for p in sorted(directory.glob("shard-*.json")) if len(json.loads(p.read_text())) == 5)
    DAMAGE[damage](keys.with_suffix(".npy"), keys)
    healed = store.log_mels(clips)
    assert (healed.n_extracted, healed.n_cached) == (5, 7)
    np.testing.assert_array_equal(healed.features, clean.features)
    reports = [r.getMessage() for r in caplog.records if "does not read" in r.getMessage()]
    assert len(reports) == 1 and str(directory / keys.stem) in reports[0] and "extracted again" in reports[0]
    assert not keys.exists()
    caplog.clear()
    again = store.log_mels(clips)
    assert (again.n_extracted, again.n_cached) == (0, 12) and not caplog.records


def test_the_progress_bar_of_an_extraction_in_workers_ends_at_its_total(demo_root, capsys):
    """The bar closes once the last clip is in, at 100%: a bar left at 99% looks like a lost clip."""
    paths = sorted((demo_root / "train" / "train").glob("*/*.wav"))[:12]
    FeatureStore(SMALL, None, workers=2).log_mels(paths, desc="the bar")
    states = re.split(r"[\r\n]", capsys.readouterr().err)
    # the workers' start is on the bar (seconds the screen would otherwise not account for), then the clips
    starting = next(i for i, s in enumerate(states) if "0/12" in s and "starting 2 workers" in s)
    assert any("12/12" in s and "the bar: 100%" in s and "starting" not in s for s in states[starting + 1 :])
