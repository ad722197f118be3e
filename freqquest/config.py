"""One audio configuration and one training configuration, shared by every step.

The AudioConfig is saved next to every model and its hash keys the feature cache, so
features for training and for prediction can never drift apart silently.
"""

import dataclasses
import hashlib
import json

# Bump when the feature computation changes in a way the config fields do not capture.
FEATURE_VERSION = 1

FIT_MODES = ("loop", "pad")
TFLITE_KINDS = ("float32", "float16", "int8")  # what a network member is exported as (serving/export.py)
NORMALIZATIONS = ("clip", "global")


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 22050
    duration: float = 4.0
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 11025.0
    fit_mode: str = "loop"

    def __post_init__(self):
        if self.sample_rate <= 0 or self.duration <= 0:
            raise ValueError("sample_rate and duration must be positive")
        if self.fit_mode not in FIT_MODES:
            raise ValueError(f"fit_mode must be one of {FIT_MODES}, got {self.fit_mode!r}")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.fmax}")
        if self.hop_length <= 0 or self.n_fft <= 0 or self.n_mels <= 0:
            raise ValueError("n_fft, hop_length and n_mels must be positive")

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration))

    @property
    def n_frames(self) -> int:
        return 1 + self.n_samples // self.hop_length

    @property
    def feature_shape(self) -> tuple:
        return (self.n_mels, self.n_frames)

    def cache_key(self) -> str:
        payload = json.dumps({"v": FEATURE_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:16]


LOG_MEL_MODELS = ("cnn", "resnet", "efficientnetv2b0")  # networks that read a clip's log-Mel (models/)
# fine-tunes BirdNET's last segments on what its frozen first ones compute (models/birdnet.py)
BIRDNET_MODELS = ("birdnet",)
MODELS = (*LOG_MEL_MODELS, *BIRDNET_MODELS)
# the segments a birdnet network may start training at: what comes before is frozen, and cached
# (features/embeddings/birdnet.py)
BIRDNET_TUNABLE = ("BLOCK_4-1", "BLOCK_4-3", "BLOCK_4-4", "POST")
# Adam's step when none is given: a network trained from scratch takes 1e-3; fine-tuning BirdNET's
# pretrained segments at 1e-3 throws away what they know (benchmarks/README.md), 1e-4 keeps it.
LEARNING_RATES = dict.fromkeys(BIRDNET_MODELS, 1e-4)
DEFAULT_LEARNING_RATE = 1e-3
NO_NETWORK = "none"
NETWORK = "network"  # the fold networks' name among the blend's members
OPTIMIZERS = ("adam", "adamw")
CLASSICAL_MODELS = ("logreg", "svm")  # on statistics of the log-Mel (blend/classical.py)
EMBEDDINGS = ("birdnet",)  # pretrained embeddings (features/embeddings/), each adding a classifier on it named after it
PRETRAINABLE_MODELS = ("efficientnetv2b0",)  # the networks --weights applies to (models/efficientnet.py)
SCHEDULES = ("plateau", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trained model; saved with the run. Augmentations are off at 0."""

    model: str = "cnn"
    width: int = 32
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float | None = None  # None: the network's own (LEARNING_RATES)
    optimizer: str = "adam"
    weight_decay: float = 1e-4
    schedule: str = "plateau"
    warmup_epochs: int = 3
    seed: int = 42
    val_fraction: float = 0.2
    folds: int = 1
    normalization: str = "clip"
    # pretrainable models only: "imagenet" or a weights file; None starts from random weights
    weights: str | None = None
    tune_from: str = "POST"  # birdnet only: the first segment trained; those before it stay as BirdNET has them
    early_stopping_patience: int = 12
    reduce_lr_patience: int = 5
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    time_shift: bool = False
    gain_db: float = 0.0
    time_masks: int = 0
    time_mask_width: int = 20
    freq_masks: int = 0
    freq_mask_width: int = 16
    tta: int = 1
    blend: str = "logreg,svm"  # classical models averaged with the network, comma-separated; "" for none
    # pretrained embeddings, comma-separated, each adding a classifier on it to the blend; "" for none
    embeddings: str = ""
    # test and validation clips recorded at a low sample rate get matched classical models (blend/bandwidth.py)
    match_bandwidth: bool = True
    # test and validation clips that look like slices of one recording vote together (blend/recordings.py)
    recording_vote: bool = True
    # test clips given a class with at least this probability are pseudo-labelled and the members that refit
    # in seconds are fitted again with them (blend/whole_set.py); 0 is off
    pseudo_label: float = 0.0
    # test clips matched to a training recording take its class (blend/reuse.py)
    route_reused: bool = False
    preset: str | None = None

    def __post_init__(self):
        if self.learning_rate is None:  # frozen: set once, here, so a saved config says the rate it trained with
            object.__setattr__(self, "learning_rate", LEARNING_RATES.get(self.model, DEFAULT_LEARNING_RATE))
        if self.model not in (*MODELS, NO_NETWORK):
            raise ValueError(f"model must be one of {(*MODELS, NO_NETWORK)}, got {self.model!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.width < 1:
            raise ValueError("epochs, batch_size and width must be at least 1")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.folds < 1 or self.tta < 1:
            raise ValueError(f"folds and tta must be at least 1, got folds={self.folds}, tta={self.tta}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if self.model not in LOG_MEL_MODELS and (self.time_shift or self.gain_db or self.time_masks or self.freq_masks):
            raise ValueError(
                f"time shift, gain and SpecAugment masks augment log-Mels; {self.model} does not read log-Mels "
                f"(it takes mixup and label smoothing)"
            )
        if self.tune_from not in BIRDNET_TUNABLE:
            raise ValueError(f"tune_from must be one of {BIRDNET_TUNABLE}, got {self.tune_from!r}")
        if self.weights is not None and self.model not in PRETRAINABLE_MODELS:
            raise ValueError(f"weights apply to {', '.join(PRETRAINABLE_MODELS)}, not to {self.model!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0 <= self.pseudo_label < 1:
            raise ValueError(f"pseudo_label must be in [0, 1), got {self.pseudo_label}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.mixup_alpha < 0 or self.gain_db < 0:
            raise ValueError("mixup_alpha and gain_db must not be negative")
        unknown = [m for m in self.classical_models if m not in CLASSICAL_MODELS]
        if unknown or len(set(self.classical_models)) != len(self.classical_models):
            raise ValueError(f"blend must name distinct models of {CLASSICAL_MODELS}, got {self.blend!r}")
        unknown = [m for m in self.embedding_models if m not in EMBEDDINGS]
        if unknown or len(set(self.embedding_models)) != len(self.embedding_models):
            raise ValueError(f"embeddings must name distinct embeddings of {EMBEDDINGS}, got {self.embeddings!r}")
        if min(self.time_masks, self.freq_masks, self.time_mask_width, self.freq_mask_width, self.warmup_epochs) < 0:
            raise ValueError("mask counts, mask widths and warmup_epochs must not be negative")
        if not self.members:
            raise ValueError(
                "the blend has no members: with no network (model none), name classical models (blend) or "
                "embeddings; the recipe without a pretrained model is the scratch preset"
            )

    @property
    def classical_models(self) -> tuple:
        return tuple(m.strip() for m in self.blend.split(",") if m.strip())

    @property
    def embedding_models(self) -> tuple:
        return tuple(m.strip() for m in self.embeddings.split(",") if m.strip())

    @property
    def fitted_members(self) -> tuple:
        """The blend's members besides the network, each fitted per fold and on every clip."""
        return self.classical_models + self.embedding_models

    @property
    def trains_network(self) -> bool:
        return self.model != NO_NETWORK

    @property
    def members(self) -> tuple:
        """Every member of the blend, the network ("network") first."""
        return (NETWORK,) * self.trains_network + self.fitted_members

    @property
    def member_names(self) -> tuple:
        """The blend's members for a person: the network by its architecture, e.g. ('cnn', 'logreg', 'svm'),
        ('birdnet-finetuned', 'birdnet-embedding') for BirdNET fine-tuned beside the logistic regression on its
        embedding."""
        network = f"{self.model}-finetuned" if self.model in BIRDNET_MODELS else self.model
        return (
            (network,) * self.trains_network
            + self.classical_models
            + tuple(f"{e}-embedding" for e in self.embedding_models)
        )

    @property
    def augments(self) -> bool:
        return bool(self.mixup_alpha or self.time_shift or self.gain_db or self.time_masks or self.freq_masks)


# Chosen on the yardstick of benchmarks/README.md (benchmark_classification.py: all shared clips,
# out of fold on new and on reused recordings, paired 95% intervals over recordings). "default":
# the logistic regression on BirdNET's frozen embedding, voted by recording, with pseudo-labels at
# 0.6 and slices of training recordings routed to their recording's class; 5 group folds validate
# it. "scratch": nothing pretrained (nothing non-commercial in it): TrainConfig's defaults, the cnn
# blended with the logreg and svm on log-Mel statistics, bandwidth-matched, voted.
PRESETS = {
    "default": dict(model="none", blend="", embeddings="birdnet", folds=5, pseudo_label=0.6, route_reused=True),
    "scratch": dict(),
}


DESCRIBED = (
    "model",
    "blend",
    "embeddings",
    "folds",
    "recording_vote",
    "pseudo_label",
    "route_reused",
    "match_bandwidth",
)


def describe_preset(name: str) -> str:
    """A preset's settings that shape its recipe, e.g. for --help: 'model=none, blend=none, ...'."""
    config = preset_config(name)
    shown = {field: getattr(config, field) for field in DESCRIBED}
    if config.trains_network:
        shown |= {"epochs": config.epochs, "batch_size": config.batch_size}
    return ", ".join(f"{field}={'none' if value == '' else value}" for field, value in shown.items())


def preset_config(name: str, **overrides) -> TrainConfig:
    """The TrainConfig of a preset; `overrides` (e.g. from the command line) win."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return TrainConfig(**(PRESETS[name] | overrides | {"preset": name}))


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def from_dict(cls, data: dict):
    """Build a config from a saved dict, ignoring keys a newer version may have added. An option
    that measurement retired (the class's RETIRED: field -> why) is refused where it was on: this
    version no longer builds what it made."""
    for field, why in getattr(cls, "RETIRED", {}).items():
        if data.get(field):
            raise ValueError(f"saved with {field} = {data[field]!r}, which measurement retired: {why}")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
