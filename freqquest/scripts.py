"""What every command line (the two scripts; predict, serve and export) shares once its arguments
are parsed: logging, a quiet TensorFlow, and expected failures reported as one line with an exit
code (2 for an error, 130 for Ctrl-C), never a traceback from deep inside a library."""

import logging
import sys

from . import quiet
from .competition.dataset import CompetitionError
from .io import os_error_line
from .runs import RunInterrupted, SubmissionUnwritten

log = logging.getLogger("freqquest")

INTERRUPTED = 130


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
