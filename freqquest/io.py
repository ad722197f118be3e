"""Atomic writes: a crash or Ctrl-C mid-write never leaves a half-written output behind; and
checks, before any work, that an output can be written at all."""
import contextlib
import errno
import os
import uuid


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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
    """Fail now if files cannot be written in the folder `path` (made later where missing). Writes nothing."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(errno.ENOTDIR, f"is a file; {what} names a folder", str(path))
    folder = _existing_ancestor(path)
    if not os.path.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, f"is a file, so no folder can be made under it ({what})", folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"cannot be written ({what})", folder)
