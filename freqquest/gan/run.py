"""The CGAN runs, step by step: train (or resume), generate, evaluate. The script and the
notebook call these."""
import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from .. import paths
from ..config import AudioConfig, GanConfig, preset_config, read_run_config
from ..dataset import check_trainable, describe, preflight, scan_competition
from ..features import FeatureStore
from ..io import atomic_path, check_folder_writable, write_text_atomic
from ..runs import RunInterrupted, claim_run_folder, write_summary
from ..pipeline import locate_competition
from ..splits import group_split, n_splits
from ..training import load_fold_models, train
from .evaluation import embedding_model, features_of_audio, set_metrics
from .inversion import log_mels_to_audio, scale_log_mel, write_wav
from .samples import SampleWriter, plot_gan_history, sample_log_mels
from .training import HISTORY, build_gan, checkpoint_epochs, load_checkpoint, read_gan_config, train_gan, write_gan_config

log = logging.getLogger(__name__)

EVALUATION = "evaluation.json"
RESUME_COMMAND = "python Audio_Generation_CGAN.py --resume {run_dir}"


@dataclasses.dataclass
class GanOptions:
    data: str | None = None
    demo: bool = False
    run_dir: str | None = None
    cache_dir: str | None = None
    workers: int | None = None
    resume: str | None = None
    resume_epochs: int | None = None  # with resume: train on to this many epochs (more than the run's own)
    overwrite: bool = False  # a run_dir that holds a run is cleared first, not refused
    evaluate: bool = True
    eval_per_class: int = 10
    eval_preset: str = "scratch"  # a classification preset that trains a network
    classifier_run: str | None = None
    holdout_fraction: float = 0.2
    audio: AudioConfig = dataclasses.field(default_factory=AudioConfig)
    gan: GanConfig = dataclasses.field(default_factory=GanConfig)
    on_samples: Callable | None = None  # called as SampleWriter writes samples (see there)


@dataclasses.dataclass
class RealClips:
    """The competition's readable training clips, split by recording into what the GAN learns
    from and a held-out part that only the evaluation sees."""
    classes: list
    features: np.ndarray
    labels: np.ndarray
    groups: list
    gan_idx: np.ndarray
    holdout_idx: np.ndarray


def checked_competition(root, holdout_fraction: float):
    """The competition and its preflight report, checked before any work."""
    competition = scan_competition(root)
    report = preflight(competition)
    log.info(describe(competition, report))
    check_trainable(competition, report, n_splits(1, holdout_fraction))
    return competition, report


def load_real_clips(competition, report, audio: AudioConfig, cache_dir, workers, holdout_fraction: float, seed: int) -> RealClips:
    store = FeatureStore(audio, cache_dir or paths.default_cache_dir(), workers)
    train_set = store.log_mels(competition.train_paths, desc="train log-Mels")
    for path, reason in train_set.failed.items():
        log.warning("skipped unreadable train file %s: %s", path, reason)
    skipped = report.skipped_train | train_set.failed
    usable = np.flatnonzero([p not in skipped for p in competition.train_paths])
    labels = competition.train_labels[usable]
    groups = [competition.train_groups[i] for i in usable]
    gan_idx, holdout_idx = group_split(labels, groups, holdout_fraction, seed)
    return RealClips(competition.classes, np.asarray(train_set.features[usable]), labels, groups, gan_idx, holdout_idx)


def run_gan_training(options: GanOptions) -> str:
    """Train a new CGAN run (or continue options.resume); evaluate it unless told not to. Returns the run folder."""
    started = time.time()
    if options.resume:
        saved = read_gan_config(options.resume)
        gan = saved["gan"]
        if options.resume_epochs is not None:
            done = checkpoint_epochs(options.resume)
            if options.resume_epochs < done:
                raise ValueError(f"{options.resume} has trained {done} epochs already: --epochs must be at least that")
            gan = dataclasses.replace(gan, epochs=options.resume_epochs)
        options = dataclasses.replace(options, run_dir=options.resume, data=options.data or saved["data"],
                                      audio=saved["audio"], gan=gan, holdout_fraction=saved["holdout_fraction"])
    root, demo = locate_competition(options.data, options.demo)
    config = options.gan
    competition, report = checked_competition(root, options.holdout_fraction)
    run_dir = options.run_dir or paths.default_run_dir(f"cgan-{config.loss}")
    check_folder_writable(options.cache_dir or paths.default_cache_dir(), "--cache-dir")
    check_folder_writable(run_dir, "--run-dir")
    if not options.resume:
        claim_run_folder(run_dir, options.overwrite)
    try:
        return _train_and_evaluate(options, competition, report, root, demo, run_dir, started)
    except KeyboardInterrupt:
        raise RunInterrupted(run_dir, f"the checkpoint of epoch {checkpoint_epochs(run_dir)} is in {run_dir}; continue with: "
                             f"{RESUME_COMMAND.format(run_dir=run_dir)}") from None


