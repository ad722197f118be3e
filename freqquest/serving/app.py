"""The web app of `python -m freqquest.serve` (freqquest/serve.py says what it answers): its routes,
the refusals a public endpoint needs (408, 413, 415, 422, 503), and the admission of requests to the
run's models, loaded once and warmed up."""

import asyncio
import contextlib
import dataclasses
import os
import tempfile
import threading
import time

import numpy as np
import soundfile as sf
from fastapi import FastAPI, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from ..competition.audio import AudioLoadError, read_header
from ..runs import DEMO_NOTE
from .palette import class_colours
from .predictor import Predictor

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
MAGIC = {"WAV": (b"RIFF", b"RIFX", b"RF64"), "FLAC": (b"fLaC",), "OGG": (b"OggS",), "MP3": (b"ID3",)}
WAVEFORM_POINTS = 800  # (min, max) pairs drawn by the page
MAX_MAP = (64, 96)  # largest (rows, columns) of a map sent to the page
BODY_IDLE_S = 30.0  # an upload that sends nothing for this long is given up (408), its connection freed


class Refused(Exception):
    """An upload the server will not take; the HTTP status and a message for the person."""

    def __init__(self, status: int, message: str):
        self.status, self.message = status, message
        super().__init__(message)


class UploadGuard:
    """Every request's body, guarded before any route reads it: more than `max_bytes`, declared in
    Content-Length or streamed (a chunked or lying upload), is refused with 413, and a body that
    stops arriving for `idle_s` (one shorter than its Content-Length) with 408, both in JSON as
    every other refusal. Starlette's own limit answered a declared length in plain text."""

    def __init__(self, app, max_bytes: int, idle_s: float = BODY_IDLE_S):
        self.app, self.max_bytes, self.idle_s = app, max_bytes, idle_s

    def too_large(self) -> str:
        return f"the upload is larger than the {self.max_bytes / 2**20:g} MB this server takes (--max-upload-mb)"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await JSONResponse({"detail": self.too_large()}, status_code=413)(scope, receive, send)
        received, complete = 0, False

        async def guarded():
            nonlocal received, complete
            if complete:  # the body is in: what follows (a disconnect) may take any time
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_s)
            except TimeoutError:
                raise HTTPException(408, f"the upload stopped arriving: nothing for {self.idle_s:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    raise HTTPException(413, self.too_large())
            return message

        await self.app(scope, guarded, send)


def sniff(head: bytes) -> str | None:
    """The container of a file by its first bytes (not its name): WAV, FLAC, OGG, MP3, or None."""
    for kind, magics in MAGIC.items():
        if head.startswith(magics):
            return kind
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame without an ID3 tag
        return "MP3"
    return None


def shrink(values: np.ndarray, shape=MAX_MAP) -> list:
    """A 2-D map averaged down to at most `shape`, as nested lists with 3 decimals."""
    values = np.asarray(values, np.float32)
    rows, cols = (min(shape[0], values.shape[0]), min(shape[1], values.shape[1]))
    r = np.array_split(np.arange(values.shape[0]), rows)
    c = np.array_split(np.arange(values.shape[1]), cols)
    return np.round([[float(values[np.ix_(i, j)].mean()) for j in c] for i in r], 3).tolist()


def waveform_points(clip: np.ndarray, n: int = WAVEFORM_POINTS) -> list:
    """(min, max) of each of n stretches of the clip: what a waveform drawing needs."""
    parts = np.array_split(clip, min(n, max(1, len(clip))))
    return [[round(float(p.min()), 4), round(float(p.max()), 4)] for p in parts]


class Service:
    """The run, the limits and the admission of requests, shared by the app's routes."""

    def __init__(self, run_dir, max_seconds: float, cache_dir=None, workers: int = 2, queue: int = 8):
        if workers < 1 or queue < 0:
            raise ValueError(f"workers must be at least 1 and queue not negative, got {workers} and {queue}")
        self.predictor = Predictor(run_dir, cache_dir)
        self.max_seconds = max_seconds
        self.slots = threading.BoundedSemaphore(workers)
        self.capacity, self.admitted = workers + queue, 0  # answered or waiting
        self.admission = threading.Lock()
        self.warm_up()

    def warm_up(self) -> None:
        """One prediction and explanation before the first request, so it is as fast as the rest."""
        with tempfile.TemporaryDirectory(prefix="freqquest-warmup-") as folder:
            path = os.path.join(folder, "warmup.wav")
            noise = np.random.default_rng(0).normal(0, 0.1, int(self.predictor.audio.sample_rate)).astype(np.float32)
            sf.write(path, noise, self.predictor.audio.sample_rate, subtype="PCM_16")
            self.predict(path, "warmup.wav", top_k=1)
            self.explain(path, "warmup.wav")

    @contextlib.contextmanager
    def turn(self):
        """A request's turn at the models: at once when a worker is free, after the requests ahead
        of it when the queue has room, 503 when it is full."""
        with self.admission:
            if self.admitted >= self.capacity:
                raise Refused(
                    503, f"the server is busy ({self.admitted} requests answered or waiting); try again in a moment"
                )
            self.admitted += 1
        try:
            with self.slots:
                yield
        finally:
            with self.admission:
                self.admitted -= 1

    def model_info(self) -> dict:
        run, config = self.predictor.run, self.predictor.config
        return {
            "demo": run.demo,
            "classes": run.classes,
            "colours": class_colours(run.classes),
            "members": list(config.member_names),
            "preset": config.preset,
            "model": config.model,
            "folds": config.folds,
            "validation_accuracy": run.summary.get("val_accuracy"),
            "window_seconds": run.audio.duration,
            "sample_rate": run.audio.sample_rate,
            "max_seconds": self.max_seconds,
        }

    def check(self, path: str, head: bytes, name: str) -> None:
        if sniff(head) is None:
            raise Refused(415, f"{name} is not an audio file: its first bytes are not those of WAV, FLAC, OGG or MP3")
        try:
            header = read_header(path)
        except AudioLoadError as error:
            raise Refused(422, f"{name} could not be decoded: {error.reason}") from None
        if header.seconds > self.max_seconds:
            raise Refused(
                422, f"{name} is {header.seconds:.1f} s long; this server takes clips of at most {self.max_seconds:g} s"
            )

    def _prediction(self, path: str, name: str):
        """The upload's prediction, under the name it was sent with."""
        try:
            return dataclasses.replace(self.predictor.predict(path), path=name)
        except ValueError as error:
            raise Refused(422, f"{name} could not be decoded: {error}") from None

    def predict(self, path: str, name: str, top_k: int = 5) -> dict:
        started = time.time()
        prediction = self._prediction(path, name)
        answer = prediction.as_dict(top_k)
        if self.predictor.run.demo:  # said in every answer, as the page, the picture and the command line say it
            answer["notes"] = [f"{DEMO_NOTE} (a run trained on the synthetic demo)", *answer["notes"]]
        return answer | {
            "demo": self.predictor.run.demo,
            "file": name,
            "members": {
                m: dict(zip(prediction.classes, map(float, v.mean(axis=0)))) for m, v in prediction.members.items()
            },
            "waveform": {"seconds": prediction.seconds, "points": waveform_points(prediction.audio)},
            "timings": {"predict_s": round(time.time() - started, 4)},
        }

    def explain(self, path: str, name: str) -> dict:
        from .explain import explain  # TensorFlow: imported once the scripts have quietened it

        started = time.time()
        e = explain(self.predictor, self._prediction(path, name))
        return {
            "file": name,
            "top": e.prediction.classes[e.prediction.top],
            "deciding_window": e.prediction.deciding_window,
            "deciding_window_span": [round(t, 3) for t in e.prediction.deciding_span],
            "spectrogram": {
                "start": e.window_start,
                "seconds": e.window_seconds,
                "window": e.describe_explained(),
                "values": shrink(e.spectrogram),
                "title": e.title,
                "hz_ticks": [[round(band / e.spectrogram.shape[0], 4), hz] for band, hz in e.hz_ticks()],
            },
            "heatmap": {
                "kind": "map" if e.heatmap is not None else "occlusion",
                "note": e.note,
                "values": shrink(e.heatmap) if e.heatmap is not None else [round(float(v), 4) for v in e.occlusion],
            },
            "feature_maps": [
                {"layer": layer, "channels": [shrink(c, (32, 48)) for c in maps]}
                for layer, maps in e.feature_maps.items()
            ],
            "timings": {"explain_s": round(time.time() - started, 4)},
        }


def create_app(
    run_dir,
    max_upload_bytes: int = 20 * 2**20,
    max_seconds: float = 60.0,
    cache_dir=None,
    workers: int = 2,
    queue: int = 8,
    body_idle_s: float = BODY_IDLE_S,
):
    service = Service(run_dir, max_seconds, cache_dir, workers, queue)
    app = FastAPI(title="freqquest", description="What a freqquest run hears in a clip")
    app.add_middleware(UploadGuard, max_bytes=max_upload_bytes, idle_s=body_idle_s)
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.exception_handler(Refused)
    def refused(request: Request, error: Refused):
        return JSONResponse(status_code=error.status, content={"detail": error.message})

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(os.path.join(WEB, "index.html"))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return FileResponse(os.path.join(WEB, "favicon.svg"), media_type="image/svg+xml")

    @app.get("/api/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/api/model")
    def model() -> dict:
        return service.model_info()

    def answered(file: UploadFile, answer) -> dict:
        """`answer(path, name)` for the upload, in a temporary folder removed afterwards, once admitted."""
        name = os.path.basename(file.filename or "upload")
        with service.turn(), tempfile.TemporaryDirectory(prefix="freqquest-upload-") as folder:
            path = os.path.join(folder, "clip")
            with open(path, "wb") as out:
                while block := file.file.read(1 << 20):
                    out.write(block)
            with open(path, "rb") as f:
                head = f.read(16)
            service.check(path, head, name)
            return answer(path, name)

    @app.post("/api/predict")
    def predict(file: UploadFile, top_k: int = 5) -> dict:
        """The top classes of a clip, each window's and each member's probabilities: the run's answer alone."""
        top_k = max(1, min(top_k, len(service.predictor.classes)))
        return answered(file, lambda path, name: service.predict(path, name, top_k))

    @app.post("/api/explain")
    def explain(file: UploadFile) -> dict:
        """Why: the deciding window's spectrogram, its heatmap and feature maps (the page asks after the bars)."""
        return answered(file, service.explain)

    app.state.service = service
    return app
