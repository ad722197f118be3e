"""The CGAN runs, step by step: train (or resume), generate, evaluate. The script and the
notebook call these."""

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable

import keras
import numpy as np
import pandas as pd

from ..competition import paths
from ..competition.dataset import check_trainable, describe, preflight, scan_competition
from ..competition.splits import group_split, n_splits
from ..config import AudioConfig
from ..features.store import FeatureStore
from ..io import atomic_path, check_folder_writable, write_text_atomic
from ..run.reports import plot_history
from ..runs import RunInterrupted, claim_run_folder, write_summary
from . import evaluation as judge
from .config import GAN_EVAL_PER_CLASS, GanConfig
from .inversion import GanScale, log_mels_to_audio, write_wav
from .samples import Sampler, SampleWriter
from .training import (
    HISTORY,
    build_gan,
    checkpoint_epochs,
    load_checkpoint,
    read_gan_config,
    train_gan,
    write_gan_config,
)

log = logging.getLogger(__name__)

EVALUATION = "evaluation.json"
LOSSES = "losses.png"
GAN_CURVES = {
    "losses": {"d_loss": "d_loss", "g_loss": "g_loss"},
    "discriminator scores": {"real_score": "real_score", "fake_score": "fake_score"},
}
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
    eval_per_class: int = GAN_EVAL_PER_CLASS  # a smoke run takes a few
    eval_data: str | None = None  # a competition whose training clips (other recordings) evaluate the GAN
    holdout_fraction: float = 0.2  # of the recordings, held out for the evaluation when there is no eval_data
    audio: AudioConfig = dataclasses.field(default_factory=AudioConfig)
    gan: GanConfig = dataclasses.field(default_factory=GanConfig)
    on_samples: Callable | None = None  # called as SampleWriter writes samples (see there)


@dataclasses.dataclass
class RealClips:
    """Readable training clips of a competition as log-Mels, with labels, recordings and files."""

    classes: list
    features: np.ndarray
    labels: np.ndarray
    groups: list
    paths: list

    def take(self, index) -> "RealClips":
        return RealClips(
            self.classes,
            self.features[index],
            self.labels[index],
            [self.groups[i] for i in index],
            [self.paths[i] for i in index],
        )


def checked_competition(root, holdout_fraction: float):
    """The competition and its preflight report, checked before any work."""
    competition = scan_competition(root)
    report = preflight(competition)
    log.info(describe(competition, report))
    check_trainable(competition, report, n_splits(1, holdout_fraction) if holdout_fraction else 2)
    return competition, report


def load_real_clips(competition, report, audio: AudioConfig, cache_dir, workers) -> RealClips:
    store = FeatureStore(audio, cache_dir or paths.default_cache_dir(), workers)
    train_set = store.log_mels(competition.train_paths, desc="train log-Mels")
    for path, reason in train_set.failed.items():
        log.warning("skipped unreadable train file %s: %s", path, reason)
    usable = report.usable_train(competition.train_paths, train_set.failed)
    groups = [competition.train_groups[i] for i in usable]
    return RealClips(
        competition.classes,
        np.asarray(train_set.features[usable]),
        competition.train_labels[usable],
        groups,
        [competition.train_paths[i] for i in usable],
    )


def gan_and_held_out(real: RealClips, holdout_fraction: float, seed: int) -> tuple[RealClips, RealClips | None]:
    """The clips the GAN learns from and the recordings held out for its evaluation (none at 0)."""
    if not holdout_fraction:
        return real, None
    gan_idx, held_idx = group_split(real.labels, real.groups, holdout_fraction, seed)
    return real.take(gan_idx), real.take(held_idx)


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
        options = dataclasses.replace(
            options,
            run_dir=options.resume,
            data=options.data or saved["data"],
            audio=saved["audio"],
            gan=gan,
            holdout_fraction=saved["holdout_fraction"],
            eval_data=options.eval_data or saved.get("eval_data"),
        )
    if options.eval_data:
        options = dataclasses.replace(options, holdout_fraction=0.0)  # the evaluation has recordings of its own
    root, demo = paths.locate_competition(options.data, options.demo)
    config = options.gan
    competition, report = checked_competition(root, options.holdout_fraction)
    evaluation_set = checked_competition(options.eval_data, 0.0) if options.eval_data else None
    run_dir = options.run_dir or paths.default_run_dir(f"cgan-{config.loss}")
    check_folder_writable(options.cache_dir or paths.default_cache_dir(), "--cache-dir")
    check_folder_writable(run_dir, "--run-dir")
    if not options.resume:
        claim_run_folder(run_dir, options.overwrite)
    try:
        return _train_and_evaluate(options, competition, report, evaluation_set, root, demo, run_dir, started)
    except KeyboardInterrupt:
        raise RunInterrupted(
            run_dir,
            f"the checkpoint of epoch {checkpoint_epochs(run_dir)} is in {run_dir}; continue with: "
            f"{RESUME_COMMAND.format(run_dir=run_dir)}",
        ) from None