def _train_and_evaluate(options: GanOptions, competition, report, root: str, demo: bool, run_dir: str, started: float) -> str:
    config = options.gan
    real = load_real_clips(competition, report, options.audio, options.cache_dir, options.workers, options.holdout_fraction,
                           config.seed)
    x = real.features[real.gan_idx]
    top_db = read_gan_config(run_dir)["top_db"] if options.resume else float(np.ceil(x.max()))
    # a resumed run records the epochs it now trains to
    write_gan_config(run_dir, options.audio, config, real.classes, top_db, root, options.holdout_fraction)
    log.info("training the CGAN (%s loss) on %d clips of %d recordings%s; %d recordings held out for evaluation",
             config.loss, len(x), len({real.groups[i] for i in real.gan_idx}), " (synthetic demo)" if demo else "",
             len({real.groups[i] for i in real.holdout_idx}))
    writer = SampleWriter(run_dir, real.classes, options.audio, config.latent_dim, top_db, config.db_range,
                          config.sample_every, config.epochs, config.griffin_lim_iters, config.seed, options.on_samples)
    t = time.time()
    train_gan(scale_log_mel(x, top_db, config.db_range), real.labels[real.gan_idx], len(real.classes), config, run_dir, [writer])
    train_s = time.time() - t
    plot_gan_history(os.path.join(run_dir, HISTORY), os.path.join(run_dir, "losses.png"))
    if options.evaluate:
        evaluation = evaluate_gan(run_dir, real, options.eval_per_class, options.classifier_run, options.workers,
                                  options.eval_preset)
        log.info(format_evaluation(evaluation))
    write_summary(run_dir, {"demo": demo, "train_s": train_s, "total_s": time.time() - started})
    log.info("CGAN run folder: %s", run_dir)
    return run_dir


def load_generator(run_dir):
    saved = read_gan_config(run_dir)
    config, audio = saved["gan"], saved["audio"]
    gan = build_gan(config, len(saved["classes"]), audio.feature_shape)
    if not load_checkpoint(gan, run_dir, models_only=True):
        raise FileNotFoundError(f"{run_dir} has no checkpoint yet: train it first")
    return gan.generator, saved


def generate(run_dir, per_class: int, out_dir, seed: int = 0, workers=None) -> str:
    """per_class clips of every class as 16-bit .wav files in out_dir, listed in generated.csv."""
    generator, saved = load_generator(run_dir)
    config, audio, classes = saved["gan"], saved["audio"], saved["classes"]
    dbs, labels = sample_log_mels(generator, len(classes), per_class, config.latent_dim, seed, saved["top_db"], config.db_range)
    rows = []
    for i, (audio_clip, label) in enumerate(zip(log_mels_to_audio(dbs, audio, config.griffin_lim_iters, workers), labels)):
        name = f"{classes[label]}_{i % per_class:04d}.wav"
        write_wav(os.path.join(out_dir, name), audio_clip, audio.sample_rate)
        rows.append((name, classes[label]))
    listing = os.path.join(out_dir, "generated.csv")
    with atomic_path(listing) as tmp:
        pd.DataFrame(rows, columns=["file", "class"]).to_csv(tmp, index=False)
    log.info("wrote %d clips (%d per class) and %s", len(rows), per_class, listing)
    return listing


