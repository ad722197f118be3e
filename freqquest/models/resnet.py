"""A pre-activation residual CNN (He et al. 2016, "Identity Mappings in Deep Residual Networks"):
each block computes y = x + F(x) with F = BN-ReLU-Conv-BN-ReLU-Conv, so the identity path
carries the signal through untouched and the last block's output is normalized once at the end."""

from keras import layers

from .blocks import batch_norm, pool_over_time


def preact_block(x, filters: int, stride: int, name: str):
    activated = layers.ReLU()(batch_norm()(x))
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(activated)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(activated)
    y = layers.ReLU()(batch_norm()(y))
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    return layers.Add(name=f"{name}_add")([y, shortcut])


def build(x, widths=(32, 64, 128), blocks_per_stage: int = 2):
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False)(x)
    x = layers.MaxPooling2D(2)(x)
    for stage, filters in enumerate(widths):
        for block in range(blocks_per_stage):
            x = preact_block(x, filters, 2 if stage > 0 and block == 0 else 1, f"stage{stage + 1}_block{block + 1}")
    x = layers.ReLU(name="top_relu")(batch_norm()(x))
    return pool_over_time(x)


def blocks(model) -> list:
    """Each residual add, then the final ReLU, as (model, layer)."""
    adds = [layer for layer in model.layers if isinstance(layer, layers.Add)]
    return [(model, layer) for layer in adds] + [
        (model, [layer for layer in model.layers if isinstance(layer, layers.ReLU)][-1])
    ]
