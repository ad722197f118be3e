import numpy as np
import pytest

from freqquest.competition.dataset import CompetitionError, preflight, recording_id, scan_competition

from .conftest import write_tone


def make_layout(root, train, test, sample_ids=None):
    for name in train:
        path = root / "train" / "train" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_tone(path)
    (root / "test" / "test").mkdir(parents=True, exist_ok=True)
    for name in test:
        write_tone(root / "test" / "test" / name)
    if sample_ids is not None:
        (root / "sample_submission.csv").write_text("ID,Class\n" + "".join(f"{i},dog_bark\n" for i in sample_ids))
    return root


@pytest.mark.parametrize(
    "name,group",
    [
        ("dog_bark/100652-3-0-0.wav", "100652"),
        ("siren/100652-3-0-12.flac", "100652"),
        ("siren/my_recording.wav", "siren/my_recording.wav"),
        ("siren/100652-3-0.wav", "siren/100652-3-0.wav"),
    ],
)
def test_recording_id(name, group):
    assert recording_id(name) == group


def test_scan_reads_classes_sorted_labels_groups_and_sample_order(tmp_path):
    root = make_layout(
        tmp_path,
        train=[
            "siren/1-8-0-0.wav",
            "siren/1-8-0-1.wav",
            "dog_bark/2-3-0-0.wav",
            "dog_bark/.hidden.wav",
            "drilling/x.wav",
        ],
        test=["b.wav", "a.wav", "extra.wav"],
        sample_ids=["b.wav", "a.wav", "gone.wav"],
    )
    (root / "train" / "train" / "dog_bark" / "notes.txt").write_text("not audio")
    (root / "train" / "train" / "empty_class").mkdir()
    c = scan_competition(root)
    assert c.classes == ["dog_bark", "drilling", "siren"]
    assert c.train_labels.tolist() == [0, 1, 2, 2]
    assert c.train_labels.dtype == np.int64
    assert c.train_groups == ["2", "drilling/x.wav", "1", "1"]
    assert c.test_ids == ["b.wav", "a.wav", "gone.wav"]
    assert c.test_paths == [str(root / "test/test/b.wav"), str(root / "test/test/a.wav"), None]
    assert c.unlisted_test_files == ["extra.wav"]
    assert c.class_counts() == {"dog_bark": 1, "drilling": 1, "siren": 2}


def test_without_sample_submission_the_test_files_are_listed_sorted(tmp_path):
    c = scan_competition(make_layout(tmp_path, ["a/1.wav", "b/2.wav"], ["z.wav", "m.wav"]))
    assert c.test_ids == ["m.wav", "z.wav"] and not c.has_sample_submission


def test_not_a_competition_folder(tmp_path):
    with pytest.raises(CompetitionError, match="is not a competition folder"):
        scan_competition(tmp_path)


def test_needs_two_classes(tmp_path):
    with pytest.raises(CompetitionError, match="at least two class folders"):
        scan_competition(make_layout(tmp_path, ["only/1.wav"], ["t.wav"]))


def test_sample_submission_must_have_unique_ids(tmp_path):
    with pytest.raises(CompetitionError, match="IDs listed twice"):
        scan_competition(make_layout(tmp_path, ["a/1.wav", "b/2.wav"], ["t.wav"], ["t.wav", "t.wav"]))


def test_preflight_lists_unreadable_and_missing_files(tmp_path):
    root = make_layout(tmp_path, ["a/1.wav", "b/2.wav"], ["t.wav"], ["t.wav", "broken.wav", "gone.wav"])
    (root / "train" / "train" / "a" / "bad.wav").write_bytes(b"")
    (root / "test" / "test" / "broken.wav").write_bytes(b"text, not audio")
    report = preflight(scan_competition(root))
    assert report.unreadable_train == {str(root / "train/train/a/bad.wav"): "empty file (0 bytes)"}
    assert report.unreadable_test == {"broken.wav": "not decodable as audio (Format not recognised.)"}
    assert report.missing_test_files == ["gone.wav"]
    assert not report.clean
