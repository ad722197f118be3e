#!/usr/bin/env python3
"""Requests/s and latency of `python -m freqquest.serve`, on loopback, bounded in count and time.

  python benchmarks/benchmark_serve.py --run runs/<run>                  # this checkout's server
  python benchmarks/benchmark_serve.py --run runs/<run> --repo /tmp/old  # another checkout's, for a side-by-side

The server runs as its own process (the real command, its defaults); this process is the
clients: `--requests` uploads of one `--seconds`-long clip (a real UrbanSound8K clip of
../shared looped to length when it is there, else a synthetic one), sent by 1 and by 10
concurrent clients. "predict" is `POST /api/predict` as the page first calls it; "predict +
explain" is that, then `POST /api/explain` of the same file (a checkout without /api/explain
answers both in one predict). Prints requests/s, p50 and p95 seconds, the status codes, and the
server's peak memory.
"""

import argparse
import concurrent.futures
import io
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import soundfile as sf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_CLIP = os.path.join(REPO, "..", "shared", "data", "us8k5", "siren", "102871-8-0-0.flac")


def clip_bytes(seconds: float) -> bytes:
    if os.path.isfile(SHARED_CLIP):
        y, rate = sf.read(SHARED_CLIP, dtype="float32", always_2d=True)
        y = y.mean(axis=1)
    else:
        rate = 22050
        t = np.arange(int(4 * rate)) / rate
        y = (0.3 * np.sin(2 * np.pi * (700 + 300 * np.sin(2 * np.pi * t)) * t)).astype(np.float32)
    y = np.tile(y, int(np.ceil(seconds * rate / len(y))))[: int(seconds * rate)]
    buffer = io.BytesIO()
    sf.write(buffer, y, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(repo: str, run: str, port: int, timeout: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "freqquest.serve", run, "--port", str(port)],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONPATH=repo),
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            sys.exit(f"the server of {repo} stopped at start-up (exit {process.returncode})")
        time.sleep(0.5)
    process.kill()
    sys.exit(f"the server of {repo} did not answer within {timeout:.0f} s")


def one_request(url: str, data: bytes, explain: bool, has_explain: bool, timeout: float) -> tuple:
    """(seconds, the last status code) of one client's turn: predict, then explain when asked and served."""
    started = time.time()
    files = {"file": ("clip.wav", data, "audio/wav")}
    with httpx.Client(timeout=timeout) as client:
        status = client.post(f"{url}/api/predict", files=files).status_code
        if explain and has_explain and status == 200:
            status = client.post(f"{url}/api/explain", files=files).status_code
    return time.time() - started, status


def measure(
    url: str, data: bytes, clients: int, requests: int, explain: bool, has_explain: bool, timeout: float
) -> dict:
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(lambda _: one_request(url, data, explain, has_explain, timeout), range(requests)))
    wall = time.time() - started
    latencies = np.array([d[0] for d in done])
    statuses = {}
    for _, status in done:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "requests/s": requests / wall,
        "p50 s": float(np.percentile(latencies, 50)),
        "p95 s": float(np.percentile(latencies, 95)),
        "statuses": statuses,
    }


def server_peak_mb(pid: int):
    """The server process's peak resident memory in MB, where /proc tells (Linux), else None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a finished run folder")
    p.add_argument("--repo", default=REPO, help="the checkout whose server runs (default: this one)")
    p.add_argument("--requests", type=int, default=50, help="requests per measurement (default 50)")
    p.add_argument("--seconds", type=float, default=5.0, help="the uploaded clip's length (default 5)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a request may take (default 120)")
    a = p.parse_args()
    run = os.path.abspath(a.run)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(os.path.abspath(a.repo), run, port, timeout=300)
    try:
        has_explain = "/api/explain" in httpx.get(f"{url}/openapi.json").json()["paths"]
        data = clip_bytes(a.seconds)
        one_request(url, data, True, has_explain, a.timeout)  # warm
        print(
            f"server of {a.repo} on {url}; run {run}; {a.requests} requests of a {a.seconds:g} s clip; "
            f"{os.cpu_count()} cores"
            + ("" if has_explain else " (no /api/explain: predict answers with the explanation)")
        )
        print(f"{'what':<20}{'clients':>8}{'requests/s':>12}{'p50 s':>9}{'p95 s':>9}  statuses")
        for explain in (False, True):
            for clients in (1, 10):
                r = measure(url, data, clients, a.requests, explain, has_explain, a.timeout)
                label = "predict + explain" if explain else "predict"
                print(
                    f"{label:<20}{clients:>8}{r['requests/s']:>12.2f}{r['p50 s']:>9.2f}{r['p95 s']:>9.2f}  "
                    f"{r['statuses']}",
                    flush=True,
                )
        peak = server_peak_mb(server.pid)
        if peak is not None:
            print(f"server peak memory (VmHWM): {peak:.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