def evaluate_gan(run_dir, real: RealClips | None = None, per_class: int = 10, classifier_run=None, workers=None,
                 preset: str = "scratch") -> dict:
    """Every figure of the evaluation, written to <run>/evaluation.json. The classifiers trained
    here (real only, which also labels and embeds the clips unless classifier_run is given;
    synthetic only; real + synthetic) follow the classification preset `preset` and share one
    validation split of the GAN's training recordings."""
    saved = read_gan_config(run_dir)
    config, audio, classes = saved["gan"], saved["audio"], saved["classes"]
    if real is None:
        competition, report = checked_competition(saved["data"], saved["holdout_fraction"])
        real = load_real_clips(competition, report, audio, None, workers, saved["holdout_fraction"], config.seed)
    n_classes = len(classes)
    x_gan, y_gan = real.features[real.gan_idx], real.labels[real.gan_idx]
    groups_gan = [real.groups[i] for i in real.gan_idx]
    x_out, y_out = real.features[real.holdout_idx], real.labels[real.holdout_idx]

    recipe = preset_config(preset, seed=config.seed)
    shutil.rmtree(os.path.join(run_dir, "eval"), ignore_errors=True)  # classifiers of an earlier evaluation would resume
    fit_idx, val_idx = group_split(y_gan, groups_gan, recipe.val_fraction, config.seed)
    x_fit, y_fit, x_val, y_val = x_gan[fit_idx], y_gan[fit_idx], x_gan[val_idx], y_gan[val_idx]
    baseline = train(x_fit, y_fit, x_val, y_val, n_classes, recipe, os.path.join(run_dir, "eval", "real"))
    classifier = baseline
    if classifier_run:
        if read_run_config(classifier_run)["audio"] != audio:
            raise ValueError(f"{classifier_run} was trained on another AudioConfig than {run_dir}")
        classifier = load_fold_models(classifier_run, read_run_config(classifier_run)["train"].folds)[0]
    embed_model = embedding_model(classifier)

    def embed(features):
        return np.asarray(embed_model.predict(features, batch_size=64, verbose=0))

    generator, _ = load_generator(run_dir)
    untrained = build_gan(config, n_classes, audio.feature_shape).generator
    generated_db, labels = sample_log_mels(generator, n_classes, per_class, config.latent_dim, config.seed + 1, saved["top_db"], config.db_range)
    untrained_db, _ = sample_log_mels(untrained, n_classes, per_class, config.latent_dim, config.seed + 1, saved["top_db"], config.db_range)
    rng = np.random.default_rng(config.seed)
    half_a, half_b = [], []
    for k in range(n_classes):
        members = rng.permutation(np.flatnonzero(y_gan == k))[: 2 * per_class]
        half_a += members[: len(members) // 2].tolist()
        half_b += members[len(members) // 2:].tolist()
    half_a, half_b = np.array(half_a), np.array(half_b)

    everything = np.concatenate([generated_db, untrained_db, x_gan[half_a], x_gan[half_b]])
    round_trip = features_of_audio(log_mels_to_audio(everything, audio, config.griffin_lim_iters, workers), audio)
    n_gen = len(labels)
    gen_rt, untrained_rt = round_trip[:n_gen], round_trip[n_gen: 2 * n_gen]
    a_rt, b_rt = round_trip[2 * n_gen: 2 * n_gen + len(half_a)], round_trip[2 * n_gen + len(half_a):]
    y_a, y_b = y_gan[half_a], y_gan[half_b]

    synthetic_db, synthetic_y = sample_log_mels(generator, n_classes, max(1, int(np.bincount(y_gan).mean())), config.latent_dim,
                                                config.seed + 2, saved["top_db"], config.db_range)
    tstr = train(synthetic_db, synthetic_y, x_val, y_val, n_classes, recipe, os.path.join(run_dir, "eval", "synthetic"))
    augmented = train(np.concatenate([x_fit, synthetic_db]), np.concatenate([y_fit, synthetic_y]), x_val, y_val, n_classes,
                      recipe, os.path.join(run_dir, "eval", "real+synthetic"))

    def holdout_accuracy(model):
        return float(np.mean(np.asarray(model.predict(x_out, verbose=0)).argmax(1) == y_out))

    evaluation = {
        "classes": classes,
        "chance": 1.0 / n_classes,
        "per_class_samples": per_class,
        "classifier": classifier_run or f"the {preset} preset's classifier, trained here on the GAN's real training clips",
        "classifier_preset": preset,
        "generated": set_metrics(classifier, embed, gen_rt, labels, a_rt, y_a, classes),
        "untrained_generator": set_metrics(classifier, embed, untrained_rt, labels, a_rt, y_a, classes),
        "real_round_trip": set_metrics(classifier, embed, b_rt, y_b, a_rt, y_a, classes),
        "train_on_synthetic_test_on_real": {
            "held_out_clips": int(len(y_out)),
            "real_only": holdout_accuracy(baseline),
            "synthetic_only": holdout_accuracy(tstr),
            "real_plus_synthetic": holdout_accuracy(augmented),
            "synthetic_clips": int(len(synthetic_y)),
        },
    }
    write_text_atomic(os.path.join(run_dir, EVALUATION), json.dumps(evaluation, indent=2))
    return evaluation


def format_evaluation(e: dict) -> str:
    g, u, r, t = e["generated"], e["untrained_generator"], e["real_round_trip"], e["train_on_synthetic_test_on_real"]
    return "\n".join([
        "",
        f"CGAN evaluation ({e['per_class_samples']} clips per class, after the Griffin-Lim round trip)",
        f"  conditional accuracy   generated {g['accuracy']:.3f}   real (ceiling) {r['accuracy']:.3f}   "
        f"untrained {u['accuracy']:.3f}   chance {e['chance']:.3f}",
        f"  Fréchet distance       generated {g['frechet_distance']:.2f}   real vs real (floor) {r['frechet_distance']:.2f}   "
        f"untrained {u['frechet_distance']:.2f}",
        f"  diversity              generated {g['diversity']:.2f}   real {r['diversity']:.2f}",
        f"  nearest real clip      generated {g['nearest_reference_distance']:.2f}   real {r['nearest_reference_distance']:.2f}",
        f"  held-out accuracy      real only {t['real_only']:.3f}   synthetic only {t['synthetic_only']:.3f}   "
        f"real + synthetic {t['real_plus_synthetic']:.3f}   ({t['held_out_clips']} clips)",
    ])


def per_class_table(e: dict) -> pd.DataFrame:
    """Conditional accuracy and Fréchet distance per class, generated beside its references."""
    sets = {"generated": e["generated"], "real (ceiling / floor)": e["real_round_trip"], "untrained": e["untrained_generator"]}
    columns = {(metric, label): {name: figures[metric] for name, figures in s["per_class"].items()}
               for metric in ("accuracy", "frechet_distance") for label, s in sets.items()}
    return pd.DataFrame(columns).rename_axis("class")
