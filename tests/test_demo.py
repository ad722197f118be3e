import filecmp
import pathlib

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from freqquest.competition import demo
from freqquest.competition.dataset import preflight, scan_competition
from freqquest.competition.demo import is_demo


def test_demo_has_the_competition_layout(demo_root):
    competition = scan_competition(demo_root)
    assert competition.classes == sorted(demo.CLASSES)
    assert competition.class_counts() == {c: 24 for c in demo.CLASSES}
    assert len(competition.test_ids) == 30 and None not in competition.test_paths
    assert preflight(competition).clean
    solution = pd.read_csv(demo_root / "solution.csv")
    assert solution["ID"].tolist() == competition.test_ids
    assert solution["Class"].value_counts().to_dict() == {c: 6 for c in demo.CLASSES}
    assert is_demo(demo_root)
    # recordings of three slices each: the leak-free split has something to do
    assert len(set(competition.train_groups)) == 50


def test_the_demo_test_set_holds_random_slices_or_whole_new_recordings(tmp_path, demo_root):
    """split="reused" (the default, as the reference competition's random split): most test slices have
    siblings in train; split="new": none has, and whole recordings are held out."""
    reused, new = (scan_competition(demo_root), scan_competition(demo.build_demo(tmp_path / "new", split="new")))
    assert len(new.test_ids) == 30 and new.class_counts() == {c: 24 for c in demo.CLASSES}
    assert len(set(new.train_groups)) == 40  # 2 of each class's 10 recordings are the test set, all 3 slices
    for competition, shared in ((reused, True), (new, False)):
        per_recording = pd.Series(competition.train_groups).value_counts()
        assert (per_recording < 3).any() == shared  # a random split leaves recordings with a slice in test
    with pytest.raises(ValueError, match="split must be one of"):
        demo.build_demo(tmp_path / "x", split="honest")


def test_the_half_and_half_demo_holds_one_whole_new_recording_and_three_random_slices_a_class(tmp_path):
    half = scan_competition(demo.build_demo(tmp_path / "half", split="half"))
    solution = pd.read_csv(tmp_path / "half" / "solution.csv")
    assert list(solution.columns) == ["ID", "Class", "Recording"] and len(solution) == 30
    assert solution["Class"].value_counts().to_dict() == {c: 6 for c in demo.CLASSES}
    known = solution["Recording"].astype(str).isin(set(half.train_groups))
    new_recordings = solution.loc[~known, "Recording"].value_counts()
    assert (new_recordings == 3).sum() == 5  # each class's whole new recording, all 3 slices
    assert 0.4 <= known.mean() <= 0.5  # the random slices: their recording in train unless all 3 were drawn


def test_demo_clips_are_4s_mono_22050(demo_root):
    path = next((demo_root / "train" / "train" / "siren").iterdir())
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (22050, 1, 88200, "PCM_16")


def test_demo_is_deterministic_and_rebuilt_only_when_needed(tmp_path, demo_root):
    other = pathlib.Path(demo.build_demo(tmp_path / "again"))
    assert filecmp.cmpfiles(
        demo_root / "test" / "test",
        other / "test" / "test",
        [p.name for p in (demo_root / "test" / "test").iterdir()],
        shallow=False,
    )[1:] == ([], [])
    stamp = (other / "sample_submission.csv").stat().st_mtime_ns
    demo.build_demo(other)
    assert (other / "sample_submission.csv").stat().st_mtime_ns == stamp
    demo.build_demo(other, recordings_per_class=5, slices=1)
    assert len(scan_competition(other).train_paths) == 20


@pytest.mark.parametrize("name", demo.CLASSES)
def test_synthesize(name):
    clip = demo.synthesize(name, np.random.default_rng(1))
    assert clip.shape == (88200,) and clip.dtype == np.float32
    assert 0.3 <= np.abs(clip).max() <= 0.9
    assert demo.synthesize(name, np.random.default_rng(1), seconds=12.0).shape == (264600,)
