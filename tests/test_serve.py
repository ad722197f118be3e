"""python -m freqquest.serve: the API with FastAPI's test client, every refusal a public endpoint
needs, concurrent requests, no file kept; and the page in a real headless Chromium (upload and
microphone), when the system's Chromium is there (CI installs it)."""

import concurrent.futures
import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from freqquest.serving.app import create_app, sniff
from freqquest.serving.predictor import Predictor

from .conftest import REPO

CLASSES = ["dog_bark", "drilling", "engine_idling", "siren", "street_music"]


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    """Where the app's temporary folders go during these tests, to see that none is left."""
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def client(scratch_run, uploads):
    saved = tempfile.tempdir
    tempfile.tempdir = str(uploads)
    try:
        app = create_app(scratch_run, max_upload_bytes=2_000_000, max_seconds=12.0)
        with TestClient(app) as test_client:
            yield test_client
    finally:
        tempfile.tempdir = saved


def encoded(fmt: str, seconds=2.0, rate=22050, subtype=None) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    y = (0.4 * np.sin(2 * np.pi * 700 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, y, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def post(client, data: bytes, name="clip.wav", path="/api/predict"):
    return client.post(path, files={"file": (name, data, "application/octet-stream")})


def test_health_model_docs_and_the_page(client):
    assert client.get("/api/health").json() == {"status": "ok"}
    model = client.get("/api/model").json()
    assert model["classes"] == CLASSES and model["members"] == ["cnn", "logreg", "svm"] and model["preset"] == "scratch"
    assert (
        0.0 <= model["validation_accuracy"] <= 1.0 and model["window_seconds"] == 4.0 and model["max_seconds"] == 12.0
    )
    assert client.get("/docs").status_code == 200 and "/api/predict" in client.get("/openapi.json").json()["paths"]
    page = client.get("/").text
    assert '<script src="/static/app.js">' in page and '<link rel="stylesheet" href="/static/app.css">' in page
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert model["demo"] is True and model["colours"]["dog_bark"] == "#0b63c5"  # as the pictures colour it
    for text in (page, client.get("/static/app.js").text, client.get("/static/app.css").text):
        assert "http://" not in text and "https://" not in text  # nothing loaded from elsewhere


@pytest.mark.parametrize(
    "fmt,subtype,rate",
    [
        ("WAV", "PCM_16", 22050),
        ("WAV", "PCM_U8", 8000),
        ("FLAC", "PCM_24", 44100),
        ("OGG", "VORBIS", 48000),
        ("MP3", "MPEG_LAYER_III", 22050),
    ],
)
def test_good_files_of_every_format_are_answered(client, scratch_run, tmp_path, fmt, subtype, rate):
    data = encoded(fmt, rate=rate, subtype=subtype)
    response = post(client, data, name=f"clip.{fmt.lower()}")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [t["class"] for t in answer["top"]][:1] and len(answer["top"]) == 5
    assert sum(t["probability"] for t in answer["top"]) == pytest.approx(1.0, abs=1e-4)
    (tmp_path / "clip").write_bytes(data)
    direct = Predictor(scratch_run).predict(tmp_path / "clip")
    assert answer["top"][0]["class"] == CLASSES[direct.top]
    assert answer["top"][0]["probability"] == pytest.approx(float(direct.probabilities.max()), abs=1e-5)
    assert (
        answer["sample_rate"] == rate and len(answer["waveform"]["points"]) == 800 and answer["window_seconds"] == 4.0
    )
    assert set(answer["timings"]) == {"predict_s"} and "heatmap" not in answer  # the explanation is asked for apart
    assert answer["demo"] is True and answer["notes"][0].startswith(
        "a model of the synthetic demo: its answers on real"
    )
    why = post(client, data, name=f"clip.{fmt.lower()}", path="/api/explain")
    assert why.status_code == 200, why.text
    why = why.json()
    assert why["top"] == answer["top"][0]["class"] and why["heatmap"]["kind"] == "map"
    spectrogram = why["spectrogram"]
    assert len(spectrogram["values"]) == 64 and len(why["heatmap"]["values"][0]) == len(spectrogram["values"][0])
    assert spectrogram["title"] == "log-Mel, the window that decided (0.00-4.00 s)"  # one window, named alike
    assert why["deciding_window_span"] == answer["deciding_window_span"] == [0.0, 4.0]
    assert (spectrogram["start"], spectrogram["seconds"]) == (0.0, 4.0)
    assert spectrogram["hz_ticks"][0] == [pytest.approx(0.0, abs=0.1), 125]
    assert [m["layer"] for m in why["feature_maps"]] == ["block1_relu", "block2_relu", "block3_relu"]
    assert set(why["timings"]) == {"explain_s"}


def test_a_long_clip_has_a_timeline(client):
    answer = post(client, encoded("WAV", seconds=9.0)).json()
    assert [w["start"] for w in answer["windows"]] == [0.0, 2.0, 4.0, 5.0]
    assert 0 <= answer["deciding_window"] < 4


def test_too_large_is_413_also_without_a_content_length(client):
    big = encoded("WAV", seconds=10.0, rate=96000)  # ~1.9 MB of samples, over the 2 MB limit with the form
    big = big + b"\0" * 200_000
    declared = post(client, big)
    assert declared.status_code == 413

    def chunks():
        for _ in range(30):
            yield b"x" * 100_000

    streamed = client.post(
        "/api/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert streamed.status_code == 413
    # the same answer both ways, in JSON as every other refusal (a declared length got plain text)
    expected = {"detail": "the upload is larger than the 1.90735 MB this server takes (--max-upload-mb)"}
    assert declared.json() == streamed.json() == expected


@pytest.fixture(scope="module")
def guarded_server():
    """UploadGuard in front of a route that reads an upload, on a real server (the test client
    sends a body whole): a loopback port, a 1 s idle limit, 1000 bytes at most."""
    import threading

    import uvicorn
    from fastapi import FastAPI, UploadFile

    from freqquest.serving.app import UploadGuard

    app = FastAPI()
    app.add_middleware(UploadGuard, max_bytes=1000, idle_s=1.0)

    @app.post("/up")
    def up(file: UploadFile) -> dict:
        return {"bytes": len(file.file.read())}

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)


def raw_request(port: int, body: bytes, length: int, timeout: float = 10.0) -> tuple[bytes, float]:
    """POST `body` with `length` declared, the connection left open: (the answer, seconds to it)."""
    head = (
        f"POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        started = time.time()
        s.sendall(head + body)
        answer = s.recv(65536)
        seconds = time.time() - started
        headers, _, content = answer.partition(b"\r\n\r\n")
        expected = int(
            next(h for h in headers.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
        )
        while len(content) < expected:
            content += s.recv(65536)
        return headers + b"\r\n\r\n" + content, seconds


def test_an_upload_that_stops_arriving_is_given_up_with_408(guarded_server):
    """A body shorter than its Content-Length held the connection with no timeout."""
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF'
    answer, seconds = raw_request(guarded_server, body, length=900)
    assert answer.startswith(b"HTTP/1.1 408") and b"application/json" in answer
    assert answer.endswith(b'{"detail":"the upload stopped arriving: nothing for 1 s"}')
    assert 0.9 < seconds < 5


def test_the_guard_refuses_a_declared_length_at_once_and_passes_a_small_upload(guarded_server):
    answer, seconds = raw_request(guarded_server, b"", length=10**12)
    assert answer.startswith(b"HTTP/1.1 413") and b"application/json" in answer and seconds < 1
    assert b"larger than the 0.000953674 MB this server takes" in answer
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF0123\r\n--b--\r\n'
    answer, _ = raw_request(guarded_server, body, length=len(body))
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"bytes":8}')


def test_not_audio_is_415_whatever_its_name(client):
    response = post(client, b"<html>certainly not audio</html>" * 10, name="sneaky.wav")
    assert response.status_code == 415
    assert "sneaky.wav is not an audio file" in response.json()["detail"]


def test_corrupt_and_too_long_clips_are_422(client):
    response = post(client, b"RIFF\x24\x08\x00\x00WAVEfmt " + b"\x01" * 40, name="cut.wav")
    assert response.status_code == 422 and "cut.wav could not be decoded" in response.json()["detail"]
    response = post(client, encoded("WAV", seconds=13.0, rate=8000))
    assert (
        response.status_code == 422
        and "13.0 s long; this server takes clips of at most 12 s" in response.json()["detail"]
    )


def test_no_upload_is_kept_after_any_request(client, uploads):
    for data in (encoded("WAV"), b"not audio at all", b"RIFF\x24\x08\x00\x00WAVEfmt "):
        post(client, data)
    assert [p for p in os.listdir(uploads) if p.startswith("freqquest-upload-")] == []


def test_concurrent_requests_get_what_they_would_alone(client):
    clips = [encoded("WAV", seconds=1.0 + k / 2) for k in range(4)]
    alone = [post(client, c).json()["top"] for c in clips]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda c: post(client, c).json()["top"], clips * 2))
    assert together == alone * 2


def test_a_full_queue_is_503_at_once_and_a_freed_worker_answers_again(scratch_run, uploads):
    """One worker and no queue: while a request holds the worker, another is refused at once."""
    import threading

    app = create_app(scratch_run, max_seconds=12.0, workers=1, queue=0)
    service = app.state.service
    entered, release = threading.Event(), threading.Event()
    predict = service.predictor.predict

    def slow(path, *args, **kwargs):
        entered.set()
        release.wait(60)
        return predict(path, *args, **kwargs)

    service.predictor.predict = slow
    with TestClient(app) as client, concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, client, encoded("WAV"))
        assert entered.wait(60)
        refused = post(client, encoded("WAV"), path="/api/explain")
        assert (
            refused.status_code == 503
            and "the server is busy (1 requests answered or waiting)" in refused.json()["detail"]
        )
        release.set()
        assert first.result().status_code == 200
        assert post(client, encoded("WAV")).status_code == 200
    with pytest.raises(ValueError, match="workers must be at least 1"):
        create_app(scratch_run, workers=0)


