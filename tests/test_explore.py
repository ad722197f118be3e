import numpy as np
import pandas as pd
import pytest

from freqquest.classify.explore import first_readable_clips, misclassified, plot_class_examples
from freqquest.competition.dataset import scan_competition

from .conftest import SMALL, write_tone


@pytest.fixture
def tiny_competition(tmp_path):
    for name in ("dog_bark", "siren"):
        (tmp_path / "train" / "train" / name).mkdir(parents=True)
    (tmp_path / "test" / "test").mkdir(parents=True)
    (tmp_path / "train" / "train" / "dog_bark" / "a-broken.wav").write_bytes(b"RIFF not audio")
    write_tone(tmp_path / "train" / "train" / "dog_bark" / "b.wav", rate=16000, channels=2, freq=300.0)
    write_tone(tmp_path / "train" / "train" / "siren" / "c.wav", rate=8000, freq=900.0)
    return scan_competition(tmp_path)


def test_first_readable_clip_per_class_skips_what_does_not_load(tiny_competition):
    examples = first_readable_clips(tiny_competition, SMALL)
    assert list(examples) == ["dog_bark", "siren"]
    path, clip = examples["dog_bark"]
    assert path.endswith("b.wav") and clip.shape == (SMALL.n_samples,) and clip.dtype == np.float32


def test_class_examples_plot_is_written(tiny_competition, tmp_path):
    out = tmp_path / "plots" / "examples.png"
    plot_class_examples(first_readable_clips(tiny_competition, SMALL), SMALL, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_misclassified_lists_the_most_confident_mistakes_first(tmp_path):
    pd.DataFrame(
        {
            "path": ["a.wav", "b.wav", "c.wav", "d.wav"],
            "class": ["siren", "siren", "dog_bark", "dog_bark"],
            "predicted": ["siren", "dog_bark", "siren", "siren"],
            "dog_bark": [0.1, 0.6, 0.05, 0.3],
            "siren": [0.9, 0.4, 0.95, 0.7],
        }
    ).to_csv(tmp_path / "validation_predictions.csv", index=False)
    wrong = misclassified(tmp_path, n=5)
    assert wrong["path"].tolist() == ["c.wav", "d.wav", "b.wav"]
    assert wrong["confidence"].tolist() == [0.95, 0.7, 0.6]
    assert misclassified(tmp_path, n=1)["path"].tolist() == ["c.wav"]


def test_misclassified_needs_a_finished_run(tmp_path):
    with pytest.raises(FileNotFoundError):
        misclassified(tmp_path)
