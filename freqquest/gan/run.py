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
from ..figures import plot_history
from ..io import atomic_path, check_folder_writable, write_text_atomic
from ..runs import (
    CGAN_SCRIPT,
    GAN_EVALUATION,
    GAN_LOSS_CURVES,
    GENERATED_LIST,
    HISTORY,
    RunInterrupted,
    claim_run_folder,
    hold_run_folder,
    release_run_folder,
    resumable,
    resume_command,
    write_summary,
)
from . import evaluation as judge
from .config import GAN_EVAL_PER_CLASS, UNTRAINED_PER_CLASS, GanConfig
from .inversion import GanScale, log_mels_to_audio, write_wav
from .listening import write_listening_page
from .samples import Sampler, SampleWriter
from .training import (
    build_gan,
    checkpoint_epochs,
    load_checkpoint,
    read_gan_config,
    train_gan,
    write_gan_config,
)

log = logging.getLogger(__name__)

LISTENED_PER_CLASS = 5  # generated and real clips a class on the listening page
GAN_CURVES = {
    "losses": {"d_loss": "d_loss", "g_loss": "g_loss"},
    "discriminator scores": {"real_score": "real_score", "fake_score": "fake_score"},
}


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
    if options.resume:
        hold_run_folder(run_dir)
    else:
        claim_run_folder(run_dir, options.overwrite)
    try:
        return _train_and_evaluate(options, competition, report, evaluation_set, root, demo, run_dir, started)
    except KeyboardInterrupt:
        if not resumable(run_dir):
            raise RunInterrupted(run_dir, f"{run_dir} holds nothing yet; start again with --overwrite") from None
        raise RunInterrupted(
            run_dir,
            f"the checkpoint of epoch {checkpoint_epochs(run_dir)} is in {run_dir}; continue with: "
            f"{resume_command(run_dir, CGAN_SCRIPT)}",
        ) from None
    finally:
        release_run_folder(run_dir)


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
    plot_history(os.path.join(run_dir, HISTORY), os.path.join(run_dir, GAN_LOSS_CURVES), GAN_CURVES, title=None)
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
    gan = build_gan(config, len(saved["classes"]), audio.feature_shape)
    if not load_checkpoint(gan, run_dir, models_only=True):
        raise FileNotFoundError(f"{run_dir} has no checkpoint yet: train it first")
    return Sampler(
        gan.sampling_generator,
        scale,
        config.latent_dim,
        len(saved["classes"]),
        gan.discriminator,
        candidates or config.candidates,
    ), saved


def generate(run_dir, per_class: int, out_dir, seed: int = 0, workers=None, candidates: int | None = None) -> str:
    """per_class clips of every class as 16-bit .wav files in out_dir, listed in GENERATED_LIST."""
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
    listing = os.path.join(out_dir, GENERATED_LIST)
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
    returned. `per_class` clips of each class are generated, and at most as many held-out clips of
    each half and of the GAN's own training clips are judged, per class. Without the clips, they
    are loaded as the run's config says (`eval_data` replaces its own)."""
    saved = read_gan_config(run_dir)
    config, classes = saved["gan"], saved["classes"]
    if gan_clips is None:
        gan_clips, held_out = _clips_of_run(saved, eval_data, cache_dir, workers)
    if held_out is None:
        raise ValueError(
            f"{run_dir} held no recordings out of its training: evaluate it with --eval-data (another "
            f"competition's training clips)"
        )
    started, seed = time.time(), config.seed
    half_a, half_b = judge.split_halves(held_out.labels, held_out.groups, seed)
    half_a, half_b = (held_out.take(h).take(_at_most(held_out.labels[h], per_class, seed)) for h in (half_a, half_b))
    references = gan_clips.take(_at_most(gan_clips.labels, per_class, seed))
    sampler, _ = load_sampler(run_dir, candidates)
    generated_images, labels = sampler.images(per_class, seed + 1)
    sets = _judged_sets(
        saved, sampler, (generated_images, labels), half_a, half_b, references, gan_clips, cache_dir, workers
    )
    evaluation = {
        "classes": classes,
        "chance": 1.0 / len(classes),
        "per_class": per_class,
        "candidates": sampler.candidates,
        "judge": "a logistic regression on BirdNET's embedding, cross-fitted on two halves of recordings the GAN never "
        "heard (each half judges the other half and, averaged, the generated clips)",
        "clips": {
            "generated": len(labels),
            "held_out_a": len(half_a.labels),
            "held_out_b": len(half_b.labels),
            "gan_training_references": len(references.labels),
            "gan_training_files": len(gan_clips.labels),
        },
        **judge.evaluation_figures(sets, classes, seed),
        "seconds": time.time() - started,
    }
    evaluation["listening"] = _listening_page(run_dir, sampler, generated_images, labels, half_a, half_b, saved)
    write_text_atomic(os.path.join(run_dir, GAN_EVALUATION), json.dumps(evaluation, indent=2))
    return evaluation