def test_sniffing_reads_the_content_not_the_name():
    assert sniff(encoded("WAV")[:16]) == "WAV" and sniff(encoded("FLAC", subtype="PCM_16")[:16]) == "FLAC"
    assert (
        sniff(encoded("OGG", subtype="VORBIS")[:16]) == "OGG"
        and sniff(b"ID3\x04") == "MP3"
        and sniff(b"\xff\xfb\x90") == "MP3"
    )
    assert sniff(b"%PDF-1.7") is None and sniff(b"") is None


def test_the_server_listens_on_loopback_by_default():
    from freqquest.serve import parse_args

    assert parse_args(["runs/x"]).host == "127.0.0.1"


def test_a_taken_port_is_refused_at_once_naming_its_holder(scratch_run):
    """Before the run loads (tens of seconds), the port is tried: exit 2 and the process that holds it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen();"
         "print(s.getsockname()[1], flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        port = holder.stdout.readline().strip()
        started = time.time()
        answer = subprocess.run(
            [sys.executable, "-m", "freqquest.serve", str(scratch_run), "--port", port],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answer.returncode == 2 and time.time() - started < 5
        assert f"127.0.0.1:{port} cannot be listened on by process {holder.pid} (" in answer.stderr
        assert "Address already in use; stop it, or choose another --port" in answer.stderr
        assert "tensorflow" not in answer.stderr.lower()  # refused before anything heavy loaded
    finally:
        holder.kill()
        holder.wait()


def test_serve_says_which_run_it_serves_before_loading_it(birdnet_run):
    process = subprocess.Popen(
        [sys.executable, "-m", "freqquest.serve", str(birdnet_run), "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first = process.stdout.readline()
    finally:
        process.kill()
        process.wait()
    assert (
        first.startswith(f"serving {birdnet_run} (birdnet-embedding, trained on ")
        and "/demo); a model of the synthetic demo" in first
    )


# -- the page in a real browser ----------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="no system Chromium here (CI installs it with apt-get)"
)


@contextlib.contextmanager
def serving(run):
    """The real command serving `run` on a free loopback port; its address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "freqquest.serve", str(run), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.5)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(scratch_run):
    with serving(scratch_run) as url:
        yield url


