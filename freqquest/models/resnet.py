"""A residual CNN: a convolutional stem, then blocks computing y = F(x) + x."""
from keras import layers


def residual_block(x, filters: int, stride: int):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def build(x, widths=(32, 64, 128)):
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D(2)(x)
    for i, filters in enumerate(widths):
        x = residual_block(x, filters, stride=1 if i == 0 else 2)
    return layers.GlobalAveragePooling2D()(x)