def _clips_of_run(saved: dict, eval_data: str | None, cache_dir, workers) -> tuple[RealClips, RealClips | None]:
    """The clips a run learned from and those held out, as its config says (`eval_data`, or the
    run's own, replacing the held-out ones)."""
    audio, holdout = saved["audio"], saved["holdout_fraction"]
    real = load_real_clips(*checked_competition(saved["data"], holdout), audio, cache_dir, workers)
    gan_clips, held_out = gan_and_held_out(real, holdout, saved["gan"].seed)
    eval_data = eval_data or saved.get("eval_data")
    if eval_data:
        held_out = load_real_clips(*checked_competition(eval_data, 0.0), audio, cache_dir, workers)
    return gan_clips, held_out


def _judged_sets(
    saved: dict, sampler: Sampler, generated: tuple, half_a, half_b, references, gan_clips, cache_dir, workers
) -> dict:
    """judge.SETS in the judge's embedding: the generated clips, an untrained generator's, and the
    real clips through the generated clips' path (clipping included), then the real files as they are."""
    config, audio, n_classes = saved["gan"], saved["audio"], len(saved["classes"])
    keras.utils.set_random_seed(config.seed)  # the untrained generator's weights, the same at every evaluation
    untrained = Sampler(
        build_gan(config, n_classes, audio.feature_shape).sampling_generator,
        sampler.scale,
        config.latent_dim,
        n_classes,
    )
    generated_images, labels = generated
    untrained_images, untrained_labels = untrained.images(
        min(len(labels) // n_classes, UNTRAINED_PER_CLASS), config.seed + 1
    )
    through_path = [
        generated_images,
        untrained_images,
        *(sampler.scale.scale(clips.features) for clips in (half_a, half_b, references)),
    ]
    embedded = np.split(
        judge.embed_images(np.concatenate(through_path), sampler.scale, audio, config.griffin_lim_iters, workers),
        np.cumsum([len(p) for p in through_path])[:-1],
    )
    # one extraction, one set of workers: the held-out files as they are, and the GAN's own training files
    files = judge.embed_files(half_a.paths + half_b.paths + gan_clips.paths, audio, workers, cache_dir)
    files = np.split(files, np.cumsum([len(half_a.paths), len(half_b.paths)]))
    real = [half_a, half_b, half_a, half_b, references, gan_clips]
    judged = [judge.Judged(embedded[0], labels), judge.Judged(embedded[1], untrained_labels)] + [
        judge.Judged(e, clips.labels, clips.groups)
        for e, clips in zip(embedded[2:4] + files[:2] + embedded[4:] + files[2:], real, strict=True)
    ]
    return dict(zip(judge.SETS, judged, strict=True))


def _listening_page(
    run_dir, sampler: Sampler, images, labels, half_a: RealClips, half_b: RealClips, saved: dict
) -> str:
    """The page to judge the generated clips by ear (listening.py), beside held-out real ones."""
    config, audio = saved["gan"], saved["audio"]
    shown = np.concatenate([np.flatnonzero(labels == k)[:LISTENED_PER_CLASS] for k in range(len(saved["classes"]))])
    clips = log_mels_to_audio(sampler.scale.unscale(images[shown]), audio, config.griffin_lim_iters)
    how = (
        f"Generated: the first {LISTENED_PER_CLASS} of each class among those the evaluation judged, each the "
        f"likeliest of its class among {sampler.candidates} drawn, by the GAN's own classifier head (not by the "
        "judge), turned into audio by Griffin-Lim. Real: clips of recordings held out of the GAN's training, as "
        "they are."
    )
    return write_listening_page(
        run_dir,
        saved["classes"],
        clips,
        labels[shown],
        half_a.paths + half_b.paths,
        np.concatenate([half_a.labels, half_b.labels]),
        audio,
        LISTENED_PER_CLASS,
        how,
    )


def with_interval(figures: dict, name: str | None = None) -> str:
    """'0.619 [0.580, 0.656]': an accuracy figure (or one class's, `name`) and its 95% interval."""
    if name is None:
        value, interval = figures["overall"], figures.get("interval")
    else:
        value, interval = figures["per_class"][name], (figures.get("per_class_interval") or {}).get(name)
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else "")


