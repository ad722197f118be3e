import numpy as np
import pytest

from freqquest.splits import group_split


def make_data(n_recordings=40, slices=3, n_classes=4):
    labels, groups = [], []
    for r in range(n_recordings):
        labels += [r % n_classes] * slices
        groups += [f"rec{r}"] * slices
    return np.array(labels), groups


def test_no_recording_is_on_both_sides():
    labels, groups = make_data()
    train, val = group_split(labels, groups, 0.2, seed=0)
    assert not {groups[i] for i in train} & {groups[i] for i in val}
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))


def test_stratified_and_about_the_requested_size():
    labels, groups = make_data()
    train, val = group_split(labels, groups, 0.2, seed=0)
    assert len(val) == 24  # 8 of 40 recordings, 3 slices each
    assert np.bincount(labels[val]).tolist() == [6, 6, 6, 6]


def test_seeded():
    labels, groups = make_data()
    a = group_split(labels, groups, 0.25, seed=1)[1]
    assert np.array_equal(a, group_split(labels, groups, 0.25, seed=1)[1])
    assert not np.array_equal(a, group_split(labels, groups, 0.25, seed=2)[1])


def test_too_few_recordings():
    with pytest.raises(ValueError, match="needs at least 5 recordings, found 3"):
        group_split([0, 1, 0], ["a", "b", "c"], 0.2, seed=0)
