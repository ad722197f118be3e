"""The companion notebooks: built from their sources, free of outputs, and run top to bottom on
the demo with tiny parameters (papermill), writing what a user comes for."""

import importlib.util
import json
import os

import nbformat
import pandas as pd
import papermill
import pytest
import soundfile as sf

from .conftest import REPO

NOTEBOOKS = REPO / "notebooks"
CLASSES = ["dog_bark", "drilling", "engine_idling", "siren", "street_music"]


def _build_module():
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_notebooks = _build_module()


@pytest.mark.parametrize("name", build_notebooks.NOTEBOOKS)
def test_committed_notebook_is_its_source_built(name):
    committed = (NOTEBOOKS / f"{name}.ipynb").read_text()
    assert committed == nbformat.writes(build_notebooks.build(name)) + "\n", "run python notebooks/build_notebooks.py"


@pytest.mark.parametrize("name", build_notebooks.NOTEBOOKS)
def test_notebook_has_no_outputs_a_parameters_cell_and_the_setup_cell(name):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert code[0].metadata["tags"] == ["parameters"] and "REPO_URL = " in code[0].source
    assert code[1].source == (NOTEBOOKS / "sources" / "setup_cell.py").read_text().strip()


def _setup_cell_namespace():
    namespace = {"REPO_URL": ""}
    exec(
        (NOTEBOOKS / "sources" / "setup_cell.py").read_text(), namespace
    )  # freqquest is importable here: only definitions run
    return namespace


def test_setup_cell_finds_the_repository_from_the_notebooks_folder(monkeypatch, tmp_path):
    setup = _setup_cell_namespace()
    monkeypatch.chdir(NOTEBOOKS)
    assert setup["find_checkout"]() == str(REPO)
    monkeypatch.chdir(tmp_path)
    assert setup["find_checkout"]() is None


def test_setup_cell_installs_only_what_is_missing(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# a comment\nnumpy>=1.0  # installed\n\nno-such-package-freqquest==1.0\nscikit-learn>=1.3\n"
    )
    assert _setup_cell_namespace()["missing_requirements"](str(requirements)) == ["no-such-package-freqquest==1.0"]


def _execute(name, tmp_path, monkeypatch, parameters) -> nbformat.NotebookNode:
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports this checkout
    output = tmp_path / f"{name}.out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(output),
        parameters=parameters,
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    return nbformat.read(output, as_version=4)


def _displayed(notebook, mime: str) -> int:
    return sum(
        mime in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )


def _html_outputs(notebook) -> list:
    return [
        output.get("data", {}).get("text/html", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    ]


def _audio_players(notebook) -> int:
    return sum("<audio" in html for html in _html_outputs(notebook))


@pytest.mark.parametrize(
    "preset,members,folds,networks", [("default", ["birdnet"], 2, 0), ("scratch", ["network", "logreg", "svm"], 1, 1)]
)
def test_classification_notebook_runs_on_the_demo(demo_root, tmp_path, monkeypatch, preset, members, folds, networks):
    run, submission = tmp_path / "run", tmp_path / "submission.csv"
    notebook = _execute(
        "Audio_Classification_Kaggle",
        tmp_path,
        monkeypatch,
        dict(
            DATA=str(demo_root),
            RECIPE=f"--preset {preset} --epochs 1 --folds {folds}",
            RUN_DIR=str(run),
            OUT=str(submission),
            CACHE_DIR=str(tmp_path / "cache"),
            WORKERS=1,
            N_MISTAKES=2,
        ),
    )
    assert not (tmp_path / "data").exists()  # the given competition is used throughout, no demo built beside it
    frame = pd.read_csv(submission)
    sample = pd.read_csv(demo_root / "sample_submission.csv")
    assert frame.columns.tolist() == ["ID", "Class"] and frame["ID"].tolist() == sample["ID"].tolist()
    assert set(frame["Class"]) <= set(CLASSES)
    assert (tmp_path / "class_examples.png").is_file()  # beside the run: the run folder is the run's alone
    for artifact in ("confusion_matrix.png", "validation_predictions.csv"):
        assert (run / artifact).is_file(), artifact
    curves = [run / f"fold_{k}" / "training_curves.png" for k in range(1, folds + 1)]
    assert sum(path.is_file() for path in curves) == networks * folds
    # class examples, the confusion matrix, each fold's curves
    assert _displayed(notebook, "image/png") == 2 + networks * folds
    table = [html for html in _html_outputs(notebook) if "validation accuracy" in html]
    rows = members + ["the blend alone", "the recipe, new recordings", "the recipe, reused recordings"]
    assert len(table) == 1 and all(f"<th>{name}</th>" in table[0] for name in rows)
    mistakes = len(pd.read_csv(run / "validation_predictions.csv").query("`class` != predicted").head(2))
    assert _audio_players(notebook) == len(CLASSES) + mistakes


def test_cgan_notebook_runs_on_the_demo(demo_root, tmp_path, monkeypatch):
    run, generated = tmp_path / "gan", tmp_path / "generated"
    notebook = _execute(
        "Audio_Generation_CGAN",
        tmp_path,
        monkeypatch,
        dict(
            DATA=str(demo_root),
            RECIPE="--epochs 1 --width 4 --latent-dim 8 --batch-size 16 --sample-every 1 --griffin-lim-iters 2",
            EVAL_PER_CLASS=2,
            GENERATE_PER_CLASS=1,
            RUN_DIR=str(run),
            GENERATED_DIR=str(generated),
            CACHE_DIR=str(tmp_path / "cache"),
            WORKERS=1,
        ),
    )
    listing = pd.read_csv(generated / "generated.csv")
    assert sorted(listing["class"]) == CLASSES
    for file in listing["file"]:
        info = sf.info(str(generated / file))
        assert (info.samplerate, info.frames, info.subtype) == (22050, 88200, "PCM_16")
    assert (tmp_path / "generated.zip").is_file()
    assert sorted(os.listdir(run / "gan_generated_audio")) == sorted(f"{c}_ep1.wav" for c in CLASSES)
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["clips"]["generated"] == 10 and evaluation["seconds"] < 120
    assert (run / "real_beside_generated.png").is_file()
    assert _displayed(notebook, "image/png") == 3  # the epoch-1 grid (shown live), the loss plot, real beside generated
    assert _audio_players(notebook) == 3 * len(
        CLASSES
    )  # per class: the epoch-1 sample, a real clip and a generated one
    text = "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )
    assert "CGAN evaluation in BirdNET's embedding" in text and "conditional accuracy" in text
