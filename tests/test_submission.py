import numpy as np
import pandas as pd
import pytest

from freqquest.classify.submission import (
    SubmissionError,
    make_submission,
    to_class_names,
    validate_submission,
    write_submission,
)

IDS = ["c.wav", "a.wav", "b.wav"]
CLASSES = ["dog_bark", "siren"]


def test_valid_submission_is_written_exactly(tmp_path):
    frame = make_submission(IDS, ["siren", "dog_bark", "siren"])
    path = tmp_path / "sub" / "submission.csv"
    write_submission(frame, path, IDS, CLASSES)
    assert path.read_text() == "ID,Class\nc.wav,siren\na.wav,dog_bark\nb.wav,siren\n"
    assert [p.name for p in path.parent.iterdir()] == ["submission.csv"]


@pytest.mark.parametrize(
    "frame,message",
    [
        (pd.DataFrame({"id": IDS, "Class": ["siren"] * 3}), "columns must be"),
        (make_submission(["c.wav", "a.wav", "a.wav"], ["siren"] * 3), "appear more than once"),
        (make_submission(["c.wav", "a.wav"], ["siren"] * 2), "1 expected IDs missing"),
        (make_submission(IDS + ["d.wav"], ["siren"] * 4), "1 unknown IDs"),
        (make_submission(["a.wav", "b.wav", "c.wav"], ["siren"] * 3), "not in the order"),
        (make_submission(IDS, ["siren", "cat", "siren"]), "unknown class names \\['cat'\\]"),
    ],
)
def test_validation_rejects_bad_frames(frame, message):
    with pytest.raises(SubmissionError, match=message):
        validate_submission(frame, IDS, CLASSES)


def test_a_bad_frame_never_replaces_a_good_file(tmp_path):
    path = tmp_path / "submission.csv"
    write_submission(make_submission(IDS, ["siren"] * 3), path, IDS, CLASSES)
    before = path.read_text()
    with pytest.raises(SubmissionError):
        write_submission(make_submission(IDS, ["cat"] * 3), path, IDS, CLASSES)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]


def test_unusable_rows_get_the_fallback_class():
    probabilities = np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]], dtype=np.float32)
    assert to_class_names(probabilities, ["a", "b"], np.array([True, True, False]), "a") == ["b", "a", "a"]
