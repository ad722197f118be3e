#!/usr/bin/env python3
"""Build notebooks/*.ipynb from their sources in notebooks/sources/ (jupytext percent format).

The sources are the ones to edit: plain Python that diffs and reviews like code. A code cell that
reads `# freqquest: setup` becomes the shared setup cell (sources/setup_cell.py), so both notebooks
find the package the same way from one copy; the line `# freqquest: recipe options` becomes the
options RECIPE takes, as the script's --help prints them, from the same flags. The built notebooks
carry no outputs.

  python notebooks/build_notebooks.py            # rewrite the .ipynb files
  python notebooks/build_notebooks.py --check    # exit 1 if one is out of step with its source
"""

import argparse
import os
import sys

import jupytext
import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from freqquest.classify.flags import add_recipe_flags  # noqa: E402
from freqquest.gan.flags import add_gan_flags  # noqa: E402

SOURCES = os.path.join(HERE, "sources")
SETUP_CELL = os.path.join(SOURCES, "setup_cell.py")
SETUP_MARKER = "# freqquest: setup"
OPTIONS_MARKER = "# freqquest: recipe options"
RECIPE_FLAGS = {"Audio_Classification_Kaggle": add_recipe_flags, "Audio_Generation_CGAN": add_gan_flags}
NOTEBOOKS = tuple(RECIPE_FLAGS)
KERNEL = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}


def options_help(add_flags) -> str:
    """The options `add_flags` adds, as --help prints them, as comment lines."""
    parser = argparse.ArgumentParser(
        prog="RECIPE",
        usage=argparse.SUPPRESS,
        add_help=False,
        formatter_class=lambda prog: argparse.HelpFormatter(prog, width=116),
    )
    add_flags(parser)
    return "\n".join(f"#   {line}".rstrip() for line in parser.format_help().strip("\n").splitlines())


def build(name: str) -> nbformat.NotebookNode:
    notebook = jupytext.read(os.path.join(SOURCES, name + ".py"), fmt="py:percent")
    with open(SETUP_CELL) as f:
        setup = f.read().strip()
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and cell.source.strip() == SETUP_MARKER:
            cell.source = setup
        cell.source = cell.source.replace(OPTIONS_MARKER, options_help(RECIPE_FLAGS[name]))
        cell.id = f"{name.lower()}-{number:02d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.metadata = KERNEL
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    nbformat.validate(notebook)
    return notebook


def notebook_path(name: str) -> str:
    return os.path.join(HERE, name + ".ipynb")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="compare only; exit 1 when a notebook differs from its source")
    args = p.parse_args()
    stale = []
    for name in NOTEBOOKS:
        text = nbformat.writes(build(name)) + "\n"
        path = notebook_path(name)
        current = open(path).read() if os.path.exists(path) else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {path}")
    if stale:
        print("out of step with notebooks/sources (run python notebooks/build_notebooks.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
