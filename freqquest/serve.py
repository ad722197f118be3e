"""A small web app over a finished run: upload or record a clip, see what the run hears.

    python -m freqquest.serve RUN_DIR [--host 127.0.0.1] [--port 8000] [--max-upload-mb 20] [--max-seconds 60]
                                      [--workers 2] [--queue 8]

`POST /api/predict` (multipart, field `file`) answers with the top classes, each member's
probabilities, the per-window timeline, a downsampled waveform and the time it took: the run's
own time, nothing more. `POST /api/explain` (the same file) answers with what the page draws
next: the spectrogram of the window explained, its map of the evidence (integrated gradients or
Grad-CAM, or the occlusion curve) and feature maps. `GET /api/health`, `GET /api/model`;
OpenAPI docs at `/docs`; the page at `/`, served with everything it loads (no CDN). The run is
loaded once at start-up and warmed up.

What a public endpoint needs: the body is cut off past `--max-upload-mb` (413; the streamed
bytes are counted, so a chunked or lying upload is stopped too), a body that stops arriving for
30 s is given up (408) and its connection freed, a clip longer than
`--max-seconds` is refused (422), the content is sniffed rather than the file name trusted (415
for anything that is not WAV, FLAC, OGG or MP3; 422 for one that does not decode), the upload
lives in a temporary folder removed when the request ends, errors or not, and the server listens
on 127.0.0.1 unless `--host` says otherwise; a port already taken is refused before the run loads,
naming the process that holds it. `--workers` requests are answered side by side (2 by
default; each gets its own BirdNET interpreter), up to `--queue` more wait their
turn, and any beyond that get 503 at once rather than a minute's wait.
"""

import argparse
import contextlib
import errno
import os
import socket
import sys

from .arguments import ArgumentParser
from .runs import DEMO_NOTE, SERVE_COMMAND, open_run
from .scripts import run_command


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(
        prog="python -m freqquest.serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload accepted (default 20)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="longest clip accepted (default 60)")
    p.add_argument("--workers", type=int, default=2, help="requests answered side by side (default 2)")
    p.add_argument("--queue", type=int, default=8, help="requests that may wait for a worker; more get 503 (default 8)")
    p.add_argument(
        "--cache-dir", metavar="DIR", help="feature cache, for matching a low rate the run has no models for"
    )
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up and C++ log lines")
    return p.parse_args(argv)


def port_taken(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, naming the process that does where it can be
    found; None when it can. Asked before the run loads (tens of seconds), not after."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as error:
        holder = listener_of(port) if error.errno == errno.EADDRINUSE else None
        by = f" by process {holder[0]} ({holder[1]})" if holder else ""
        return f"{host}:{port} cannot be listened on{by}: {error.strerror}; stop it, or choose another --port"
    return None


def listener_of(port: int) -> tuple | None:
    """(process id, command line) of the process listening on TCP `port`, from /proc (Linux); None
    where it cannot be told (another system, another user's process)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: listening
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc") if inodes else ()):
        with contextlib.suppress(OSError):
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                with open(f"/proc/{pid}/cmdline") as f:
                    return int(pid), f.read().replace("\0", " ").strip()
    return None


def check(args: argparse.Namespace) -> argparse.Namespace:
    """A wrong folder or a taken port told at once, then what is served, before the run loads."""
    run = open_run(args.run_dir, SERVE_COMMAND)
    taken = port_taken(args.host, args.port)
    if taken:
        raise ValueError(taken)
    print(
        f"serving {args.run_dir} ({', '.join(run.train.member_names)}, trained on {run.data})"
        + (f"; {DEMO_NOTE}" if run.demo else "")
        + f"; loading it, then http://{args.host}:{args.port}",
        flush=True,
    )
    return args


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from .serving.app import create_app  # TensorFlow: once the scripts have quietened it

    app = create_app(
        args.run_dir, int(args.max_upload_mb * 2**20), args.max_seconds, args.cache_dir, args.workers, args.queue
    )
    uvicorn.run(app, host=args.host, port=args.port)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_command(lambda: check(args), args.verbose, serve)


if __name__ == "__main__":
    sys.exit(main())
