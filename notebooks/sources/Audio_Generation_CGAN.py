# %% [markdown]
# # The Frequency Quest: a class-conditional GAN that synthesizes clips
#
# The run of `python Audio_Generation_CGAN.py`, with the generated spectrograms and audio players shown as it
# learns, the evaluation, and the generated clips to download. Every cell calls the `freqquest` package.
#
# **Kaggle**: add the competition data, switch on a GPU, and either switch internet on and set `REPO_URL`, or add
# the freqquest repository as a dataset; then "Run all". Outputs land in `/kaggle/working/` (Output tab).
#
# **Colab**: Runtime > Change runtime type > GPU; put the competition under `/content/` (or set `DATA`), set
# `REPO_URL`, Run all. With no competition data it trains on the synthetic demo, and says so.

# %% tags=["parameters"]
DATA = None  # competition root; None: search ./data, /kaggle/input, /content, else the demo
DEMO = False  # True: the synthetic demo competition, whatever is attached
LOSS = "hinge"  # hinge | bce | wgan-gp
EPOCHS = 100
BATCH_SIZE = 32
WIDTH = 16  # filters of the networks' narrowest layer
LATENT_DIM = 64
MODE_SEEKING_WEIGHT = 0.0  # > 0 pushes samples of one class apart (more diverse, less recognizable here)
DIFF_AUGMENT = False  # the discriminator sees clips randomly rolled and partly silenced
SAMPLE_EVERY = 5  # epochs between spectrogram grids and .wav files
GRIFFIN_LIM_ITERS = 32
SEED = 42
EVALUATE = True  # conditional accuracy, Fréchet distance, diversity, train-on-synthetic (trains three small classifiers)
EVAL_PER_CLASS = 10  # generated and real clips per class in the evaluation
EVAL_PRESET = "scratch"  # classification preset of the evaluation's networks
GENERATE_PER_CLASS = 10  # clips per class written for download at the end
RUN_DIR = None  # None: runs/<time>-cgan-<loss> (under /kaggle/working on Kaggle)
GENERATED_DIR = None  # None: <run>/generated
CACHE_DIR = None  # feature cache; None: ./cache
WORKERS = None  # processes for features and Griffin-Lim; None: all cores
REPO_URL = ""  # git address of the freqquest repository, cloned when the package is not found otherwise

# %%
# freqquest: setup

# %%
import json
import logging
import os
import shutil

import pandas as pd
from IPython.display import Audio, FileLink, Image, display

from freqquest import paths
from freqquest.config import GanConfig
from freqquest.gan.run import EVALUATION, GanOptions, format_evaluation, generate, per_class_table, run_gan_training
from freqquest.training import describe_strategy, select_strategy

logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
gan_config = GanConfig(loss=LOSS, epochs=EPOCHS, batch_size=BATCH_SIZE, width=WIDTH, latent_dim=LATENT_DIM,
                       mode_seeking_weight=MODE_SEEKING_WEIGHT, diff_augment=DIFF_AUGMENT, sample_every=SAMPLE_EVERY,
                       griffin_lim_iters=GRIFFIN_LIM_ITERS, seed=SEED)
run_dir = RUN_DIR or paths.default_run_dir(f"cgan-{LOSS}")
print(f"platform: {paths.platform_name()}; {describe_strategy(select_strategy())}")
print(f"GAN: {gan_config}")

# %% [markdown]
# ## Training
# Every `SAMPLE_EVERY` epochs: a grid of generated log-Mel spectrograms (the same noise each time, one column per
# class) and one clip per class after Griffin-Lim, shown below as they are written. The checkpoint is saved every
# epoch: after an interruption, `python Audio_Generation_CGAN.py --resume <run>` continues with the same losses.


# %%
def show_samples(epoch, grid_path, wav_paths):
    display(Image(grid_path))
    for name, wav in wav_paths.items():
        print(f"epoch {epoch}: {name}")
        display(Audio(filename=wav))


run_dir = run_gan_training(GanOptions(data=DATA, demo=DEMO, run_dir=run_dir, cache_dir=CACHE_DIR, workers=WORKERS,
                                      evaluate=EVALUATE, eval_per_class=EVAL_PER_CLASS, eval_preset=EVAL_PRESET,
                                      gan=gan_config, on_samples=show_samples))
display(Image(os.path.join(run_dir, "losses.png")))

# %% [markdown]
# ## How good are the clips?
# Conditional accuracy (does a classifier hear the class that was asked for?) beside real clips through the same
# Griffin-Lim round trip (the ceiling), an untrained generator and chance; Fréchet distance in the classifier's
# embedding beside two halves of the real clips (the floor); diversity; distance to the nearest real clip
# (memorization); and accuracy on held-out recordings when training on synthetic clips.

# %%
if EVALUATE:
    with open(os.path.join(run_dir, EVALUATION)) as f:
        evaluation = json.load(f)
    print(format_evaluation(evaluation))
    display(per_class_table(evaluation))

# %% [markdown]
# ## Generated clips to keep
# `GENERATE_PER_CLASS` clips of every class as 16-bit .wav files, listed in `generated.csv`, and zipped for download.

# %%
generated_dir = GENERATED_DIR or os.path.join(run_dir, "generated")
listing = pd.read_csv(generate(run_dir, GENERATE_PER_CLASS, generated_dir, workers=WORKERS))
for name, rows in listing.groupby("class"):
    print(name)
    display(Audio(filename=os.path.join(generated_dir, rows["file"].iloc[0])))
archive = shutil.make_archive(generated_dir, "zip", generated_dir)
display(FileLink(os.path.relpath(archive)))
if paths.on_colab():
    from google.colab import files

    files.download(archive)
