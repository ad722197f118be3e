"""What every command line does once its arguments are parsed: expected failures as one line and an exit code."""

import logging
import sys

import pytest

from freqquest import scripts
from freqquest.competition.dataset import CompetitionError
from freqquest.runs import RunInterrupted


def stop(error):
    def work():
        raise error

    return work


@pytest.mark.parametrize(
    "error,code,line",
    [
        (KeyboardInterrupt(), 130, "interrupted before the run began: nothing to resume"),
        (RunInterrupted("runs/x", "continue with: --resume runs/x"), 130, "continue with: --resume runs/x"),
        (CompetitionError("no train/train folder"), 2, "error: no train/train folder"),
        (ValueError("bad clip"), 2, "error: bad clip"),
        (FileNotFoundError(2, "No such file or directory", "x.wav"), 2, "x.wav"),
    ],
)
def test_an_expected_failure_is_one_line_and_an_exit_code(error, code, line, caplog):
    caplog.set_level(logging.ERROR)
    assert scripts.run_guarded(stop(error)) == code
    (record,) = caplog.records
    assert line in record.getMessage()


@pytest.mark.parametrize("terminal", [True, False])
def test_after_ctrl_c_a_terminal_gets_the_message_on_a_line_of_its_own(terminal, capsys, monkeypatch):
    """The terminal echoes ^C with no newline: the message ran on from it."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    assert scripts.run_guarded(stop(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err.startswith("\n") is terminal
    assert scripts.run_guarded(stop(RunInterrupted("runs/x", "stopped"))) == 130
    assert capsys.readouterr().err.startswith("\n") is terminal