def browser(playwright, *extra):
    assert CHROMIUM, "CI needs the system Chromium (apt-get install chromium)"
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            *extra,
        ],
    )


@needs_chromium
def test_the_page_shows_the_predictions_and_the_heatmap_of_an_uploaded_clip(server, lowrate_demo, tmp_path):
    from playwright.sync_api import sync_playwright

    clip = sorted((lowrate_demo / "test" / "test").iterdir())[5]
    with sync_playwright() as p:
        chromium = browser(p)
        page = chromium.new_page()
        page.goto(server)
        page.wait_for_function("document.getElementById('model').textContent.startsWith('Run: cnn + logreg + svm')")
        assert page.locator("#demo").is_visible()  # trained on the synthetic demo, and the page says so
        assert "trained on the synthetic demo" in page.inner_text("#demo")
        page.set_input_files("#file", str(clip))
        page.wait_for_selector("#result[data-ready='true']", timeout=60_000)  # the bars come first
        assert int(page.get_attribute("#waveform", "data-time-ticks")) >= 3  # the waveform has a time axis
        assert page.locator("#classes li").count() == 5
        assert page.locator("#classes li").first.locator("span").first.inner_text() in CLASSES
        page.wait_for_selector("#spectrogram[data-heatmap='map']", timeout=60_000)  # then why
        assert (
            page.locator("#why").is_visible()
            and page.inner_text("#spectrogram-title") == "log-Mel, the window that decided (0.00-4.00 s)"
        )
        assert page.get_attribute("#waveform", "data-explained") == ""  # the whole window explained: no part marked
        assert page.locator("#error").is_hidden()
        page.uncheck("#overlay")
        assert page.get_attribute("#spectrogram", "data-heatmap") == "none"
        page.set_input_files("#file", {"name": "notes.wav", "mimeType": "audio/wav", "buffer": b"just words, no sound"})
        page.wait_for_selector("#error:not([hidden])")
        assert page.inner_text("#error").startswith("415: notes.wav is not an audio file")
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        chromium.close()


