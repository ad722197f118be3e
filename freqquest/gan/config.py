"""The CGAN's recipe (GanConfig) and its presets; saved with every CGAN run."""

import dataclasses
from typing import ClassVar

GAN_LOSSES = ("bce", "hinge", "wgan-gp")
# the full evaluation: generated clips per class, and at most as many held-out real clips in each half and of the
# GAN's own training clips, per class
GAN_EVAL_PER_CLASS = 100
UNTRAINED_PER_CLASS = 20  # an untrained generator's clips per class: a floor, not a figure to read to a point


@dataclasses.dataclass(frozen=True)
class GanConfig:
    """The CGAN's recipe; saved with the run. Log-Mels become the GAN's images as gan.inversion.GanScale
    says (`db_range` dB below the top mapped to [-1, 1]); two time-scale learning rates and Adam
    (0, 0.9) as for spectrally normalized GANs (Zhang et al. 2019)."""

    loss: str = "hinge"
    latent_dim: int = 64
    width: int = 32
    steps: int = 1200  # the budget: generator steps (batches), whatever the dataset's size; about 1 s each on 2 cores
    epochs: int | None = None  # None: as many epochs as `steps` takes (epochs_for)
    batch_size: int = 32
    g_learning_rate: float = 1e-4
    d_learning_rate: float = 4e-4
    beta_1: float = 0.0
    beta_2: float = 0.9
    gp_weight: float = 10.0
    class_weight: float = 1.0  # the auxiliary classifier's loss, for both networks (0: off)
    # two clips a label, pushed apart when closer than their noise (MSGAN); 0: off, > 0 doubles the generator's batch
    mode_seeking_weight: float = 0.0
    # the generator matches the discriminator's mean features on the real batch (Salimans et al. 2016); 0: off
    feature_matching_weight: float = 0.0
    ema_decay: float = 0.999  # samples come from a moving average of the generator's weights (0: off)
    db_range: float = 80.0
    # each clip scaled from its own loudest pixel, not the training set's (inversion.GanScale)
    per_clip_level: bool = True
    seed: int = 42
    sample_every: int = 5
    griffin_lim_iters: int = 32
    candidates: int = 4  # each sample the likeliest of its class among this many, by the discriminator's classifier

    RETIRED: ClassVar[dict] = {
        "frame_branch": "its checkpoint holds a discriminator this version does not build (benchmarks/README.md, "
        "issue 33); freqquest at commit 620d979 reads it",
        "half_resolution": "its networks make images of half the log-Mel's size (benchmarks/README.md, issue 42); "
        "freqquest at commit 6cb12d3 reads it",
    }

    def __post_init__(self):
        if self.loss not in GAN_LOSSES:
            raise ValueError(f"loss must be one of {GAN_LOSSES}, got {self.loss!r}")
        if (
            min(
                self.latent_dim,
                self.width,
                self.steps,
                self.epochs or 1,
                self.batch_size,
                self.sample_every,
                self.griffin_lim_iters,
                self.candidates,
            )
            < 1
        ):
            raise ValueError(
                "latent_dim, width, steps, epochs, batch_size, sample_every, griffin_lim_iters and candidates "
                "must be at least 1"
            )
        if min(self.class_weight, self.mode_seeking_weight, self.feature_matching_weight) < 0:
            raise ValueError(
                "class_weight, mode_seeking_weight and feature_matching_weight must not be negative, got "
                f"{self.class_weight}, {self.mode_seeking_weight}, {self.feature_matching_weight}"
            )
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.db_range <= 0:
            raise ValueError(f"db_range must be positive, got {self.db_range}")

    def batches_per_epoch(self, n_clips: int) -> int:
        return -(-n_clips // self.batch_size)

    def epochs_for(self, n_clips: int) -> int:
        """The epochs a run on `n_clips` trains: `epochs` when given, else the fewest whose batches
        reach the `steps` budget (a whole epoch more at most)."""
        return self.epochs or -(-self.steps // self.batches_per_epoch(n_clips))


# "cpu" is GanConfig's defaults: the recipe measured on 2 cores (benchmarks/README.md, the CGAN),
# a budget of generator steps that fits 30 minutes there with the evaluation, on any dataset.
# "gpu" is the same GAN trained for ten times the generator steps, twice as wide: what a GPU does
# in the time the CPU recipe takes; it is tested to run, not measured here (the lent GPU machine
# has no TensorFlow).
GAN_PRESETS = {"cpu": {}, "gpu": dict(steps=12000, width=64)}


def gan_preset_config(name: str, **overrides) -> GanConfig:
    """The GanConfig of a preset; `overrides` (e.g. from the command line) win."""
    if name not in GAN_PRESETS:
        raise ValueError(f"unknown CGAN preset {name!r}; choose one of {', '.join(GAN_PRESETS)}")
    return GanConfig(**(GAN_PRESETS[name] | overrides))
