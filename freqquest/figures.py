"""Figures every stage writes (the classifier's reports, the CGAN's samples and losses, the
explanations): matplotlib without a display, each figure written atomically."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .io import atomic_path  # noqa: E402


def save_figure(fig, path, tight: bool = True) -> None:
    """`tight`: let matplotlib fit the axes (a figure laid out by hand says False)."""
    if tight:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_history(history_csv, path, panels: dict, title: str | None) -> None:
    """Curves per epoch from a Keras history.csv: one panel per title, `panels` naming the columns
    it draws and their legend labels (columns the file lacks are passed over)."""
    history = pd.read_csv(history_csv)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (panel, columns) in zip(axes[0], panels.items()):
        for column, label in columns.items():
            if column in history:  # points: a single epoch shows
                ax.plot(history["epoch"] + 1, history[column], marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(panel)
        ax.legend()
    if title:
        fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
