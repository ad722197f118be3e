import numpy as np
import pytest

from freqquest.competition.splits import fold_splits, group_split


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


def test_folds_validate_every_clip_once_without_leaking():
    labels, groups = make_data()
    splits = fold_splits(labels, groups, 5, 0.2, seed=0)
    assert len(splits) == 5
    validated = np.concatenate([val for _, val in splits])
    assert sorted(validated.tolist()) == list(range(len(labels)))
    for train, val in splits:
        assert not {groups[i] for i in train} & {groups[i] for i in val}
        assert len(train) + len(val) == len(labels)
        assert np.bincount(labels[val]).tolist() == [6, 6, 6, 6]


def test_one_fold_is_the_single_split():
    labels, groups = make_data()
    [(train, val)] = fold_splits(labels, groups, 1, 0.25, seed=3)
    expected = group_split(labels, groups, 0.25, seed=3)
    assert np.array_equal(train, expected[0]) and np.array_equal(val, expected[1])


def test_more_folds_than_recordings():
    with pytest.raises(ValueError, match="--folds 10 needs at least 10 recordings, found 3"):
        fold_splits([0, 1, 0], ["a", "b", "c"], 10, 0.2, seed=0)
