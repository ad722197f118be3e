"""The classic log-Mel CNN: three Conv-BatchNorm-ReLU-MaxPool blocks and global average pooling."""
from keras import layers


def build(x, widths=(32, 64, 128)):
    for filters in widths:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    return layers.GlobalAveragePooling2D()(x)