@needs_chromium
def test_the_page_marks_on_the_waveform_the_part_of_the_window_explained(birdnet_run, demo_root):
    """BirdNET hears 3 s of the 4 s window: the waveform shows which, as the PNG and the title name it."""
    from playwright.sync_api import sync_playwright

    clip = sorted((demo_root / "test" / "test").iterdir())[0]
    with serving(birdnet_run) as url, sync_playwright() as p:
        chromium = browser(p)
        page = chromium.new_page()
        page.goto(url)
        page.set_input_files("#file", str(clip))
        page.wait_for_selector("#spectrogram[data-heatmap='map']", timeout=60_000)
        start, end = map(float, page.get_attribute("#waveform", "data-explained").split("-"))
        assert end - start == pytest.approx(3.0, abs=0.01) and 0 <= start and end <= 4.0
        assert (
            f"the 3 s explained ({start:.2f}-{end:.2f} s) of the window that decided (0.00-4.00 s)"
            in page.inner_text("#spectrogram-title")
        )
        chromium.close()


@needs_chromium
def test_the_page_records_from_the_microphone(server, demo_root, tmp_path):
    from playwright.sync_api import sync_playwright

    clip = sorted((demo_root / "train" / "train" / "siren").iterdir())[0]
    with sync_playwright() as p:
        chromium = browser(
            p,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={clip}",
            "--autoplay-policy=no-user-gesture-required",
        )
        page = chromium.new_page()
        page.goto(server)
        page.click("#record")
        page.wait_for_function("document.getElementById('recording').textContent.includes('recording')", timeout=20_000)
        page.wait_for_timeout(2500)
        page.click("#record")
        page.wait_for_selector("#result[data-ready='true']", timeout=60_000)
        assert "recording.wav" in page.inner_text("#notes") and page.locator("#classes li").count() == 5
        chromium.close()
