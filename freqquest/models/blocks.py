"""Layers both architectures share."""
from keras import layers

# Keras's default of 0.99 suits thousands of steps per epoch; a competition's few hundred clips
# give ~15 steps an epoch, and with 0.99 the moving statistics lag so far behind the weights that
# inference-mode predictions collapse to one or two classes (measured: validation at chance
# while training accuracy passed 0.9). 0.9 tracks them within a couple of epochs.
BATCH_NORM_MOMENTUM = 0.9


def batch_norm():
    return layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)


def conv_bn_relu(x, filters: int, stride: int = 1):
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    return layers.ReLU()(batch_norm()(x))


def pool_over_time(x):
    """Average over the time axis only and keep the frequency axis: where in the spectrum a sound
    lies is much of what tells a siren from an engine, and global average pooling discards it.
    Measured on the honest benchmark, the default cnn alone: 0.670 and 0.662 (seeds 42, 7) with
    this pooling, 0.629 and 0.607 with global average pooling."""
    x = layers.AveragePooling2D(pool_size=(1, x.shape[2]), name="pool_over_time")(x)
    return layers.Flatten()(x)
