"""A page to judge the CGAN by ear: per class, generated clips beside held-out real ones, each with
an audio player, written into the run folder with its clips (nothing loaded from elsewhere)."""

import html
import os

import numpy as np

from ..competition.audio import load_clip
from ..io import write_text_atomic
from ..runs import LISTENING_DIR, LISTENING_PAGE
from .inversion import write_wav


def write_listening_page(
    run_dir,
    classes: list,
    generated: np.ndarray,
    generated_labels: np.ndarray,
    real_paths: list,
    real_labels: np.ndarray,
    audio,
    per_class: int,
    how_chosen: str,
) -> str:
    """Write up to `per_class` generated clips (float32 audio at `audio`'s rate) and real files of
    each class as 16-bit WAVs under <run>/listening/, and the page that plays them side by side;
    the page's path."""
    folder = os.path.join(run_dir, LISTENING_DIR)
    rows = []
    for k, name in enumerate(classes):
        made = np.flatnonzero(generated_labels == k)[:per_class]
        real = np.flatnonzero(np.asarray(real_labels) == k)[:per_class]
        generated_files = []
        for n, i in enumerate(made):
            generated_files.append(f"{LISTENING_DIR}/{name}_generated_{n + 1}.wav")
            write_wav(os.path.join(run_dir, generated_files[-1]), generated[i], audio.sample_rate)
        real_files = []
        for n, i in enumerate(real):
            real_files.append(f"{LISTENING_DIR}/{name}_real_{n + 1}.wav")
            write_wav(os.path.join(run_dir, real_files[-1]), load_clip(real_paths[i], audio), audio.sample_rate)
        rows.append(_class_rows(name, generated_files, real_files))
    page = os.path.join(run_dir, LISTENING_PAGE)
    os.makedirs(folder, exist_ok=True)
    write_text_atomic(page, PAGE.format(how=html.escape(how_chosen), rows="\n".join(rows)))
    return page


def _class_rows(name: str, generated: list, real: list) -> str:
    def players(files):
        return "".join(
            f'<figure><audio controls preload="none" src="{html.escape(f)}"></audio>'
            f"<figcaption>{html.escape(os.path.basename(f))}</figcaption></figure>"
            for f in files
        )

    return (
        f'<section><h2>{html.escape(name)}</h2><div class="pair"><div><h3>generated</h3>{players(generated)}'
        f"</div><div><h3>real, held out of training</h3>{players(real)}</div></div></section>"
    )


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>freqquest CGAN: listen</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; max-width: 70em; }}
.pair {{ display: grid; grid-template-columns: 1fr 1fr; gap: 2em; }}
figure {{ margin: 0.3em 0; }} figcaption {{ font-size: 0.8em; color: #555; }}
</style>
</head>
<body>
<h1>The CGAN's clips beside real ones</h1>
<p>{how}</p>
{rows}
</body>
</html>
"""
