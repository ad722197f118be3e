"""Generator, projection discriminator, and the GAN as a keras.Model with its own train_step.

The generator maps (noise, class) to a log-Mel "image" scaled to [-1, 1]; the discriminator
scores (spectrogram, class) with a projection term (Miyato & Koyama 2018): the class embedding
dotted with the image features, so the class enters every decision without a label channel.
"""
import math

import keras
import tensorflow as tf
from keras import layers

from ..augment import roll_time
from ..config import GAN_LOSSES


def build_generator(latent_dim: int, n_classes: int, shape: tuple, width: int = 32) -> keras.Model:
    n_mels, n_frames = shape
    base = (math.ceil(n_mels / 16), math.ceil(n_frames / 16))
    noise = keras.Input((latent_dim,), name="noise")
    label = keras.Input((), dtype="int32", name="label")
    # on the noise's scale: with Keras's default uniform(+-0.05) the class would start 30x quieter than the noise
    embedded = layers.Embedding(n_classes, latent_dim, embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
                                name="class_embedding")(label)
    x = layers.Concatenate()([noise, embedded])
    x = layers.Dense(base[0] * base[1] * 8 * width, use_bias=False)(x)
    x = layers.Reshape((*base, 8 * width))(x)
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    for filters in (4 * width, 2 * width, width, width):
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    x = layers.Conv2D(1, 3, padding="same", activation="tanh", dtype="float32")(x)
    x = layers.Cropping2D(((0, 16 * base[0] - n_mels), (0, 16 * base[1] - n_frames)))(x)
    return keras.Model([noise, label], layers.Reshape(shape, name="log_mel")(x), name="generator")


def build_discriminator(n_classes: int, shape: tuple, width: int = 32, spectral_norm: bool = False) -> keras.Model:
    def conv(filters):
        layer = layers.Conv2D(filters, 4, strides=2, padding="same")
        return layers.SpectralNormalization(layer) if spectral_norm else layer

    image = keras.Input(shape, name="log_mel")
    label = keras.Input((), dtype="int32", name="label")
    x = layers.Reshape((*shape, 1))(image)
    for filters in (width, 2 * width, 4 * width, 8 * width):
        x = layers.LeakyReLU(0.2)(conv(filters)(x))
    features = layers.GlobalAveragePooling2D()(x)
    dense = layers.Dense(1)
    unconditional = (layers.SpectralNormalization(dense) if spectral_norm else dense)(features)
    embedded = layers.Embedding(n_classes, 8 * width, embeddings_initializer="glorot_uniform", name="class_projection")(label)
    projection = layers.Dot(axes=1)([embedded, features])
    score = layers.Add()([unconditional, projection])
    return keras.Model([image, label], layers.Activation("linear", dtype="float32", name="score")(score), name="discriminator")


def discriminator_loss(kind: str, real_scores, fake_scores):
    if kind == "bce":
        return tf.reduce_mean(tf.nn.softplus(-real_scores) + tf.nn.softplus(fake_scores))
    if kind == "hinge":
        return tf.reduce_mean(tf.nn.relu(1.0 - real_scores) + tf.nn.relu(1.0 + fake_scores))
    return tf.reduce_mean(fake_scores) - tf.reduce_mean(real_scores)


def generator_loss(kind: str, fake_scores):
    if kind == "bce":
        return tf.reduce_mean(tf.nn.softplus(-fake_scores))
    return -tf.reduce_mean(fake_scores)


def mode_seeking_loss(fake_a, fake_b, noise_a, noise_b):
    """Mode seeking (Mao et al. 2019): the inverse of how far two samples of one class lie apart
    per unit of distance between their noises. It grows when the generator maps different noise to
    the same spectrogram, the conditional mode collapse a few hundred clips invite."""
    spread = tf.reduce_mean(tf.abs(fake_a - fake_b), axis=(1, 2)) / tf.reduce_mean(tf.abs(noise_a - noise_b), axis=1)
    return tf.reduce_mean(1.0 / (spread + 1e-5))


