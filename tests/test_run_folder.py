"""A run folder belongs to one run from its first second, and a run that is killed leaves neither
workers nor temporary files nor advice that does not work."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

import Audio_Classification_Kaggle as cli
from freqquest.runs import (
    RUN_CONFIG,
    RUN_LOCK,
    RunFolderError,
    RunHolder,
    claim_run_folder,
    hold_run_folder,
    process_running,
    process_start,
)

from .conftest import REPO, needs_birdnet


@pytest.fixture
def other_process():
    """A live process that is not this one: the holder of a run folder in these tests."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def _lock(run_dir, pid: int, started: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    holder = {"pid": pid, "started": started, "since": "2026-12-07T04:00:00"}
    (run_dir / RUN_LOCK).write_text(json.dumps(holder))


def test_a_second_run_on_a_folder_being_written_is_refused_naming_the_first(tmp_path, demo_root, other_process):
    run_dir = tmp_path / "run"
    _lock(run_dir, other_process.pid, process_start(other_process.pid))
    (run_dir / "fold_1").mkdir()  # the first run's work, which the second must not touch
    before = sorted(os.listdir(run_dir))
    with pytest.raises(RunFolderError, match=f"is being written by process {other_process.pid} \\(since 2026-12-07"):
        claim_run_folder(str(run_dir), overwrite=True)
    assert cli.main(["--data", str(demo_root), "--run-dir", str(run_dir), "--cache-dir", str(tmp_path / "c")]) == 2
    assert cli.main(["--resume", str(run_dir)]) == 2
    assert sorted(os.listdir(run_dir)) == before


def test_a_claim_whose_process_is_gone_is_said_and_taken(tmp_path, other_process, caplog):
    run_dir = tmp_path / "run"
    pid = other_process.pid
    _lock(run_dir, pid, "1")  # the same id, another start: a process id the system gave again
    (run_dir / "fold_1").mkdir()
    (run_dir / "fold_1" / ".birdnet.joblib.1a2b3c4d.tmp").write_text("half")  # a write the kill cut short
    (run_dir / ".sub.csv.1a2b3c4d.tmp").write_text("half")
    with pytest.raises(RunFolderError, match="holds the claim of a run that stopped before it began"):
        claim_run_folder(str(run_dir))
    caplog.set_level(logging.WARNING)
    claim_run_folder(str(run_dir), overwrite=True)
    holder = RunHolder.of(run_dir)
    assert holder.pid == os.getpid() and holder.alive()
    # taken over by a resume: the killed run's temporary files go, its work stays
    _lock(run_dir, pid, "1")
    (run_dir / "fold_1").mkdir()
    (run_dir / "fold_1" / ".birdnet.joblib.1a2b3c4d.tmp").write_text("half")
    (run_dir / "fold_1" / "birdnet.joblib").write_text("done")
    hold_run_folder(str(run_dir))
    assert f"was claimed by process {pid} (since 2026-12-07T04:00:00), which is gone: this run takes it" in caplog.text
    assert os.listdir(run_dir / "fold_1") == ["birdnet.joblib"] and RunHolder.of(run_dir).pid == os.getpid()


def test_a_holder_killed_but_not_yet_reaped_is_gone(tmp_path):
    """A zombie answers os.kill(pid, 0) and keeps its start, but runs no more: its claim is taken."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_start(process.pid)
    deadline = time.time() + 30
    while time.time() < deadline and process_running(process.pid):
        time.sleep(0.05)
    try:
        assert started and process_start(process.pid) == started  # exited, not reaped: a zombie
        holder = RunHolder(process.pid, started, "2026-12-07T04:00:00")
        assert not holder.alive() and not process_running(process.pid)
        _lock(tmp_path / "run", process.pid, started)
        hold_run_folder(str(tmp_path / "run"))
        assert RunHolder.of(tmp_path / "run").pid == os.getpid()
    finally:
        process.wait()
    assert RunHolder(os.getpid(), process_start(os.getpid()), "now").alive() and process_running(os.getpid())


def test_resume_of_a_run_that_stopped_before_it_began_says_how_to_start_it(tmp_path, caplog):
    run_dir = tmp_path / "run"
    _lock(run_dir, 999_999_999, "")
    assert cli.main(["--resume", str(run_dir)]) == 2
    assert f"holds no {RUN_CONFIG}: its run stopped before it began" in caplog.text
    assert f"start it again with --overwrite --run-dir {run_dir}" in caplog.text


def _children(pid: int) -> list:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(name))
            except (OSError, ValueError):
                continue
    return found


@needs_birdnet
def test_extraction_workers_end_when_their_run_is_killed(tmp_path, demo_root):
    """SIGKILL runs no cleanup: the workers see their parent gone and end within seconds."""
    script = (
        "import glob, sys; from freqquest.config import AudioConfig; from freqquest.features.store import FeatureStore;"
        f"paths = sorted(glob.glob('{demo_root}/train/train/*/*.wav')) * 5;"
        f"FeatureStore(AudioConfig(), None, workers=2).embeddings(paths, 'birdnet')"
    )
    run = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and run.poll() is None and len(_loky(run.pid)) < 2:
        time.sleep(0.2)
    time.sleep(5)  # the workers load BirdNET and extract: 600 clips take about half a minute
    spawned = _loky(run.pid)  # the workers and loky's resource tracker
    assert len(spawned) >= 2 and run.poll() is None, "the extraction ended before it could be killed"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(process_running(pid) for pid in spawned):
        time.sleep(0.2)
    assert not [pid for pid in spawned if process_running(pid)], "a process of the killed run outlived it by 10 s"


def _loky(pid: int) -> list:
    """The processes loky started for `pid`."""
    found = []
    for child in _children(pid):
        try:
            with open(f"/proc/{child}/cmdline") as f:
                found += [child] if "loky" in f.read() else []
        except OSError:
            continue
    return found


@needs_birdnet
def test_the_submission_is_written_before_the_summary_that_marks_the_run_finished(tmp_path, demo_root, monkeypatch):
    """A kill between the two left a run that looked finished beside an older submission; now it
    leaves the new submission and a run that --resume finishes, to the same submission."""
    from freqquest.classify import pipeline

    written = []
    monkeypatch.setattr(pipeline, "write_submission", _recorded(pipeline.write_submission, written, "submission"))

    def killed(run_dir, summary):
        written.append("summary")
        raise RuntimeError("killed before the summary")

    monkeypatch.setattr(pipeline, "write_summary", killed)
    out, run_dir = tmp_path / "submission.csv", tmp_path / "run"
    common = ["--data", str(demo_root), "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    with pytest.raises(RuntimeError, match="killed before the summary"):
        cli.main(common + ["--run-dir", str(run_dir)])
    assert written == ["submission", "summary"]
    first = out.read_bytes()
    assert first.startswith(b"ID,Class\n") and first.count(b"\n") == 31
    assert not (run_dir / "summary.json").exists() and (run_dir / RUN_CONFIG).exists()
    monkeypatch.undo()
    assert cli.main(common + ["--resume", str(run_dir)]) == 0
    assert out.read_bytes() == first and (run_dir / "summary.json").exists()


def _recorded(function, written: list, name: str):
    def recorded(*args, **kwargs):
        written.append(name)
        return function(*args, **kwargs)

    return recorded
