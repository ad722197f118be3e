# %% [markdown]
# # The Frequency Quest: the classification pipeline
#
# The pipeline of `python Audio_Classification_Kaggle.py`, step by step, with plots and audio players.
# Every cell calls the `freqquest` package; this notebook holds no pipeline logic of its own.
#
# **Kaggle**: add the competition data ("Add Input"), switch on a GPU accelerator, and either switch internet on
# and set `REPO_URL` below, or add the freqquest repository as a dataset. Then "Run all": the submission lands in
# `/kaggle/working/submission.csv`.
#
# **Colab**: Runtime > Change runtime type > GPU; upload or unzip the competition under `/content/`
# (or set `DATA`), set `REPO_URL` (or open the notebook from GitHub with the repository cloned), then Run all.
#
# With no competition data it runs on a small synthetic demo, and says so.

# %% tags=["parameters"]
# competition root (train/train, test/test, sample_submission.csv); None: ./data, /kaggle/input, /content, else the demo
DATA = None
DEMO = False  # True: the synthetic demo competition, whatever is attached
# the recipe as the script's options, e.g. "--preset scratch --epochs 30 --mixup 0.2"; "": the default preset. They are:
# freqquest: recipe options
RECIPE = ""
WORKERS = None  # feature-extraction processes; None: all cores
RUN_DIR = None  # None: runs/<time>-<members> (under /kaggle/working on Kaggle)
OUT = None  # submission path; None: /kaggle/working/submission.csv on Kaggle, else submissions/submission.csv
CACHE_DIR = None  # feature cache; None: ./cache
N_MISTAKES = 5  # misclassified validation clips to listen to
REPO_URL = ""  # git address of the freqquest repository, cloned when the package is not found otherwise

# %%
# freqquest: setup

# %%
import logging
import os

import pandas as pd
from IPython.display import Audio, Image, display

from freqquest.classify.explore import first_readable_clips, misclassified, plot_class_examples
from freqquest.classify.flags import notebook_recipe
from freqquest.classify.pipeline import ClassificationOptions, default_run_dir, run_classification
from freqquest.competition import paths
from freqquest.competition.audio import load_clip
from freqquest.competition.dataset import describe, preflight, scan_competition
from freqquest.competition.paths import locate_competition
from freqquest.models.training import describe_strategy, select_strategy
from freqquest.runs import HISTORY, fold_dir

logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
audio, train_config = notebook_recipe(RECIPE)
run_dir = RUN_DIR or default_run_dir(train_config)
print(f"platform: {paths.platform_name()}; {describe_strategy(select_strategy())}")
print(f"recipe: {train_config}")

# %% [markdown]
# ## The data
# Class counts, and every file's header read before any training: unreadable files are listed here.

# %%
root, _ = locate_competition(DATA, DEMO)
competition = scan_competition(root)
print(describe(competition, preflight(competition)))
pd.DataFrame({"clips": competition.class_counts()})

# %% [markdown]
# One clip per class: the waveform after loading (mono, resampled, brought to 4 s) and the log-Mel spectrogram the
# models see.

# %%
examples = first_readable_clips(competition, audio)
examples_png = os.path.join(paths.output_base(), "class_examples.png")
plot_class_examples(examples, audio, examples_png)
display(Image(examples_png))
for name, (path, clip) in examples.items():
    print(name, os.path.basename(path))
    display(Audio(clip, rate=audio.sample_rate))

# %% [markdown]
# ## Training
# Features are extracted once and cached; validation holds out whole recordings (the recipe's `--folds` group folds).

# %%
result = run_classification(
    ClassificationOptions(
        data=root, out=OUT, run_dir=run_dir, cache_dir=CACHE_DIR, workers=WORKERS, audio=audio, train=train_config
    )
)

# %% [markdown]
# ## How it went
# The network's training curves per fold (when the recipe has a network); the accuracy of each member of the blend
# alone, of the blend alone, and of the whole recipe (the vote, pseudo-labels and routing) on new recordings (group
# folds) and on reused ones (random folds, as a random split tests); the confusion matrix on new recordings and
# its report.

# %%
for fold in range(train_config.folds if train_config.trains_network else 0):
    display(Image(os.path.join(fold_dir(run_dir, fold), "training_curves.png")))
    display(pd.read_csv(os.path.join(fold_dir(run_dir, fold), HISTORY)).tail(3))
recipe_figures = {
    "the blend alone": result.accuracy_blend_alone,
    "the recipe, new recordings": result.val_accuracy,
    "the recipe, reused recordings": result.reused_accuracy,
}
display(pd.DataFrame({"validation accuracy": result.member_accuracies | recipe_figures}))
display(Image(os.path.join(run_dir, "confusion_matrix.png")))
print(open(os.path.join(run_dir, "report.txt")).read())

# %% [markdown]
# The validation clips the model got most confidently wrong: listen to them.

# %%
mistakes = misclassified(run_dir, N_MISTAKES)
display(mistakes)
for _, row in mistakes.iterrows():
    print(f"{os.path.basename(row['path'])}: {row['class']} heard as {row['predicted']} ({row['confidence']:.2f})")
    display(Audio(load_clip(row["path"], audio), rate=audio.sample_rate))

# %% [markdown]
# ## The submission
# Checked before it is written (header `ID,Class`, every test ID once, in `sample_submission.csv` order, known classes
# only).

# %%
submission = pd.read_csv(result.submission_path)
print(f"{result.submission_path}: {len(submission)} rows")
display(submission.head())
display(submission["Class"].value_counts().to_frame("predicted clips"))
