"""The picture of an explanation (serving/explain.py): one PNG a person reads, with the waveform and
the windows named, the explained window's spectrogram with the evidence over it, the timeline of a
long clip, and the feature maps on the spectrogram's axes."""

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..figures import save_figure  # noqa: E402
from ..runs import DEMO_NOTE  # noqa: E402
from .explain import FEATURE_CHANNELS, Explanation  # noqa: E402
from .palette import class_colours  # noqa: E402
from .predictor import Prediction  # noqa: E402


def plot_explanation(explanation: Explanation, path, demo: bool = False) -> None:
    """One PNG: the waveform (time axis, the deciding window and the window explained), the explained
    window's spectrogram with the map and its colour bar (or the occlusion bars), the per-window
    timeline of a long clip in the classes' own colours, and the feature maps on time and frequency
    axes with their colour scales; titles wrapped, never cut. `demo`: the run was trained on the
    synthetic demo, which the picture says above everything, as the page and predict do."""
    e, p = explanation, explanation.prediction
    heights = [2.3, 3.6] + [2.2] * (len(p.starts) > 1) + [2.6] * bool(e.feature_maps)
    columns = max(1, FEATURE_CHANNELS * len(e.feature_maps))
    fig = plt.figure(figsize=(max(13, 1.7 * columns), sum(heights) + 0.6), layout="constrained")
    grid = fig.add_gridspec(len(heights), columns, height_ratios=heights)
    _plot_waveform(fig.add_subplot(grid[0, :]), e)
    _plot_spectrogram(fig, fig.add_subplot(grid[1, :]), e)
    row = 2
    if len(p.starts) > 1:
        _plot_timeline(fig.add_subplot(grid[row, :]), p)
        row += 1
    for b, (name, maps) in enumerate(e.feature_maps.items()):
        for c, image in enumerate(maps):
            ax = fig.add_subplot(grid[row, b * FEATURE_CHANNELS + c])
            extent = (e.window_start, e.window_start + e.window_seconds, 0, e.spectrogram.shape[0])
            shown = ax.imshow(image, origin="lower", aspect="auto", cmap="viridis", extent=extent)
            bar = fig.colorbar(shown, ax=ax, fraction=0.08, pad=0.02)
            bar.ax.tick_params(labelsize=6)
            bar.set_label("activation", fontsize=6)
            ticks = e.hz_ticks()[::2]
            ax.set_yticks([band + 0.5 for band, _ in ticks], [f"{hz:g}" for _, hz in ticks])
            ax.tick_params(labelsize=7)
            ax.set_xlabel("time (s)", fontsize=7)
            if c == 0:
                ax.set_ylabel("frequency (Hz)", fontsize=7)
                top = p.classes[p.top]
                ax.set_title(
                    _wrapped(f"feature maps of {name}: the channels that tell {top} apart", 40), fontsize=8, loc="left"
                )
    if demo:
        fig.suptitle(DEMO_NOTE, color="firebrick", fontsize=11)
    save_figure(fig, path, tight=False)


def _wrapped(text: str, width: int = 130) -> str:
    return "\n".join(textwrap.wrap(text, width))


def _plot_waveform(ax, e: Explanation) -> None:
    p = e.prediction
    seconds = np.arange(len(e.waveform)) / e.sample_rate
    ax.plot(seconds, e.waveform, linewidth=0.5, color="#0b63c5")
    ax.axvspan(*p.deciding_span, alpha=0.12, color="grey", label=p.describe_deciding())
    if e.explained_span != p.deciding_span:
        start, end = e.explained_span
        ax.axvspan(start, end, alpha=0.18, color="tab:orange", label=f"explained ({start:.2f}-{end:.2f} s)")
    title = f"{p.path}: " + ", ".join(f"{c} {v:.2f}" for c, v in p.top_k(3))
    ax.set(xlabel="time (s)", ylabel="amplitude", title=_wrapped(title, 110))
    ax.legend(loc="upper right", fontsize=7)


def _plot_spectrogram(fig, ax, e: Explanation) -> None:
    p = e.prediction
    extent = (e.window_start, e.window_start + e.window_seconds, 0, e.spectrogram.shape[0])
    ax.imshow(e.spectrogram, origin="lower", aspect="auto", cmap="magma", extent=extent)
    if e.heatmap is not None:  # opaque where the evidence is, clear where there is none: the spectrogram shows
        heat = ax.imshow(
            e.heatmap,
            origin="lower",
            aspect="auto",
            cmap="turbo",
            alpha=0.85 * np.clip(e.heatmap, 0, 1),
            extent=extent,
            vmin=0,
            vmax=1,
        )
        fig.colorbar(heat, ax=ax, fraction=0.03, pad=0.01, label="evidence (1: its peak; clear: none)")
    if e.occlusion is not None:
        lost = ax.twinx()
        edges = np.linspace(extent[0], extent[1], len(e.occlusion) + 1)
        lost.bar(edges[:-1], e.occlusion, width=np.diff(edges), align="edge", alpha=0.5, color="tab:cyan")
        lost.set_ylabel(f"{p.classes[p.top]} probability lost")
    ticks = e.hz_ticks()
    ax.set_yticks([band + 0.5 for band, _ in ticks], [f"{hz:g}" for _, hz in ticks])
    looped = f" The clip is {p.seconds:.2f} s long, looped to fill the window." if p.seconds < e.window_seconds else ""
    ax.set(xlabel="time (s)", ylabel="frequency (Hz)")
    ax.set_title(_wrapped(f"{e.title}; {e.note}.{looped}"), fontsize=9)


def _plot_timeline(ax, p: Prediction) -> None:
    colours = class_colours(p.classes)
    for k, name in enumerate(p.classes):
        ax.plot(
            p.starts + p.window_seconds / 2, p.windows[:, k], marker="o", markersize=3, label=name, color=colours[name]
        )
    ax.set(
        xlabel="time (s), the middle of each window",
        ylabel="probability",
        ylim=(0, 1),
        title=f"each window ({p.shown})",
    )
    ax.legend(fontsize=7, ncol=len(p.classes))
