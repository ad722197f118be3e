"""The classic log-Mel CNN: three Conv-BatchNorm-ReLU-MaxPool blocks, then pooling over time."""

from keras import layers

from .blocks import conv_bn_relu, pool_over_time


def build(x, widths=(32, 64, 128)):
    for k, filters in enumerate(widths, start=1):
        x = layers.MaxPooling2D(2, name=f"block{k}_pool")(conv_bn_relu(x, filters, f"block{k}"))
    return pool_over_time(x)


def blocks(model) -> list:
    """The ReLU that ends each block, first to last, as (model, layer)."""
    return [(model, layer) for layer in model.layers if isinstance(layer, layers.ReLU)]
