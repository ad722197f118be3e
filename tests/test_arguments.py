import os

import pytest

import Audio_Classification_Kaggle as cli
import Audio_Generation_CGAN as gan_cli
from freqquest.arguments import ArgumentParser


@pytest.mark.parametrize(
    "given, meant",
    [("--learning_rate", "--learning-rate"), ("--Pseudo-Label", "--pseudo-label"), ("--run-dri", "--run-dir")],
)
def test_a_misspelt_option_is_answered_with_the_right_one_in_a_line(given, meant, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.parse_args([given, "0.1"])
    printed = capsys.readouterr().err.splitlines()
    assert stop.value.code == 2 and printed[0].endswith(f"error: no option {given}: did you mean {meant}?")
    assert len(printed) == 2 and "--help` lists every option" in printed[1]  # not the whole usage


def test_an_option_like_none_is_named_without_a_guess_and_other_errors_keep_argparses_words(capsys):
    with pytest.raises(SystemExit):
        gan_cli.parse_args(["--xyzzy"])
    assert "error: no option --xyzzy\n" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gan_cli.parse_args(["--steps", "many"])
    assert "argument --steps: invalid int value: 'many'" in capsys.readouterr().err
    parser = ArgumentParser(prog="p")
    parser.add_argument("--top-k")
    assert parser.nearest_option("--top_k") == "--top-k" and parser.nearest_option("--zzz") is None


def test_a_wrong_data_folder_is_answered_before_anything_heavy_is_imported(tmp_path):
    """Under a second of CPU, and neither pandas, scikit-learn, librosa nor TensorFlow imported."""
    import resource
    import subprocess
    import sys

    from .conftest import REPO

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    answer = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            str(REPO / "Audio_Classification_Kaggle.py"),
            "--data",
            str(tmp_path / "no"),
        ],
        capture_output=True,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert answer.returncode == 2 and f"error: --data: {tmp_path / 'no'} does not exist" in answer.stderr
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) < 1.0
    imported = {line.split("|")[-1].strip() for line in answer.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"pandas", "sklearn", "tensorflow", "librosa", "keras"}
    assert "freqquest.arguments" in imported  # the measure reads the script's own imports


def test_a_run_says_something_within_a_second_of_cpu(demo_root, tmp_path):
    """The imports that take seconds come after a first line, so a run is never silent at its start."""
    import subprocess
    import sys

    from .conftest import REPO

    run = subprocess.Popen(
        [sys.executable, str(REPO / "Audio_Classification_Kaggle.py"), "--data", str(demo_root), "--run-dir",
         str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "s.csv")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        first = run.stdout.readline()
        with open(f"/proc/{run.pid}/stat") as f:
            ticks = sum(int(t) for t in f.read().rsplit(")", 1)[1].split()[11:13])
    finally:
        run.kill()
        run.wait()
    assert first == "loading the pipeline (NumPy, scikit-learn, TensorFlow: a few seconds)\n"
    assert ticks / os.sysconf("SC_CLK_TCK") < 1.0
