"""On-the-fly, seeded augmentation of log-Mel batches inside the tf.data pipeline.

Every op takes a batch `x` of shape (batch, n_mels, n_frames) in dB and one-hot labels `y`,
and draws from one `tf.random.Generator`, so a seed gives the same augmented epochs again.
Mixup takes a batch of any shape (the birdnet network's activations too).
"""

import tensorflow as tf

from ..config import TrainConfig


def time_shift(x, generator: tf.random.Generator):
    """Roll each clip by its own random number of frames (clips are looped to length, so the
    roll is another valid start point of the same sound)."""
    n_frames = tf.shape(x)[2]
    shifts = generator.uniform([tf.shape(x)[0]], 0, n_frames, dtype=tf.int32)
    return roll_time(x, shifts)


def roll_time(x, shifts):
    """x[b, :, t] -> x[b, :, (t + shifts[b]) mod n_frames]."""
    n_frames = tf.shape(x)[2]
    index = (tf.range(n_frames)[None, :] + shifts[:, None]) % n_frames
    return tf.gather(x, index, axis=2, batch_dims=1)


def gain(x, generator: tf.random.Generator, max_db: float):
    """Add one random offset in [-max_db, max_db] dB per clip (a louder or quieter recording)."""
    offsets = generator.uniform([tf.shape(x)[0], 1, 1], -max_db, max_db)
    return x + offsets


def band_masks(generator: tf.random.Generator, batch, length, count: int, max_width: int):
    """(batch, length) booleans: `count` bands per row of random width in [0, max_width]."""
    width = generator.uniform([batch, count, 1], 0, max_width + 1, dtype=tf.int32)
    start = tf.cast(generator.uniform([batch, count, 1]) * tf.cast(length - width + 1, tf.float32), tf.int32)
    position = tf.range(length)[None, None, :]
    return tf.reduce_any((position >= start) & (position < start + width), axis=1)


def spec_augment(x, generator: tf.random.Generator, time_masks: int, time_width: int, freq_masks: int, freq_width: int):
    """SpecAugment's time and frequency masks, filled with each clip's mean level."""
    batch, n_mels, n_frames = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    masked = tf.zeros_like(x, dtype=tf.bool)
    if time_masks:
        masked |= band_masks(generator, batch, n_frames, time_masks, min(time_width, x.shape[2] or time_width))[
            :, None, :
        ]
    if freq_masks:
        masked |= band_masks(generator, batch, n_mels, freq_masks, min(freq_width, x.shape[1] or freq_width))[
            :, :, None
        ]
    fill = tf.reduce_mean(x, axis=(1, 2), keepdims=True)
    return tf.where(masked, fill, x)


def mixup(x, y, generator: tf.random.Generator, alpha: float):
    """Blend each clip and its label with another clip of the batch, weight ~ Beta(alpha, alpha)."""
    batch = tf.shape(x)[0]
    seeds = generator.make_seeds(2)
    a = tf.random.stateless_gamma([batch], seed=seeds[:, 0], alpha=alpha)
    b = tf.random.stateless_gamma([batch], seed=seeds[:, 1], alpha=alpha)
    weight = a / (a + b)
    partner = tf.argsort(generator.uniform([batch]))
    each = tf.reshape(weight, [-1] + [1] * (len(x.shape) - 1))  # one weight per example, whatever its rank
    x = each * x + (1 - each) * tf.gather(x, partner)
    y = weight[:, None] * y + (1 - weight[:, None]) * tf.gather(y, partner)
    return x, y


def batch_augmenter(config: TrainConfig, seed: int):
    """A tf.data map function (x, y) -> (x, y) applying the augmentations `config` switches on."""
    generator = tf.random.Generator.from_seed(seed)

    def augment(x, y):
        if config.time_shift:
            x = time_shift(x, generator)
        if config.gain_db:
            x = gain(x, generator, config.gain_db)
        if config.time_masks or config.freq_masks:
            x = spec_augment(
                x, generator, config.time_masks, config.time_mask_width, config.freq_masks, config.freq_mask_width
            )
        if config.mixup_alpha:
            x, y = mixup(x, y, generator, config.mixup_alpha)
        return x, y

    return augment