def _two_places(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_evaluation(e: dict) -> str:
    acc, dist, gan_test = e["conditional_accuracy"], e["distances"], e["gan_test"]
    lines = [
        "",
        f"CGAN evaluation in BirdNET's embedding ({e['clips']['generated']} generated clips, "
        f"{e['clips']['held_out_a'] + e['clips']['held_out_b']} held-out real ones, all through Griffin-Lim; "
        f"{e['seconds']:.0f} s); 95% intervals by bootstrap over generated clips and over real recordings",
        f"  GAN-test judge (fitted on the GAN's own training files; the goals read it): generated "
        f"{with_interval(gan_test['generated'])}   held-out real files "
        f"{with_interval(gan_test['real, the files themselves'])}   ratio {_two_places(gan_test['ratio']['overall'])}",
        "  per class, generated / held-out real files (GAN-test): "
        + ", ".join(
            f"{name} {_two_places(gan_test['generated']['per_class'][name])} / "
            f"{_two_places(gan_test['real, the files themselves']['per_class'][name])}"
            for name in e["classes"]
        ),
        "  held-out judge (cross-fitted on the held-out recordings):",
        f"  conditional accuracy  generated {with_interval(acc['generated'])}   real (ceiling) "
        f"{with_interval(acc['real (ceiling)'])}   untrained {acc['untrained generator']['overall']:.3f}   "
        f"chance {e['chance']:.3f}",
        f"  the inversion's cost  real through Griffin-Lim {acc['real (ceiling)']['overall']:.3f}   the same files as "
        f"they are {with_interval(acc['real, the files themselves'])} (a judge of the same recipe, fitted on them)",
        f"  a faithful generator  the GAN's own training clips through Griffin-Lim "
        f"{with_interval(acc['its training clips'])} (what a generator that drew them exactly would score)",
        "  per class, generated / its training clips: "
        + ", ".join(
            f"{name} {acc['generated']['per_class'][name]:.2f} / {acc['its training clips']['per_class'][name]:.2f}"
            for name in e["classes"]
            if acc["its training clips"]["per_class"][name] is not None
        ),
    ]
    kid = dist["generated"].get("kid_interval")
    lines.append(
        f"  kernel distance (KID) generated {dist['generated']['kid']:.4g}"
        + (f" [{kid['low']:.4g}, {kid['high']:.4g}]" if kid else "")
        + f"   real vs real (floor) {dist['real (floor)']['kid']:.4g}"
        + f"   untrained {dist['untrained generator']['kid']:.4g}"
    )
    lines.append(
        f"  Fréchet distance      generated {dist['generated']['frechet']:.4g}   real vs real (floor) "
        f"{dist['real (floor)']['frechet']:.4g}   untrained {dist['untrained generator']['frechet']:.4g}"
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
    if e.get("listening"):
        lines.append(f"  listen: {e['listening']}")
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
