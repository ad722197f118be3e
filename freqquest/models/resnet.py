"""A residual CNN: a convolutional stem, then blocks computing y = F(x) + x."""
from keras import layers

from .blocks import batch_norm, conv_bn_relu


def residual_block(x, filters: int, stride: int):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = batch_norm()(layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x))
    y = conv_bn_relu(x, filters, stride)
    y = batch_norm()(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y))
    return layers.ReLU()(layers.Add()([y, shortcut]))


def build(x, widths=(32, 64, 128)):
    x = layers.MaxPooling2D(2)(conv_bn_relu(x, widths[0]))
    for i, filters in enumerate(widths):
        x = residual_block(x, filters, stride=1 if i == 0 else 2)
    return layers.GlobalAveragePooling2D()(x)
