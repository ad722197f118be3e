#!/usr/bin/env python3
"""Kill a demo run at moments spread over its life, and check what a user is left with.

  python benchmarks/fault_injection.py                 # ten moments
  python benchmarks/fault_injection.py --moments 3 --work /tmp/faults

A clean run (a cold feature cache) gives the life's length T and the submission every other run
must end with. Then, for each moment 0.9 T (k + 0.5) / n, a run of the same command (its own run
folder and cold cache, writing over an older submission) is killed with SIGKILL, and:
- the submission file is either the older one, untouched, or the new one, complete;
- no process the run started is alive 10 s later (extraction workers end with their parent);
- the same command again either runs or is refused with advice; the advice is followed (--resume,
  or --overwrite), and the submission it ends with is the clean run's, byte for byte;
- no temporary file (`*.tmp`) is left in the run folder, the cache or beside the submission.
Prints one row per moment (a markdown table) and exits 1 if any check failed.
"""

import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from freqquest.competition.demo import build_demo  # noqa: E402
from freqquest.runs import RUN_CONFIG, process_running  # noqa: E402

SCRIPT = os.path.join(REPO, "Audio_Classification_Kaggle.py")
OLD_SUBMISSION = b"ID,Class\nan-older-submission.wav,siren\n"
WORKERS_GRACE_S = 10


def children_of() -> dict:
    """pid -> the pids whose parent it is, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    return children


def descendants(pid: int) -> list:
    children, found, todo = children_of(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def last_line(log_path: str) -> str:
    """What the run was doing: its last line on the screen, progress bars included."""
    with open(log_path, errors="replace") as f:
        lines = [line.strip() for line in f.read().replace("\r", "\n").split("\n")]
    said = [line for line in lines if line and not line.startswith(("I0000", "WARNING: All", "To enable"))]
    return (said[-1] if said else "(nothing yet)")[:60].replace("|", "/")


def temporary_files(*folders) -> list:
    return sorted(p for folder in folders for p in glob.glob(os.path.join(folder, "**", "*.tmp*"), recursive=True))


def run(command: list, log_path: str) -> int:
    with open(log_path, "w") as log:
        return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO).returncode


def trial(k: int, moment: float, base: list, work: str, clean: bytes) -> dict:
    folder = os.path.join(work, f"kill{k}")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    run_dir, cache, out = (os.path.join(folder, name) for name in ("run", "cache", "submission.csv"))
    with open(out, "wb") as f:
        f.write(OLD_SUBMISSION)
    command = base + ["--out", out, "--cache-dir", cache]
    with open(os.path.join(folder, "killed.log"), "w") as log:
        process = subprocess.Popen(command + ["--run-dir", run_dir], stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        time.sleep(moment)
        started = descendants(process.pid)
        ended = process.poll()  # a run faster than the clean one may be over: said, not counted as a kill
        process.send_signal(signal.SIGKILL)
        process.wait()
    doing = last_line(os.path.join(folder, "killed.log"))
    if ended is not None:
        doing = f"(it had ended, exit {ended}) {doing}"[:60]
    with open(out, "rb") as f:
        after = f.read()
    submission = "older, intact" if after == OLD_SUBMISSION else "new, complete" if after == clean else "BROKEN"
    time.sleep(WORKERS_GRACE_S)
    left = [pid for pid in started if process_running(pid)]
    for pid in left:  # not to disturb the next moment
        os.kill(pid, signal.SIGKILL)
    code = run(command + ["--run-dir", run_dir], os.path.join(folder, "again.log"))
    rerun = "the same command" if code == 0 else f"refused (exit {code}), then "
    if code:
        follow = ["--resume", run_dir] if os.path.isfile(os.path.join(run_dir, RUN_CONFIG)) else [
            "--run-dir", run_dir, "--overwrite"]  # fmt: skip
        code = run(command + follow, os.path.join(folder, "followed.log"))
        rerun += ("--resume" if follow[0] == "--resume" else "--overwrite") + ("" if code == 0 else f" (exit {code})")
    with open(out, "rb") as f:
        identical = f.read() == clean
    return {
        "moment": moment,
        "doing": doing,
        "submission": submission,
        "left": len(left),
        "workers": len(started),
        "rerun": rerun,
        "identical": identical,
        "tmp": temporary_files(run_dir, cache, folder),
        "killed": ended is None,
        "ok": submission != "BROKEN" and not left and identical and code == 0,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--moments", type=int, default=10, help="kills spread over the run's life (default 10)")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-faults"))
    a = p.parse_args(argv)
    os.makedirs(a.work, exist_ok=True)
    root = os.path.join(a.work, "demo")
    if not os.path.isdir(root):
        build_demo(root)
    base = [sys.executable, SCRIPT, "--data", root]
    clean_dir = os.path.join(a.work, "clean")
    shutil.rmtree(clean_dir, ignore_errors=True)
    os.makedirs(clean_dir)
    started = time.time()
    code = run(
        base + ["--run-dir", os.path.join(clean_dir, "run"), "--out", os.path.join(clean_dir, "submission.csv"),
                "--cache-dir", os.path.join(clean_dir, "cache")],
        os.path.join(clean_dir, "clean.log"),
    )  # fmt: skip
    life = time.time() - started
    if code:
        sys.exit(f"the clean run failed (exit {code}): {os.path.join(clean_dir, 'clean.log')}")
    with open(os.path.join(clean_dir, "submission.csv"), "rb") as f:
        clean = f.read()
    print(f"the clean run: {life:.1f} s (a cold cache); each moment below is a SIGKILL of the same command")
    rows = [trial(k, 0.9 * life * (k + 0.5) / a.moments, base, a.work, clean) for k in range(a.moments)]
    print("\n| killed at (s) | what the screen showed last | submission after the kill | processes alive "
          f"{WORKERS_GRACE_S} s later | the rerun | rerun's submission = clean run's | .tmp left |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['moment']:.1f} | {r['doing']} | {r['submission']} | {r['left']} of {r['workers']} | {r['rerun']} | "
            f"{'yes' if r['identical'] else 'NO'} | {len(r['tmp']) or 'none'} |"
        )
        for path in r["tmp"]:
            print(f"  left: {path}")
    failed = [r for r in rows if not r["ok"] or r["tmp"]]
    killed = sum(r["killed"] for r in rows)
    print(f"\n{len(rows) - len(failed)} of {len(rows)} moments passed every check; {killed} killed a running run")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
