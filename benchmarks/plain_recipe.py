"""The plain recipe every public notebook starts from, kept as the baseline to beat:
a sequential librosa.load + melspectrogram loop, the classic CNN, a random 80/20 split
(slices of one recording on both sides), a fixed number of epochs, no callbacks.

The classic CNN is defined here, not taken from freqquest.models, so the baseline stays put
when our models change."""

import time

import keras
import librosa
import numpy as np
from keras import layers
from sklearn.model_selection import train_test_split

SR, DURATION, N_MELS = 22050, 4.0, 128


def plain_features(path):
    y, _ = librosa.load(path, sr=SR, mono=True, duration=DURATION)
    y = librosa.util.fix_length(y, size=int(SR * DURATION))
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_mels=N_MELS)
    return librosa.power_to_db(mel, ref=np.max).astype(np.float32)


def classic_cnn(input_shape, n_classes, mean, variance):
    """Standardized log-Mel -> three Conv-BatchNorm-ReLU-MaxPool blocks -> global average
    pooling -> Dense 128 -> dropout -> softmax."""
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Reshape((*input_shape, 1)),
            layers.Normalization(axis=None, mean=mean, variance=variance),
        ]
    )
    for filters in (32, 64, 128):
        model.add(layers.Conv2D(filters, 3, padding="same", use_bias=False))
        model.add(layers.BatchNormalization(momentum=0.9))
        model.add(layers.ReLU())
        model.add(layers.MaxPooling2D(2))
    for layer in (
        layers.GlobalAveragePooling2D(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.3),
        layers.Dense(n_classes, activation="softmax"),
    ):
        model.add(layer)
    return model


def extract(paths):
    """Sequential loop; a file librosa cannot read becomes None (the plain recipe would crash)."""
    out = []
    for path in paths:
        try:
            out.append(plain_features(path))
        except Exception:
            out.append(None)
    return out


def run(competition, epochs=40, seed=42):
    """Returns (test class names, figures); unreadable test files get the most frequent class."""
    t = time.time()
    train = extract(competition.train_paths)
    test = extract([p for p in competition.test_paths if p is not None])
    n_clips = len(train) + len(test)
    feature_s = time.time() - t
    keep = [i for i, f in enumerate(train) if f is not None]
    x = np.stack([train[i] for i in keep])
    y = competition.train_labels[keep]
    x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)

    keras.utils.set_random_seed(seed)
    model = classic_cnn(x.shape[1:], len(competition.classes), float(x_tr.mean()), float(x_tr.var()))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.time()
    model.fit(x_tr, y_tr, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=0)
    train_s = time.time() - t
    val_acc = float(np.mean(model.predict(x_val, verbose=0).argmax(1) == y_val))

    fallback = competition.classes[int(np.bincount(y).argmax())]
    present = [f if f is not None else np.zeros_like(x[0]) for f in test]
    best = model.predict(np.stack(present), verbose=0).argmax(1) if present else []
    by_path = dict(zip([p for p in competition.test_paths if p is not None], zip(best, test)))
    names = []
    for path in competition.test_paths:
        label, features = by_path.get(path, (None, None))
        names.append(fallback if features is None else competition.classes[int(label)])
    return names, {"clips_per_s": n_clips / feature_s, "train_s": train_s, "val_accuracy_random_split": val_acc}