def _train_and_evaluate(
    options: GanOptions, competition, report, evaluation_set, root: str, demo: bool, run_dir: str, started: float
) -> str:
    config = options.gan
    real = load_real_clips(competition, report, options.audio, options.cache_dir, options.workers)
    gan_clips, held_out = gan_and_held_out(real, options.holdout_fraction, config.seed)
    if evaluation_set is not None:
        held_out = load_real_clips(*evaluation_set, options.audio, options.cache_dir, options.workers)
    top_db = read_gan_config(run_dir)["top_db"] if options.resume else float(np.ceil(gan_clips.features.max()))
    # a resumed run records the epochs it now trains to
    write_gan_config(
        run_dir, options.audio, config, real.classes, top_db, root, options.holdout_fraction, options.eval_data
    )
    log.info(
        "training the CGAN (%s loss) on %d clips of %d recordings%s; %s",
        config.loss,
        len(gan_clips.labels),
        len(set(gan_clips.groups)),
        " (synthetic demo)" if demo else "",
        f"{len(set(held_out.groups))} other recordings evaluate it" if held_out else "no evaluation",
    )
    scale = GanScale.of(config, top_db)
    writer = SampleWriter(run_dir, real.classes, options.audio, scale, config, options.on_samples)
    t = time.time()
    train_gan(scale.scale(gan_clips.features), gan_clips.labels, len(real.classes), config, run_dir, [writer])
    train_s = time.time() - t
    plot_history(os.path.join(run_dir, HISTORY), os.path.join(run_dir, LOSSES), GAN_CURVES, title=None)
    timings = {"train_s": train_s}
    if options.evaluate and held_out is not None:
        t = time.time()
        log.info(format_evaluation(evaluate_gan(run_dir, gan_clips, held_out, options.eval_per_class, options.workers)))
        timings["evaluate_s"] = time.time() - t
    write_summary(run_dir, {"demo": demo, **timings, "total_s": time.time() - started})
    log.info("CGAN run folder: %s", run_dir)
    return run_dir


def load_sampler(run_dir, candidates: int | None = None) -> tuple[Sampler, dict]:
    """The run's generator (its moving average where it keeps one), ready to sample, choosing among
    `candidates` (default: the run's recipe); and its config."""
    saved = read_gan_config(run_dir)
    config, audio = saved["gan"], saved["audio"]
    scale = GanScale.of(config, saved["top_db"])
    gan = build_gan(config, len(saved["classes"]), scale.image_shape(audio.feature_shape))
    if not load_checkpoint(gan, run_dir, models_only=True):
        raise FileNotFoundError(f"{run_dir} has no checkpoint yet: train it first")
    return Sampler(
        gan.sampling_generator,
        scale,
        config.latent_dim,
        audio.feature_shape,
        len(saved["classes"]),
        gan.discriminator,
        candidates or config.candidates,
    ), saved


def generate(run_dir, per_class: int, out_dir, seed: int = 0, workers=None, candidates: int | None = None) -> str:
    """per_class clips of every class as 16-bit .wav files in out_dir, listed in generated.csv."""
    sampler, saved = load_sampler(run_dir, candidates)
    config, audio, classes = saved["gan"], saved["audio"], saved["classes"]
    dbs, labels = sampler.log_mels(per_class, seed)
    rows = []
    for i, (audio_clip, label) in enumerate(
        zip(log_mels_to_audio(dbs, audio, config.griffin_lim_iters, workers), labels)
    ):
        name = f"{classes[label]}_{i % per_class:04d}.wav"
        write_wav(os.path.join(out_dir, name), audio_clip, audio.sample_rate)
        rows.append((name, classes[label]))
    listing = os.path.join(out_dir, "generated.csv")
    with atomic_path(listing) as tmp:
        pd.DataFrame(rows, columns=["file", "class"]).to_csv(tmp, index=False)
    log.info("wrote %d clips (%d per class) and %s", len(rows), per_class, listing)
    return listing


