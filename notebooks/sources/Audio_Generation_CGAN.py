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
# the recipe as the script's options, e.g. "--steps 2400 --loss bce"; the preset is gpu (longer and wider) when the
# notebook has a GPU, else cpu (the recipe measured on 2 cores), unless RECIPE names one. The options are:
# freqquest: recipe options
RECIPE = ""
EVALUATE = True  # judged in BirdNET's embedding: accuracy, KID and Fréchet distance, diversity, memorization
EVAL_PER_CLASS = 100  # generated clips per class judged in BirdNET's embedding (and at most as many real ones)
EVAL_DATA = None  # a competition whose training clips (other recordings) evaluate the GAN; None: 20% held out
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

from freqquest.classify.explore import first_readable_clips
from freqquest.competition import paths
from freqquest.competition.dataset import scan_competition
from freqquest.competition.paths import locate_competition
from freqquest.config import AudioConfig
from freqquest.gan.flags import notebook_gan_config
from freqquest.gan.run import GanOptions, format_evaluation, generate, per_class_table, run_gan_training
from freqquest.gan.samples import plot_real_beside_generated
from freqquest.models.training import describe_strategy, gpus_visible, select_strategy
from freqquest.runs import GAN_EVALUATION

logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
gan_config = notebook_gan_config(RECIPE, "gpu" if gpus_visible() else "cpu")
run_dir = RUN_DIR or paths.default_run_dir(f"cgan-{gan_config.loss}")
print(f"platform: {paths.platform_name()}; {describe_strategy(select_strategy())}")
print(f"GAN: {gan_config}")

# %% [markdown]
# ## Training
# Every `--sample-every` epochs: a grid of generated log-Mel spectrograms (the same noise each time, one column per
# class) and one clip per class after Griffin-Lim, shown below as they are written. The checkpoint is saved every
# epoch: after an interruption, `python Audio_Generation_CGAN.py --resume <run>` continues with the same losses.


# %%
def show_samples(epoch, grid_path, wav_paths):
    display(Image(grid_path))
    for name, wav in wav_paths.items():
        print(f"epoch {epoch}: {name}")
        display(Audio(filename=wav))


run_dir = run_gan_training(
    GanOptions(
        data=DATA,
        demo=DEMO,
        run_dir=run_dir,
        cache_dir=CACHE_DIR,
        workers=WORKERS,
        evaluate=EVALUATE,
        eval_per_class=EVAL_PER_CLASS,
        eval_data=EVAL_DATA,
        gan=gan_config,
        on_samples=show_samples,
    )
)
display(Image(os.path.join(run_dir, "losses.png")))

# %% [markdown]
# ## How good are the clips?
# Judged in BirdNET's embedding by a judge that never heard the judged clips nor the GAN's recordings: conditional
# accuracy beside held-out real clips through the same Griffin-Lim path (the ceiling), an untrained generator and
# chance; kernel (KID) and Fréchet distances beside two halves of the real clips (the floor); diversity; each clip's
# distance to its nearest training clip (memorization); and held-out accuracy when training on synthetic clips. Each
# accuracy comes with its 95% interval (bootstrap over generated clips, and over real recordings); `listening.html`
# in the run folder plays generated clips beside held-out real ones, per class.

# %%
if EVALUATE:
    with open(os.path.join(run_dir, GAN_EVALUATION)) as f:
        evaluation = json.load(f)
    print(format_evaluation(evaluation))
    display(per_class_table(evaluation))

# %% [markdown]
# ## Generated clips to keep, beside real ones
# `GENERATE_PER_CLASS` clips of every class as 16-bit .wav files, listed in `generated.csv`, and zipped for download.
# Per class, a real training clip (top row of the picture, first player) beside a generated one (bottom row, second
# player): what the GAN is aiming at, heard and seen the same way.

# %%
generated_dir = GENERATED_DIR or os.path.join(run_dir, "generated")
listing = pd.read_csv(generate(run_dir, GENERATE_PER_CLASS, generated_dir, workers=WORKERS))
audio = AudioConfig()
real = first_readable_clips(scan_competition(locate_competition(DATA, DEMO)[0]), audio)
firsts = listing.groupby("class")["file"].first()
pairs_png = os.path.join(run_dir, "real_beside_generated.png")
plot_real_beside_generated(
    real, {name: os.path.join(generated_dir, file) for name, file in firsts.items()}, audio, pairs_png
)
display(Image(pairs_png))
for name, file in firsts.items():
    print(f"{name}: a real training clip ({os.path.basename(real[name][0])}), then a generated one ({file})")
    display(Audio(real[name][1], rate=audio.sample_rate))
    display(Audio(filename=os.path.join(generated_dir, file)))
archive = shutil.make_archive(generated_dir, "zip", generated_dir)
display(FileLink(os.path.relpath(archive)))
if paths.on_colab():
    from google.colab import files

    files.download(archive)
