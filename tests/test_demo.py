import filecmp
import pathlib

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from freqquest.competition import demo
from freqquest.competition.dataset import preflight, scan_competition


def test_demo_has_the_competition_layout(demo_root):
    competition = scan_competition(demo_root)
    assert competition.classes == sorted(demo.CLASSES)
    assert competition.class_counts() == {c: 20 for c in demo.CLASSES}
    assert len(competition.test_ids) == 30 and None not in competition.test_paths
    assert preflight(competition).clean
    solution = pd.read_csv(demo_root / "solution.csv")
    assert solution["ID"].tolist() == competition.test_ids
    assert solution["Class"].value_counts().to_dict() == {c: 6 for c in demo.CLASSES}
    assert demo.is_demo(demo_root)
    # recordings come in pairs of slices, so the leak-free split has something to do
    assert len(set(competition.train_groups)) == 50


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
    demo.build_demo(other, train_per_class=4, test_per_class=1)
    assert len(scan_competition(other).train_paths) == 20


@pytest.mark.parametrize("name", demo.CLASSES)
def test_synthesize(name):
    clip = demo.synthesize(name, np.random.default_rng(1))
    assert clip.shape == (88200,) and clip.dtype == np.float32
    assert 0.3 <= np.abs(clip).max() <= 0.9
