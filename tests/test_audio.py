import re

import numpy as np
import pytest
import soundfile as sf

from freqquest.competition.audio import AudioLoadError, fit_length, load_clip, native_rate, probe
from freqquest.config import AudioConfig

from .conftest import write_tone

CONFIG = AudioConfig(sample_rate=22050, duration=1.0, fmax=11025.0)

ZOO = [
    (rate, channels, subtype)
    for rate in (8000, 11025, 16000, 22050, 44100, 48000, 96000)
    for channels in (1, 2)
    for subtype in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
]


@pytest.mark.parametrize("rate,channels,subtype", ZOO)
def test_every_wav_format_loads_as_float32_mono_at_config_rate(tmp_path, rate, channels, subtype):
    path = write_tone(tmp_path / "clip.wav", rate=rate, seconds=0.5, channels=channels, subtype=subtype)
    clip = load_clip(path, CONFIG)
    assert clip.shape == (22050,)
    assert clip.dtype == np.float32
    # a 0.5 amplitude sine keeps its level through resampling, down-mixing and looping
    assert 0.45 < np.abs(clip).max() < 0.55
    assert np.sqrt(np.mean(clip**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize("fmt,subtype", [("FLAC", "PCM_16"), ("FLAC", "PCM_24"), ("OGG", "VORBIS")])
def test_flac_and_ogg_load(tmp_path, fmt, subtype):
    path = write_tone(tmp_path / f"clip.{fmt.lower()}", rate=44100, seconds=1.0, subtype=subtype, fmt=fmt)
    clip = load_clip(path, CONFIG)
    assert clip.shape == (22050,) and clip.dtype == np.float32
    assert 0.4 < np.abs(clip).max() < 0.6


def test_stereo_is_averaged_exactly(tmp_path):
    path = tmp_path / "stereo.wav"
    frames = np.tile(np.array([[0.5, 0.25]], dtype=np.float32), (22050, 1))
    sf.write(path, frames, 22050, subtype="PCM_16")
    np.testing.assert_array_equal(load_clip(path, CONFIG), np.full(22050, 0.375, dtype=np.float32))


def test_nan_and_inf_in_float_files_become_silence(tmp_path):
    path = tmp_path / "nan.wav"
    y = np.full(22050, 0.25, dtype=np.float32)
    y[:10] = np.nan
    y[10:20] = np.inf
    sf.write(path, y, 22050, subtype="FLOAT")
    clip = load_clip(path, CONFIG)
    assert np.all(clip[:20] == 0.0) and np.all(clip[20:] == 0.25)


def test_fit_length_crops_pads_and_loops():
    clip = np.array([1, 2, 3], dtype=np.float32)
    np.testing.assert_array_equal(fit_length(clip, 2, "pad"), [1, 2])
    np.testing.assert_array_equal(fit_length(clip, 7, "pad"), [1, 2, 3, 0, 0, 0, 0])
    np.testing.assert_array_equal(fit_length(clip, 7, "loop"), [1, 2, 3, 1, 2, 3, 1])
    assert fit_length(clip, 7, "loop").dtype == np.float32
    with pytest.raises(ValueError, match="unknown fit mode"):
        fit_length(clip, 7, "stretch")


def test_short_clip_is_looped_to_full_duration(tmp_path):
    path = write_tone(tmp_path / "short.wav", rate=22050, seconds=0.1)
    clip = load_clip(path, CONFIG)
    np.testing.assert_allclose(clip[:2205], clip[2205:4410], atol=1e-6)


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"", "empty file (0 bytes)"),
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "not decodable as audio"),
        (b"this is not audio\n" * 3, "not decodable as audio"),
    ],
)
def test_corrupt_files_raise_a_clear_error_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioLoadError, match=re.escape(reason)) as info:
        load_clip(path, CONFIG)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    assert probe(path).startswith(reason)


def test_missing_file_and_zero_frames(tmp_path):
    with pytest.raises(AudioLoadError, match="file not found"):
        load_clip(tmp_path / "nope.wav", CONFIG)
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 22050)
    assert probe(path) == "the file holds no audio samples"
    with pytest.raises(AudioLoadError, match="no audio samples"):
        load_clip(path, CONFIG)


def test_probe_accepts_a_good_file(tmp_path):
    assert probe(write_tone(tmp_path / "ok.wav")) is None


def _band_energy(clip, rate, low, high):
    spectrum = np.abs(np.fft.rfft(clip)) ** 2
    freqs = np.fft.rfftfreq(len(clip), 1 / rate)
    return spectrum[(freqs >= low) & (freqs < high)].sum() / spectrum.sum()


def test_a_band_limit_removes_what_a_recording_at_that_rate_could_not_hold(tmp_path):
    t = np.arange(44100) / 44100
    y = (0.3 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    sf.write(tmp_path / "wide.wav", y, 44100, subtype="FLOAT")
    full = load_clip(tmp_path / "wide.wav", CONFIG)
    limited = load_clip(tmp_path / "wide.wav", CONFIG, band_limit=8000)
    assert limited.shape == (22050,) and limited.dtype == np.float32
    assert _band_energy(full, 22050, 5000, 7000) == pytest.approx(0.5, abs=0.01)
    assert _band_energy(limited, 22050, 4000, 11025) < 1e-5  # below -50 dB
    assert _band_energy(limited, 22050, 900, 1100) > 0.999


def test_a_band_limit_at_or_above_the_files_rate_changes_nothing(tmp_path):
    path = write_tone(tmp_path / "clip.wav", rate=8000, seconds=1.0, freq=1500)
    np.testing.assert_array_equal(load_clip(path, CONFIG, band_limit=8000), load_clip(path, CONFIG))
    np.testing.assert_array_equal(load_clip(path, CONFIG, band_limit=16000), load_clip(path, CONFIG))


def test_native_rate_reads_the_header(tmp_path):
    assert native_rate(write_tone(tmp_path / "a.wav", rate=11025)) == 11025
    (tmp_path / "bad.wav").write_bytes(b"RIFF")
    assert native_rate(tmp_path / "bad.wav") is None
    assert native_rate(tmp_path / "missing.wav") is None
