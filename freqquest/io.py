"""Atomic writes: a crash, Ctrl-C or a full disk mid-write never leaves a half-written output
behind, and the error names the output; and checks, before any work, that an output can be
written at all."""

import contextlib
import errno
import os
import tempfile
import uuid


@contextlib.contextmanager
def naming(path, *aliases):
    """OS errors raised in the block that name no file (a write on a full disk: "[Errno 28] No
    space left on device"), or name one of `aliases` (a temporary file), are raised again naming `path`."""
    try:
        yield
    except OSError as error:
        named = no_space_named(error, path)
        if named is not error:
            raise named from error
        if error.filename is None or error.filename in aliases:
            raise type(error)(error.errno, error.strerror or str(error), os.fspath(path)) from error
        raise


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds. An
    OS error that names no file is raised again naming `path` (`naming`)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with naming(path, tmp):
            yield tmp
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def os_error_line(error: OSError) -> str:
    """e.g. 'runs/x/config.json: Permission denied'; our own errors carry their whole message."""
    return f"{error.filename}: {error.strerror}" if error.filename and error.strerror else str(error)


def write_text_atomic(path, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)


def _existing_ancestor(path) -> str:
    folder = os.path.abspath(path)
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return folder


def check_file_writable(path, what: str) -> None:
    """Fail now, not after hours of work, if the file `path` (named by option `what`) cannot be written.
    Writes nothing."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"is a folder; {what} names a file", str(path))
    check_folder_writable(os.path.dirname(os.path.abspath(path)), what)


def check_folder_writable(path, what: str) -> None:
    """Fail now if files cannot be written in the folder `path`: a probe file is written there and
    removed, with the folders made for it (a folder the permissions allow may still refuse files:
    a system folder such as /proc, a read-only mount). Leaves nothing behind."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(errno.ENOTDIR, f"is a file; {what} names a folder", str(path))
    folder = _existing_ancestor(path)
    if not os.path.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, f"is a file, so no folder can be made under it ({what})", folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"cannot be written ({what})", folder)
    made = []
    try:
        for parent in _missing_folders(path):
            os.mkdir(parent)
            made.append(parent)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".freqquest-probe-"):
            pass
    except OSError as error:
        raise type(error)(error.errno, f"files cannot be written there: {error.strerror} ({what})", str(path)) from None
    finally:
        for parent in reversed(made):
            os.rmdir(parent)


def _missing_folders(path) -> list:
    """The folders of `path` that do not exist yet, outermost first ([] when `path` exists)."""
    missing, folder = [], os.path.abspath(path)
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing[::-1]


def no_space_named(error: OSError, path) -> OSError:
    """NumPy reports a full disk as '2657280 requested and 1309664 written', with no error number:
    the same error as the system's, naming the file, its folder and what to do."""
    if error.errno is None and " requested and " in str(error) and str(error).endswith(" written"):
        folder = os.path.dirname(os.path.abspath(path))
        return OSError(
            errno.ENOSPC,
            f"No space left on device ({error}); free space on the disk of {folder}, or choose another folder",
            os.fspath(path),
        )
    return error
