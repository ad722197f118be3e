import os

from freqquest.competition import paths
from freqquest.competition.demo import DEMO_MARKER


def make_root(path):
    os.makedirs(path / "train" / "train" / "siren")
    os.makedirs(path / "test" / "test")
    return path


def test_finds_the_zip_nesting_under_a_base(tmp_path):
    root = make_root(tmp_path / "data" / "the-frequency-quest")
    assert paths.find_competition_root([str(tmp_path / "data")]) == str(root)


def test_finds_a_root_two_levels_down_and_prefers_earlier_bases(tmp_path):
    deep = make_root(tmp_path / "kaggle" / "input" / "x" / "comp")
    assert paths.find_competition_root([str(tmp_path / "none"), str(tmp_path / "kaggle" / "input")]) == str(deep)
    first = make_root(tmp_path / "data")
    assert paths.find_competition_root([str(tmp_path / "data"), str(tmp_path / "kaggle" / "input")]) == str(first)


def test_demo_folders_are_not_real_data(tmp_path):
    demo = make_root(tmp_path / "data" / "demo")
    (demo / DEMO_MARKER).write_text("{}")
    assert paths.find_competition_root([str(tmp_path / "data")]) is None


def test_outputs_go_to_kaggle_working_on_kaggle(monkeypatch):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert paths.default_submission_path() == "/kaggle/working/submission.csv"
    assert paths.default_run_dir("cnn").startswith("/kaggle/working/runs/")
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE")
    monkeypatch.setattr(paths, "KAGGLE_WORKING", "/nonexistent/kaggle/working")
    assert paths.default_submission_path() == os.path.join("submissions", "submission.csv")


def test_platform_is_named_for_the_notebooks(monkeypatch):
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setattr(paths, "KAGGLE_WORKING", "/nonexistent/kaggle/working")
    assert paths.platform_name() == "local" and not paths.on_colab()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20260101-060000_RC00")
    assert paths.platform_name() == "Colab" and paths.on_colab()
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    assert paths.platform_name() == "Kaggle"


def write_audio(folder, name="a.wav"):
    os.makedirs(folder, exist_ok=True)
    (folder / name).write_bytes(b"RIFF")


def test_a_wrong_data_folder_is_told_by_what_it_holds(tmp_path):
    """Each mistake gets its own sentence, and the folder that would work where one is near."""
    assert paths.diagnose_competition_folder(tmp_path / "missing") == f"{tmp_path / 'missing'} does not exist"
    root = make_root(tmp_path / "comp")
    assert paths.diagnose_competition_folder(root) is None
    inside = paths.diagnose_competition_folder(root / "train" / "train")
    assert inside == f"{root / 'train' / 'train'} is inside the competition: give its root, --data {root}"
    flat = tmp_path / "flat"
    write_audio(flat / "train" / "siren")
    os.makedirs(flat / "test" / "test")
    assert "holds the class folders (siren, ...) directly: the layout has one train level more" in (
        paths.diagnose_competition_folder(flat)
    )
    classes = tmp_path / "classes"
    write_audio(classes / "dog_bark")
    write_audio(classes / "siren")
    assert paths.diagnose_competition_folder(classes).startswith(
        f"{classes} holds class folders (dog_bark, siren, ...)"
    )
    clips = tmp_path / "clips"
    write_audio(clips)
    assert paths.diagnose_competition_folder(clips) == (
        f"{clips} holds audio files itself; give the competition root, which holds train/train/<class>/ and test/test/"
    )