class ConditionalGAN(keras.Model):
    """fit() on batches of (scaled log-Mel, class index); one discriminator and one generator
    update per batch, each with its own optimizer."""

    def __init__(self, generator, discriminator, latent_dim: int, loss: str = "hinge", gp_weight: float = 10.0, seed: int = 0,
                 mode_seeking_weight: float = 0.0, diff_augment: bool = False, **kwargs):
        super().__init__(**kwargs)
        if loss not in GAN_LOSSES:
            raise ValueError(f"loss must be one of {GAN_LOSSES}, got {loss!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.loss_kind = loss
        self.gp_weight = gp_weight
        self.mode_seeking_weight = mode_seeking_weight
        self.diff_augment = diff_augment
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("d_loss", "g_loss", "gradient_penalty", "mode_seeking", "real_score", "fake_score")}

    def compile(self, g_optimizer, d_optimizer):
        super().compile()
        # under mixed_float16 the losses are scaled by hand in train_step (see DESIGN.md)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            g_optimizer = keras.optimizers.LossScaleOptimizer(g_optimizer)
            d_optimizer = keras.optimizers.LossScaleOptimizer(d_optimizer)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    def build_optimizers(self):
        """Create the optimizers' slots now (a resumed run restores them before the first step)."""
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def noise(self, batch):
        return keras.random.normal((batch, self.latent_dim), seed=self.noise_seed)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def augment(self, x):
        """DiffAugment (Zhao et al. 2020), what the discriminator sees when switched on: each clip
        rolled in time and a quarter of its frames silenced, drawn anew for real and generated
        batches alike and differentiable, so a discriminator on a few hundred clips cannot
        memorize them."""
        if not self.diff_augment:
            return x
        batch, frames = tf.shape(x)[0], x.shape[2]
        x = roll_time(x, keras.random.randint((batch,), 0, frames, seed=self.noise_seed))
        width = frames // 4
        start = keras.random.randint((batch, 1), 0, frames - width + 1, seed=self.noise_seed)
        position = tf.range(frames)[None, :]
        silenced = (position >= start) & (position < start + width)
        return tf.where(silenced[:, None, :], -tf.ones_like(x), x)

    def gradient_penalty(self, real, fake, labels):
        """WGAN-GP: the critic's gradient norm pushed to 1 on points between real and fake,
        with interpolation weights drawn uniformly from [0, 1]."""
        weight = keras.random.uniform((tf.shape(real)[0], 1, 1), seed=self.noise_seed)
        between = real + weight * (fake - real)
        with tf.GradientTape() as tape:
            tape.watch(between)
            scores = self.discriminator([between, labels], training=True)
        gradients = tape.gradient(scores, between)
        norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=(1, 2)) + 1e-12)
        return tf.reduce_mean(tf.square(norms - 1.0))

    def train_step(self, data):
        real, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = tf.cast(real, "float32")
        batch = tf.shape(real)[0]

        fake = self.generator([self.noise(batch), labels], training=True)
        with tf.GradientTape() as tape:
            real_scores = self.discriminator([self.augment(real), labels], training=True)
            fake_scores = self.discriminator([self.augment(fake), labels], training=True)
            d_loss = discriminator_loss(self.loss_kind, real_scores, fake_scores)
            penalty = self.gradient_penalty(real, fake, labels) if self.loss_kind == "wgan-gp" else tf.constant(0.0)
            d_total = d_loss + self.gp_weight * penalty
            scaled = self.d_optimizer.scale_loss(d_total)
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))

        with tf.GradientTape() as tape:
            # two samples per label: the adversarial loss sees both, the mode-seeking term their distance
            noise = self.noise(2 * batch)
            fakes = tf.cast(self.generator([noise, tf.concat([labels, labels], 0)], training=True), "float32")
            g_loss = generator_loss(self.loss_kind, self.discriminator([self.augment(fakes), tf.concat([labels, labels], 0)],
                                                                       training=True))
            seeking = mode_seeking_loss(fakes[:batch], fakes[batch:], noise[:batch], noise[batch:])
            g_total = g_loss + self.mode_seeking_weight * seeking
            scaled = self.g_optimizer.scale_loss(g_total)
        variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))

        for name, value in (("d_loss", d_total), ("g_loss", g_loss), ("gradient_penalty", penalty), ("mode_seeking", seeking),
                            ("real_score", tf.reduce_mean(real_scores)), ("fake_score", tf.reduce_mean(fake_scores))):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}
