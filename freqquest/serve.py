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

What a public endpoint needs: the body is cut off past `--max-upload-mb` (413; FastAPI counts
the streamed bytes, so a chunked or lying upload is stopped too), a clip longer than
`--max-seconds` is refused (422), the content is sniffed rather than the file name trusted (415
for anything that is not WAV, FLAC, OGG or MP3; 422 for one that does not decode), the upload
lives in a temporary folder removed when the request ends, errors or not, and the server listens
on 127.0.0.1 unless `--host` says otherwise. `--workers` requests are answered side by side (one
per core by default; each gets its own BirdNET interpreter), up to `--queue` more wait their
turn, and any beyond that get 503 at once rather than a minute's wait.
"""

import argparse
import sys

from .runs import SERVE_COMMAND, RunFolderError, require_complete
from .scripts import refuse


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m freqquest.serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload accepted (default 20)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="longest clip accepted (default 60)")
    p.add_argument(
        "--workers", type=int, default=2, help="requests answered side by side (default 2: one per core of a laptop)"
    )
    p.add_argument("--queue", type=int, default=8, help="requests that may wait for a worker; more get 503 (default 8)")
    p.add_argument(
        "--cache-dir", metavar="DIR", help="feature cache, for matching a low rate the run has no models for"
    )
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up and C++ log lines")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:  # a wrong folder is told at once, before TensorFlow loads
        require_complete(args.run_dir, SERVE_COMMAND)
    except RunFolderError as error:
        return refuse(str(error))
    from . import scripts  # TensorFlow (scripts.start loads it): only once the arguments are parsed

    scripts.start(args.verbose)

    def work():
        import uvicorn

        from .serving.app import create_app  # TensorFlow: once the scripts have quietened it

        app = create_app(
            args.run_dir, int(args.max_upload_mb * 2**20), args.max_seconds, args.cache_dir, args.workers, args.queue
        )
        uvicorn.run(app, host=args.host, port=args.port)

    return scripts.run_guarded(work)


if __name__ == "__main__":
    sys.exit(main())
