"""What every command line (the two scripts; predict, serve and export) shares once its arguments
are parsed: what can be checked at once checked before TensorFlow loads, logging, a quiet
TensorFlow, and expected failures reported as one line with an exit code (2 for an error, 130 for
Ctrl-C), never a traceback from deep inside a library. Light to import: only `start` loads
TensorFlow."""

import logging
import sys
from collections.abc import Callable

from . import quiet
from .arguments import refuse
from .competition.paths import DOWNLOAD_HINT, CompetitionError, diagnose_competition_folder
from .io import os_error_line
from .runs import RunInterrupted, SubmissionUnwritten

log = logging.getLogger("freqquest")

INTERRUPTED = 130


def run_command(check: Callable[[], object], verbose: bool, work: Callable[[object], None]) -> int:
    """Every command's shape: `check()` its arguments against the disk at once (a ValueError it
    raises is one line and exit 2, with nothing heavy imported yet), then TensorFlow started
    quietly, then `work(what check returned)`, which imports what it needs."""
    try:
        checked = check()
    except ValueError as error:
        return refuse(str(error))
    start(verbose)
    return run_guarded(lambda: work(checked))


def check_data_folder(data: str | None) -> None:
    """A --data that is no competition (missing, empty, another layout): ValueError saying what it is."""
    problem = data and diagnose_competition_folder(data)
    if problem:
        raise ValueError(f"--data: {problem}; {DOWNLOAD_HINT}")


def start(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    quiet.configure(verbose)
    quiet.import_tensorflow()


def run_guarded(work) -> int:
    """Call `work()`; 0 when it returns."""
    try:
        work()
    except RunInterrupted as stop:
        _after_ctrl_c()
        log.error("%s", stop)
        return INTERRUPTED
    except KeyboardInterrupt:
        _after_ctrl_c()
        log.error("interrupted before the run began: nothing to resume (the feature cache keeps what it extracted)")
        return INTERRUPTED
    except OSError as error:
        log.error("error: %s", os_error_line(error))
        return 2
    except (CompetitionError, ValueError, SubmissionUnwritten) as error:
        log.error("error: %s", error)
        return 2
    return 0


def _after_ctrl_c() -> None:
    """A terminal echoes ^C with no newline after it: the message starts on a line of its own."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")
        sys.stderr.flush()
