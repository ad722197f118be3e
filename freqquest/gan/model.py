"""Generator, projection discriminator, and the GAN as a keras.Model with its own train_step.

The generator maps (noise, class) to a log-Mel "image" in [-1, 1]: a dense layer to a small map,
then blocks of nearest-neighbour upsampling and a 3 x 3 convolution (transposed convolutions
left a checkerboard: 1.8 times the real clips' high-frequency energy), each normalized by a batch
normalization whose scale and shift the class chooses, so the class reaches every block, not
only the input.

The discriminator's spectrally normalized convolutions halve both axes; their last map is summed
over time only, so its features keep where in the spectrum a sound sits (averaging over both
axes, as before, shrank its scores 88 times and threw that away). The score is a linear term
plus the projection of a spectrally normalized class embedding on the features (Miyato & Koyama
2018); an auxiliary head classifies the clip (AC-GAN, Odena et al. 2017), which the generator is
also trained to satisfy. Optionally the generator also matches the discriminator's mean features on
the real batch (Salimans et al. 2016) and pushes a label's two clips apart (Mao et al. 2019).
"""

import math

import keras
import tensorflow as tf
from keras import layers

from .config import GanConfig


class ConditionalBatchNorm(layers.Layer):
    """Batch normalization without its own scale and shift: the class's (1 + gamma, beta) instead,
    starting at the identity."""

    def __init__(self, n_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.n_classes = n_classes
        self.norm = layers.BatchNormalization(center=False, scale=False)

    def build(self, input_shape):
        channels = input_shape[0][-1]
        self.gamma = layers.Embedding(self.n_classes, channels, embeddings_initializer="zeros")
        self.beta = layers.Embedding(self.n_classes, channels, embeddings_initializer="zeros")
        self.norm.build(input_shape[0])
        self.gamma.build((None,))
        self.beta.build((None,))

    def call(self, inputs, training=None):
        x, label = inputs
        shape = [-1] + [1] * (len(x.shape) - 2) + [x.shape[-1]]
        gamma = tf.reshape(self.gamma(label), shape)
        beta = tf.reshape(self.beta(label), shape)
        return self.norm(x, training=training) * (1.0 + gamma) + beta


def build_generator(latent_dim: int, n_classes: int, shape: tuple, width: int = 32) -> keras.Model:
    n_mels, n_frames = shape
    base = (math.ceil(n_mels / 16), math.ceil(n_frames / 16))
    noise = keras.Input((latent_dim,), name="noise")
    label = keras.Input((), dtype="int32", name="label")
    # on the noise's scale: with Keras's default uniform(+-0.05) the class would start 30x quieter than the noise
    embedded = layers.Embedding(
        n_classes,
        latent_dim,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
        name="class_embedding",
    )(label)
    x = layers.Concatenate()([noise, embedded])
    x = layers.Dense(base[0] * base[1] * 8 * width, use_bias=False)(x)
    x = layers.Reshape((*base, 8 * width))(x)
    x = layers.LeakyReLU(0.2)(ConditionalBatchNorm(n_classes)([x, label]))
    for filters in (4 * width, 2 * width, width, width):
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.LeakyReLU(0.2)(ConditionalBatchNorm(n_classes)([x, label]))
    x = layers.Conv2D(1, 3, padding="same", activation="tanh", dtype="float32")(x)
    x = layers.Cropping2D(((0, 16 * base[0] - n_mels), (0, 16 * base[1] - n_frames)))(x)
    return keras.Model([noise, label], layers.Reshape(shape, name="log_mel")(x), name="generator")


def build_discriminator(n_classes: int, shape: tuple, width: int = 32) -> keras.Model:
    """(image, class) -> (score, class logits)."""

    def normalized(layer):
        return layers.SpectralNormalization(layer)

    image = keras.Input(shape, name="log_mel")
    label = keras.Input((), dtype="int32", name="label")
    x = layers.Reshape((*shape, 1))(image)
    for filters in (width, 2 * width, 4 * width, 8 * width):
        x = layers.LeakyReLU(0.2)(normalized(layers.Conv2D(filters, 4, strides=2, padding="same"))(x))
    bands, channels = x.shape[1], x.shape[3]
    x = layers.Lambda(lambda m: keras.ops.sum(m, axis=2), output_shape=(bands, channels), name="sum_over_time")(x)
    features = layers.Flatten(name="features")(x)
    unconditional = normalized(layers.Dense(1))(features)
    one_hot = layers.Lambda(lambda y: keras.ops.one_hot(y, n_classes), output_shape=(n_classes,), name="one_hot")(label)
    embedded = normalized(layers.Dense(features.shape[-1], use_bias=False, name="class_projection"))(one_hot)
    projection = layers.Dot(axes=1)([embedded, features])
    score = layers.Activation("linear", dtype="float32", name="score")(layers.Add()([unconditional, projection]))
    logits = layers.Activation("linear", dtype="float32", name="class_logits")(
        normalized(layers.Dense(n_classes))(features)
    )
    return keras.Model([image, label], [score, logits], name="discriminator")


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


def class_loss(labels, logits):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


class ConditionalGAN(keras.Model):
    """fit() on batches of (scaled log-Mel, class index); one discriminator and one generator
    update per batch, each with its own optimizer. With `ema_decay`, a moving average of the
    generator's weights (warmed up over the first steps) is kept beside it and samples are drawn
    from that (Karras et al. 2018)."""

    def __init__(self, generator, discriminator, config: GanConfig, ema_generator=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = ema_generator
        self.config = config
        # the discriminator with its features beside its outputs, the same layers: feature matching reads both
        self.critic_with_features = (
            keras.Model(discriminator.inputs, [*discriminator.outputs, discriminator.get_layer("features").output])
            if config.feature_matching_weight
            else None
        )
        self.noise_seed = keras.random.SeedGenerator(config.seed)
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("d_loss", "g_loss", "gradient_penalty", "class_loss", "real_score", "fake_score")
        }

    def compile(self, g_optimizer, d_optimizer):
        super().compile()
        # under mixed_float16 the losses are scaled by hand in train_step (a LossScaleOptimizer each)
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

    @property
    def sampling_generator(self):
        """The generator samples are drawn from: the moving average where there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def noise(self, batch):
        return keras.random.normal((batch, self.config.latent_dim), seed=self.noise_seed)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def gradient_penalty(self, real, fake, labels):
        """WGAN-GP: the critic's gradient norm pushed to 1 on points between real and fake,
        with interpolation weights drawn uniformly from [0, 1]."""
        weight = keras.random.uniform((tf.shape(real)[0], 1, 1), seed=self.noise_seed)
        between = real + weight * (fake - real)
        with tf.GradientTape() as tape:
            tape.watch(between)
            scores, _ = self.discriminator([between, labels], training=True)
        gradients = tape.gradient(scores, between)
        norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=(1, 2)) + 1e-12)
        return tf.reduce_mean(tf.square(norms - 1.0))

    def generator_objective(self, real, labels):
        """The generator's loss on fresh clips for `labels`, and its adversarial part. With feature matching,
        a term for how far the clips' mean discriminator features are from the real batch's (Salimans et al.
        2016): a statistic of the whole batch, which a class's prototype alone cannot match. With mode seeking,
        two clips a label from different noise, and a term that grows as the pair comes closer than its noise
        (MSGAN, Mao et al. 2019): a class's clips pushed apart."""
        config, batch = self.config, tf.shape(labels)[0]
        copies = 2 if config.mode_seeking_weight else 1
        noise, labels = self.noise(copies * batch), tf.tile(labels, [copies])
        fakes = tf.cast(self.generator([noise, labels], training=True), "float32")
        if config.feature_matching_weight:
            scores, logits, features = self.critic_with_features([fakes, labels], training=True)
            _, _, real_features = self.critic_with_features([real, labels[:batch]], training=False)
            # in float32: under mixed_float16 the features are half precision, the losses are not
            means = [tf.reduce_mean(tf.cast(f, "float32"), 0) for f in (real_features, features)]
            matching = config.feature_matching_weight * tf.reduce_mean(tf.square(means[0] - means[1]))
        else:
            scores, logits = self.discriminator([fakes, labels], training=True)
            matching = 0.0
        adversarial = generator_loss(config.loss, scores)
        total = adversarial + config.class_weight * class_loss(labels, logits) + matching
        if config.mode_seeking_weight:
            apart = tf.reduce_mean(tf.abs(fakes[:batch] - fakes[batch:])) / tf.reduce_mean(
                tf.abs(noise[:batch] - noise[batch:])
            )
            total += config.mode_seeking_weight / (apart + 1e-5)
        return total, adversarial

    def train_step(self, data):
        real, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = tf.cast(real, "float32")
        batch = tf.shape(real)[0]

        fake = self.generator([self.noise(batch), labels], training=True)
        with tf.GradientTape() as tape:
            real_scores, real_logits = self.discriminator([real, labels], training=True)
            fake_scores, _ = self.discriminator([fake, labels], training=True)
            d_loss = discriminator_loss(self.config.loss, real_scores, fake_scores)
            penalty = self.gradient_penalty(real, fake, labels) if self.config.loss == "wgan-gp" else tf.constant(0.0)
            d_class = class_loss(labels, real_logits)
            d_total = d_loss + self.config.gp_weight * penalty + self.config.class_weight * d_class
            scaled = self.d_optimizer.scale_loss(d_total)
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))

        with tf.GradientTape() as tape:
            g_total, g_loss = self.generator_objective(real, labels)
            scaled = self.g_optimizer.scale_loss(g_total)
        variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        if self.ema_generator is not None:
            # warmed up as tf.train.ExponentialMovingAverage's num_updates does: a short run's average
            # would otherwise still hold much of the untrained generator (0.999 ** 1600 = 0.2)
            steps = tf.cast(self.g_optimizer.iterations, "float32")
            decay = tf.minimum(self.config.ema_decay, (1.0 + steps) / (10.0 + steps))
            for average, weight in zip(self.ema_generator.weights, self.generator.weights):
                average.assign(decay * average + (1.0 - decay) * weight)

        for name, value in (
            ("d_loss", d_total),
            ("g_loss", g_loss),
            ("gradient_penalty", penalty),
            ("class_loss", d_class),
            ("real_score", tf.reduce_mean(real_scores)),
            ("fake_score", tf.reduce_mean(fake_scores)),
        ):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}
