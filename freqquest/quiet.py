"""TensorFlow without its start-up chatter. Its C++ libraries write notes (CUDA probing, oneDNN,
CPU features) straight to the process's stderr as they load, before any logging is set up, so
no log level reaches them: the import runs with file descriptors 1 and 2 pointed at /dev/null,
unless the run is verbose. Python's own errors are not hidden: they are raised after the terminal is
back. Worker processes inherit the choice through the environment."""

import contextlib
import logging
import os
import sys

VERBOSE = "FREQQUEST_VERBOSE"


def configure(verbose: bool) -> None:
    """Called by the scripts before anything imports TensorFlow (and before worker processes start)."""
    os.environ[VERBOSE] = "1" if verbose else ""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else "3"


@contextlib.contextmanager
def silenced():
    """File descriptors 1 and 2 pointed at /dev/null for the block, unless the run is verbose: for
    TensorFlow's native libraries, which write around Python's own streams."""
    if os.environ.get(VERBOSE):
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved, devnull = (os.dup(1), os.dup(2)), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def import_tensorflow():
    """`import tensorflow`, quietly unless FREQQUEST_VERBOSE is set; the module."""
    if "tensorflow" in sys.modules:
        import tensorflow

        return tensorflow
    with silenced():
        import tensorflow

        tensorflow.config.list_physical_devices()  # the CUDA probe writes its notes on first use
    if not os.environ.get(VERBOSE):
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return tensorflow
