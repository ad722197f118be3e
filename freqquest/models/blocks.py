"""Layers both architectures share."""

from keras import layers

# Keras's default of 0.99 suits thousands of steps per epoch; a competition's few hundred clips
# give ~15 steps an epoch, and with 0.99 the moving statistics lag so far behind the weights that
# inference-mode predictions collapse to one or two classes (measured: validation at chance
# while training accuracy passed 0.9). 0.9 tracks them within a couple of epochs.
BATCH_NORM_MOMENTUM = 0.9


def batch_norm(name: str | None = None):
    return layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=name)


def conv_bn_relu(x, filters: int, name: str, stride: int = 1):
    """A block named `name` (its layers `name`_conv, _bn, _relu: what the feature maps are called)."""
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return layers.ReLU(name=f"{name}_relu")(batch_norm(f"{name}_bn")(x))


def pool_over_time(x):
    """Average over the time axis only and keep the frequency axis: where in the spectrum a sound
    lies is much of what tells a siren from an engine, and global average pooling discards it
    (measured against it: benchmarks/README.md, "History: the scratch recipe")."""
    x = layers.AveragePooling2D(pool_size=(1, x.shape[2]), name="pool_over_time")(x)
    return layers.Flatten()(x)