def _at_most(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of up to per_class rows of each class, drawn with the seed."""
    rng = np.random.default_rng(seed)
    return np.sort(
        np.concatenate([rng.permutation(np.flatnonzero(labels == k))[:per_class] for k in np.unique(labels)])
    )


def evaluate_gan(
    run_dir,
    gan_clips: RealClips | None = None,
    held_out: RealClips | None = None,
    per_class: int = GAN_EVAL_PER_CLASS,
    workers=None,
    candidates: int | None = None,
    cache_dir=None,
    eval_data: str | None = None,
) -> dict:
    """Every figure of the evaluation (gan/evaluation.py), written to <run>/evaluation.json and
    returned. `per_class` bounds the generated clips and the held-out clips of each half, per class;
    no more clips are generated per class than a half holds, so a small held-out set is cheap.
    Without the clips, they are loaded as the run's config says (`eval_data` replaces its own)."""
    saved = read_gan_config(run_dir)
    config, audio, classes = saved["gan"], saved["audio"], saved["classes"]
    if gan_clips is None:
        real = load_real_clips(
            *checked_competition(saved["data"], saved["holdout_fraction"]), audio, cache_dir, workers
        )
        gan_clips, held_out = gan_and_held_out(real, saved["holdout_fraction"], config.seed)
        eval_data = eval_data or saved.get("eval_data")
        if eval_data:
            held_out = load_real_clips(*checked_competition(eval_data, 0.0), audio, cache_dir, workers)
    if held_out is None:
        raise ValueError(
            f"{run_dir} held no recordings out of its training: evaluate it with --eval-data (another "
            f"competition's training clips)"
        )
    started = time.time()
    n_classes, seed = len(classes), config.seed
    half_a, half_b = judge.split_halves(held_out.labels, held_out.groups, seed)
    half_a, half_b = (held_out.take(h).take(_at_most(held_out.labels[h], per_class, seed)) for h in (half_a, half_b))
    per_class = min(per_class, int(np.bincount(half_a.labels).max()))  # as many generated as real clips to compare with
    references = gan_clips.take(_at_most(gan_clips.labels, 2 * per_class, seed))
    sampler, _ = load_sampler(run_dir, candidates)
    keras.utils.set_random_seed(seed)  # the untrained generator's weights, the same at every evaluation
    untrained = Sampler(
        build_gan(config, n_classes, sampler.scale.image_shape(audio.feature_shape)).sampling_generator,
        sampler.scale,
        config.latent_dim,
        audio.feature_shape,
        n_classes,
    )
    generated_images, labels = sampler.images(per_class, seed + 1)
    untrained_images, _ = untrained.images(per_class, seed + 1)
    # the real clips as images too: every set then takes the generated clips' path, clipping included
    parts = [
        generated_images,
        untrained_images,
        *(sampler.scale.scale(clips.features) for clips in (half_a, half_b, references)),
    ]
    embedded = np.split(
        judge.embed_images(np.concatenate(parts), sampler.scale, audio, config.griffin_lim_iters, workers),
        np.cumsum([len(p) for p in parts])[:-1],
    )
    generated, untrained_e, a, b, reference = embedded
    judges = {"a": judge.fit_judge(a, half_a.labels, seed), "b": judge.fit_judge(b, half_b.labels, seed)}
    ceiling = judge.cross_judged(judges["a"], judges["b"], a, b, n_classes)
    files = judge.embed_files(half_a.paths + half_b.paths, audio, workers)  # one extraction: one set of workers
    raw_a, raw_b = files[: len(half_a.paths)], files[len(half_a.paths) :]
    raw = judge.cross_judged(
        judge.fit_judge(raw_a, half_a.labels, seed),
        judge.fit_judge(raw_b, half_b.labels, seed),
        raw_a,
        raw_b,
        n_classes,
    )
    held_labels = np.concatenate([half_a.labels, half_b.labels])
    both = list(judges.values())
    distances = judge.distance_figures(
        {"generated": generated, "untrained generator": untrained_e, "real (floor)": b},
        {"generated": labels, "untrained generator": labels, "real (floor)": half_b.labels},
        a,
        half_a.labels,
        classes,
    )
    nearest_generated = judge.nearest_distances(generated, reference)
    nearest_real = judge.nearest_distances(np.concatenate([a, b]), reference)
    evaluation = {
        "classes": classes,
        "chance": 1.0 / n_classes,
        "per_class": per_class,
        "candidates": sampler.candidates,
        "judge": "a logistic regression on BirdNET's embedding, cross-fitted on two halves of recordings the GAN never "
        "heard (each half judges the other half and, averaged, the generated clips)",
        "clips": {
            "generated": len(labels),
            "held_out_a": len(half_a.labels),
            "held_out_b": len(half_b.labels),
            "gan_training_references": len(references.labels),
        },
        "conditional_accuracy": {
            "generated": judge.accuracy_figures(judge.judge_probabilities(both, generated, n_classes), labels, classes),
            "real (ceiling)": judge.accuracy_figures(ceiling, held_labels, classes),
            "real, the files themselves": judge.accuracy_figures(raw, held_labels, classes),
            "its training clips": judge.accuracy_figures(
                judge.judge_probabilities(both, reference, n_classes), references.labels, classes
            ),
            "untrained generator": judge.accuracy_figures(
                judge.judge_probabilities(both, untrained_e, n_classes), labels, classes
            ),
        },
        "distances": distances,
        "diversity": {
            "generated": judge.diversity_figures(generated, labels, classes),
            "real": judge.diversity_figures(np.concatenate([a, b]), held_labels, classes),
        },
        "memorization": {
            "generated": _quantiles(nearest_generated),
            "real": _quantiles(nearest_real),
            "generated_nearer_than_every_real": int(np.sum(nearest_generated < nearest_real.min())),
        },
        "train_on_synthetic": judge.train_on_synthetic(
            {
                "real only": (reference, references.labels),
                "synthetic only": (generated, labels),
                "real + synthetic": (
                    np.concatenate([reference, generated]),
                    np.concatenate([references.labels, labels]),
                ),
            },
            np.concatenate([a, b]),
            held_labels,
            n_classes,
            seed,
        ),
        "seconds": time.time() - started,
    }
    write_text_atomic(os.path.join(run_dir, EVALUATION), json.dumps(evaluation, indent=2))
    return evaluation


def _quantiles(d: np.ndarray) -> dict:
    return {"min": float(d.min()), "median": float(np.median(d)), "p5": float(np.percentile(d, 5))}


def format_evaluation(e: dict) -> str:
    acc, dist = e["conditional_accuracy"], e["distances"]
    lines = [
        "",
        f"CGAN evaluation in BirdNET's embedding ({e['clips']['generated']} generated clips, "
        f"{e['clips']['held_out_a'] + e['clips']['held_out_b']} held-out real ones, all through Griffin-Lim; "
        f"{e['seconds']:.0f} s)",
        f"  conditional accuracy  generated {acc['generated']['overall']:.3f}   real (ceiling) "
        f"{acc['real (ceiling)']['overall']:.3f}   untrained {acc['untrained generator']['overall']:.3f}   "
        f"chance {e['chance']:.3f}",
        f"  the inversion's cost  real through Griffin-Lim {acc['real (ceiling)']['overall']:.3f}   the same files as "
        f"they are {acc['real, the files themselves']['overall']:.3f} (a judge of the same recipe, fitted on them)",
        f"  a faithful generator  the GAN's own training clips through Griffin-Lim "
        f"{acc['its training clips']['overall']:.3f} (what a generator that drew them exactly would score)",
    ]
    for metric, label in (("kid", "kernel distance (KID)"), ("frechet", "Fréchet distance")):
        lines.append(
            f"  {label:<22}generated {dist['generated'][metric]:.4g}   real vs real (floor) "
            f"{dist['real (floor)'][metric]:.4g}   untrained {dist['untrained generator'][metric]:.4g}"
        )
    div, mem, tstr = e["diversity"], e["memorization"], e["train_on_synthetic"]
    lines += [
        f"  diversity             generated {div['generated']['mean']:.2f}   real {div['real']['mean']:.2f}",
        f"  nearest training clip generated min {mem['generated']['min']:.2f} / "
        f"median {mem['generated']['median']:.2f}   "
        f"real min {mem['real']['min']:.2f} / median {mem['real']['median']:.2f}   "
        f"({mem['generated_nearer_than_every_real']} generated nearer than every real one)",
        "  train on ... test on held-out real: " + ", ".join(f"{k} {v:.3f}" for k, v in tstr.items()),
    ]
    return "\n".join(lines)


def per_class_table(e: dict) -> pd.DataFrame:
    """Per class: conditional accuracy, KID and diversity, generated beside the real references."""
    acc, dist, div = e["conditional_accuracy"], e["distances"], e["diversity"]
    rows = {}
    for name in e["classes"]:
        rows[name] = {
            ("accuracy", "generated"): acc["generated"]["per_class"][name],
            ("accuracy", "real (ceiling)"): acc["real (ceiling)"]["per_class"][name],
            ("accuracy", "real files"): acc["real, the files themselves"]["per_class"][name],
            ("accuracy", "its training clips"): acc["its training clips"]["per_class"][name],
            ("KID", "generated"): (dist["generated"]["per_class"][name] or {}).get("kid"),
            ("KID", "real (floor)"): (dist["real (floor)"]["per_class"][name] or {}).get("kid"),
            ("diversity", "generated"): div["generated"]["per_class"][name],
            ("diversity", "real"): div["real"]["per_class"][name],
        }
    return pd.DataFrame(rows).T.rename_axis("class")
