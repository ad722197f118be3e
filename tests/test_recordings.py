import logging

import librosa
import numpy as np
import pytest

from freqquest.blend import TEST, VALIDATION
from freqquest.blend.recordings import (
    FINGERPRINT_TOP_HZ,
    KnownRecordings,
    fingerprint_bands,
    link_distance,
    recording_fingerprints,
    recording_groups,
    vote_by_recording,
    vote_within_groups,
)
from freqquest.config import AudioConfig

AUDIO = AudioConfig(sample_rate=16000, duration=1.0, n_fft=512, hop_length=256, n_mels=32, fmax=8000.0)


def test_fingerprint_bands_are_those_centred_below_the_top_frequency():
    bands = fingerprint_bands(AUDIO)
    centres = librosa.mel_frequencies(AUDIO.n_mels + 2, fmin=AUDIO.fmin, fmax=AUDIO.fmax)[1:-1]
    assert bands.tolist() == list(range(len(bands)))
    assert centres[bands[-1]] < FINGERPRINT_TOP_HZ <= centres[bands[-1] + 1]
    assert 0 < len(bands) < AUDIO.n_mels
    assert len(fingerprint_bands(AudioConfig())) < AudioConfig().n_mels


def test_fingerprints_are_each_low_band_averaged_over_time():
    features = np.random.default_rng(0).normal(-40, 10, (300, AUDIO.n_mels, 5)).astype(np.float32)
    prints = recording_fingerprints(features, AUDIO)
    bands = fingerprint_bands(AUDIO)
    assert prints.shape == (300, len(bands)) and prints.dtype == np.float32
    np.testing.assert_allclose(prints, features[:, bands].mean(axis=-1), rtol=1e-6)


@pytest.mark.parametrize("shape", [(4, AUDIO.n_mels), (4, AUDIO.n_mels + 1, 5)])
def test_fingerprints_need_log_mels_of_the_audio_config(shape):
    with pytest.raises(ValueError, match="log-Mels"):
        recording_fingerprints(np.zeros(shape, np.float32), AUDIO)


def test_link_distance_is_the_first_percentile_of_the_nearest_other_recording():
    # recordings a: 0 and 1; b: 10 and 12; c: 30. Each clip's nearest clip of another recording
    # lies 10, 9, 9, 11 and 18 away; their 1st percentile is 9.
    prints = np.array([[0.0], [1.0], [10.0], [12.0], [30.0]])
    assert link_distance(prints, ["a", "a", "b", "b", "c"]) == pytest.approx(9.0)
    # three recordings of one clip each: nearest 0.5, 0.5 and 1.5 away
    assert link_distance(np.array([[0.0, 0.0], [0.5, 0.0], [2.0, 0.0]]), ["a", "b", "c"]) == pytest.approx(0.5)
    # slices of their own recording never count, however close
    assert link_distance(np.array([[0.0], [0.0], [5.0]]), ["a", "a", "b"]) == pytest.approx(5.0)


def test_link_distance_is_none_with_a_single_recording():
    assert link_distance(np.zeros((3, 2)), ["a", "a", "a"]) is None


def test_link_distance_needs_one_recording_per_clip():
    with pytest.raises(ValueError, match="3 fingerprints but 2 recording names"):
        link_distance(np.zeros((3, 2)), ["a", "b"])


def test_groups_link_clips_within_the_distance_directly_or_through_others():
    prints = np.array([[0.0], [1.0], [2.0], [10.0], [20.0], [20.5]])
    groups = recording_groups(prints, 1.0)
    assert groups.dtype == np.int64
    assert groups[0] == groups[1] == groups[2]  # 0 and 2 are 2 apart, linked through 1
    assert len({groups[0], groups[3], groups[4]}) == 3
    assert groups[4] == groups[5]
    assert len(set(recording_groups(prints, 0.5))) == 5
    assert recording_groups(np.zeros((0, 3)), 1.0).shape == (0,)


def test_the_vote_gives_every_clip_its_groups_mean():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]], dtype=np.float32)
    voted = vote_within_groups(probabilities, np.array([0, 1, 1, 1]))
    assert voted.dtype == np.float32 and voted.shape == (4, 2)
    np.testing.assert_allclose(
        voted, [[0.9, 0.1], [1.1 / 3, 1.9 / 3], [1.1 / 3, 1.9 / 3], [1.1 / 3, 1.9 / 3]], rtol=1e-6
    )
    np.testing.assert_array_equal(vote_within_groups(probabilities, np.arange(4)), probabilities)
    assert vote_within_groups(np.zeros((0, 2)), np.zeros(0, np.int64)).shape == (0, 2)


def test_the_vote_needs_one_group_per_clip():
    with pytest.raises(ValueError, match="one group per clip"):
        vote_within_groups(np.zeros((3, 2)), np.array([0, 1]))


def known(prints=np.zeros((0, 2)), labels=(), distance=0.2, n_classes=2) -> KnownRecordings:
    return KnownRecordings(np.asarray(prints, np.float32), np.asarray(labels, np.int64), n_classes, distance)


def test_vote_by_recording_groups_by_fingerprint_and_says_how_many(caplog):
    probabilities = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], dtype=np.float32)
    prints = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]])
    with caplog.at_level(logging.INFO, logger="freqquest.blend.recordings"):
        voted = vote_by_recording(probabilities, prints, known(), TEST)
        vote_by_recording(probabilities, prints, known(), VALIDATION)  # each fold's vote is no news: debug
    np.testing.assert_allclose(voted, [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    assert caplog.text.count("recording vote: ") == 1
    assert (
        "recording vote: 2 of 3 test clips sound like slices of one recording with other clips (0 of them with "
        "training clips), and share their probabilities"
    ) in caplog.text
    assert vote_by_recording(np.zeros((0, 2)), np.zeros((0, 2)), known()).shape == (0, 2)


def test_training_clips_vote_with_their_labels():
    """A test clip within the link distance of training slices of its recording (a random split)
    gets their label in its group's mean; a clip linked to none keeps its own probabilities."""
    probabilities = np.array([[0.6, 0.4], [0.5, 0.5]], dtype=np.float32)
    prints = np.array([[0.0, 0.0], [5.0, 5.0]])
    training = known(prints=[[0.1, 0.0], [0.0, 0.1], [9.0, 9.0]], labels=[1, 1, 0])
    voted = vote_by_recording(probabilities, prints, training)
    np.testing.assert_allclose(voted, [[0.2, 0.8], [0.5, 0.5]], rtol=1e-6)  # (0.6 + 0 + 0) / 3, (0.4 + 1 + 1) / 3
    assert voted.dtype == np.float32 and voted.shape == (2, 2)


def test_known_recordings_set_their_link_distance():
    prints = np.array([[0.0], [1.0], [10.0], [10.5]])
    recordings = KnownRecordings.of_training_clips(prints, [0, 0, 1, 1], ["a", "a", "b", "b"], 2)
    assert recordings.distance == pytest.approx(link_distance(prints, ["a", "a", "b", "b"]))
    assert KnownRecordings.of_training_clips(prints, [0, 0, 1, 1], ["a"] * 4, 2).distance is None


def test_no_vote_without_a_link_distance(caplog):
    probabilities = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    with caplog.at_level(logging.INFO, logger="freqquest.blend.recordings"):
        voted = vote_by_recording(probabilities, np.zeros((2, 1)), known(distance=None))
    np.testing.assert_array_equal(voted, probabilities)
    assert "no recording vote for the test clips" in caplog.text
