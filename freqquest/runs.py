"""Run folders: a new run gets a folder of its own, a folder that holds a run is never written
over unless asked, and a folder counts as complete only once its run wrote its summary, last."""
import json
import os
import shutil

from .config import RUN_CONFIG
from .io import write_text_atomic

SUMMARY = "summary.json"  # written last: a run folder without it is incomplete


class RunFolderError(ValueError):
    """A run folder cannot be used as asked; the message says what to do instead."""


class RunInterrupted(Exception):
    """Ctrl-C during a run: `run_dir` holds what it saved, which --resume continues."""

    def __init__(self, run_dir: str, saved: str):
        self.run_dir, self.saved = run_dir, saved
        super().__init__(f"interrupted: {saved}")


class SubmissionUnwritten(Exception):
    """The run finished and is saved, but its submission could not be written; the message says
    why and gives the --predict-only command that writes it."""


def is_run_folder(run_dir) -> bool:
    return os.path.isfile(os.path.join(run_dir, RUN_CONFIG))


def is_complete(run_dir) -> bool:
    return os.path.isfile(os.path.join(run_dir, SUMMARY))


def claim_run_folder(run_dir, overwrite: bool = False) -> None:
    """Make `run_dir` the folder of a new run: created if absent, refused if it holds anything
    (a finished or an interrupted run would be mixed with this one), cleared first with
    `overwrite`, but only if it is a run folder (never a folder of the user's own)."""
    if os.path.isdir(run_dir) and os.listdir(run_dir):
        if not overwrite:
            state = ("a finished run" if is_complete(run_dir) else "an unfinished run") if is_run_folder(run_dir) else "files"
            raise RunFolderError(f"{run_dir} already holds {state}: --resume {run_dir} continues an unfinished run, "
                                 f"--overwrite replaces a run, or choose another --run-dir")
        if not is_run_folder(run_dir):
            raise RunFolderError(f"{run_dir} holds files but no run ({RUN_CONFIG}): --overwrite only replaces run folders; "
                                 f"choose another --run-dir")
        shutil.rmtree(run_dir)
    elif os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise RunFolderError(f"{run_dir} is a file, not a folder: choose another --run-dir")
    os.makedirs(run_dir, exist_ok=True)


def require_complete(run_dir, resume_command: str) -> None:
    """Refuse to predict from a run that did not finish."""
    if not is_complete(run_dir):
        raise RunFolderError(f"{run_dir} is incomplete: its run stopped before the end ({SUMMARY} is missing); "
                             f"finish it with: {resume_command}")


def write_summary(run_dir, payload: dict) -> None:
    """The run's last file: with it the folder is complete."""
    write_text_atomic(os.path.join(run_dir, SUMMARY), json.dumps(payload, indent=2))
