import numpy as np
import pytest
import tensorflow as tf

from freqquest.config import TrainConfig
from freqquest.models import augment

N_MELS, N_FRAMES = 8, 12


def ramp_batch(batch=4):
    """Clip b, band m, frame t holds 1000*b + 100*m + t: every value says where it came from."""
    b, m, t = np.meshgrid(np.arange(batch), np.arange(N_MELS), np.arange(N_FRAMES), indexing="ij")
    return tf.constant((1000 * b + 100 * m + t).astype(np.float32))


def one_hot(labels, n=3):
    return tf.constant(np.eye(n, dtype=np.float32)[labels])


def test_roll_time_rolls_each_clip_by_its_own_shift():
    x = ramp_batch(2)
    rolled = augment.roll_time(x, tf.constant([0, 5])).numpy()
    np.testing.assert_array_equal(rolled[0], x.numpy()[0])
    np.testing.assert_array_equal(rolled[1], np.roll(x.numpy()[1], -5, axis=-1))


def test_time_shift_keeps_each_clip_as_a_rotation_of_itself():
    x = ramp_batch()
    shifted = augment.time_shift(x, tf.random.Generator.from_seed(0)).numpy()
    assert shifted.shape == (4, N_MELS, N_FRAMES) and shifted.dtype == np.float32
    for clip, original in zip(shifted, x.numpy()):
        offset = int(clip[0, 0] % 100)
        np.testing.assert_array_equal(clip, np.roll(original, -offset, axis=-1))


def test_gain_adds_one_bounded_offset_per_clip():
    x = ramp_batch()
    changed = augment.gain(x, tf.random.Generator.from_seed(0), max_db=6.0).numpy() - x.numpy()
    per_clip = changed[:, 0, 0]
    np.testing.assert_allclose(changed, np.broadcast_to(per_clip[:, None, None], changed.shape), atol=1e-3)
    assert np.all(np.abs(per_clip) <= 6.0) and len(set(np.round(per_clip, 3))) == 4


def test_spec_augment_masks_whole_bands_with_the_clip_mean():
    x = ramp_batch(16)
    masked = augment.spec_augment(x, tf.random.Generator.from_seed(1), 1, 3, 1, 2).numpy()
    mean = x.numpy().mean(axis=(1, 2))
    changed = masked != x.numpy()
    assert changed.any()
    for clip, (was, now) in enumerate(zip(changed, masked)):
        np.testing.assert_allclose(now[was], mean[clip])
        frames = was.all(axis=0)  # a time mask covers every band
        bands = was.all(axis=1)
        assert frames.sum() <= 3 and bands.sum() <= 2
        assert np.array_equal(was, frames[None, :] | bands[:, None])


def test_spec_augment_with_no_masks_is_the_identity():
    x = ramp_batch()
    np.testing.assert_array_equal(
        augment.spec_augment(x, tf.random.Generator.from_seed(0), 0, 5, 0, 5).numpy(), x.numpy()
    )


def test_mixup_blends_clips_and_labels_with_the_same_weight():
    x = ramp_batch(6)
    y = one_hot(range(6), n=6)  # every clip its own class: the mixed label names the partner and the weight
    mixed_x, mixed_y = (t.numpy() for t in augment.mixup(x, y, tf.random.Generator.from_seed(3), alpha=0.4))
    assert mixed_x.shape == (6, N_MELS, N_FRAMES) and mixed_y.shape == (6, 6)
    np.testing.assert_allclose(mixed_y.sum(axis=1), 1.0, rtol=1e-6)
    originals = x.numpy()
    for i in range(6):
        weight = mixed_y[i, i]
        others = [j for j in range(6) if j != i and mixed_y[i, j] > 0]
        partner = others[0] if others else i
        assert len(others) <= 1
        np.testing.assert_allclose(mixed_x[i], weight * originals[i] + (1 - weight) * originals[partner], rtol=1e-4)
    assert not np.allclose(mixed_x, originals)


def test_the_augmenter_is_seeded_and_only_applies_what_is_switched_on():
    x, y = ramp_batch(), one_hot([0, 1, 2, 0])
    off = augment.batch_augmenter(TrainConfig(), seed=0)(x, y)
    np.testing.assert_array_equal(off[0].numpy(), x.numpy())
    config = TrainConfig(time_shift=True, gain_db=3.0, time_masks=1, freq_masks=1, mixup_alpha=0.2)
    first = augment.batch_augmenter(config, seed=5)(x, y)
    again = augment.batch_augmenter(config, seed=5)(x, y)
    other = augment.batch_augmenter(config, seed=6)(x, y)
    np.testing.assert_array_equal(first[0].numpy(), again[0].numpy())
    np.testing.assert_array_equal(first[1].numpy(), again[1].numpy())
    assert not np.array_equal(first[0].numpy(), other[0].numpy())


def test_the_augmenter_runs_inside_tf_data():
    x, y = ramp_batch(8), one_hot([0, 1, 2, 0, 1, 2, 0, 1])
    config = TrainConfig(
        time_shift=True, time_masks=2, time_mask_width=4, freq_masks=1, freq_mask_width=2, mixup_alpha=0.3
    )
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).map(augment.batch_augmenter(config, seed=0))
    epochs = [[b[0].numpy() for b in dataset] for _ in range(2)]
    assert [b.shape for b in epochs[0]] == [(4, N_MELS, N_FRAMES)] * 2
    assert not np.array_equal(epochs[0][0], epochs[1][0])  # a new draw every epoch


@pytest.mark.parametrize(
    "bad", [dict(mixup_alpha=-1.0), dict(gain_db=-2.0), dict(time_masks=-1), dict(label_smoothing=1.0)]
)
def test_bad_augmentation_settings(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad)
