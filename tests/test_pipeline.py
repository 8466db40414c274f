"""The keyword pipeline: the batches, in the seeded order, of a shuffle of the clips."""

import numpy as np
import tensorflow as tf

from datasets.base import AudioSplit
from datasets.pipeline import batches


def _slices(split, batch_size, seed):
    """The pipeline the index gather replaced: the clips themselves through the shuffle buffer."""
    ds = tf.data.Dataset.from_tensor_slices((split.audio, split.labels))
    ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def test_batches_match_a_shuffle_of_the_clips_over_epochs():
    rng = np.random.default_rng(0)
    n = 50
    split = AudioSplit(
        audio=rng.standard_normal((n, 20)).astype(np.float32),
        labels=rng.integers(0, 5, n).astype(np.int32),
        speakers=np.array(["s"] * n),
    )
    got = list(batches(split, 8, shuffle_seed=3).repeat(3))
    want = list(_slices(split, 8, 3).repeat(3))
    assert len(got) == len(want) == 3 * 7
    for (a, y), (a_ref, y_ref) in zip(got, want, strict=True):
        np.testing.assert_array_equal(a.numpy(), a_ref.numpy())
        np.testing.assert_array_equal(y.numpy(), y_ref.numpy())
        assert a.dtype == tf.float32 and y.dtype == tf.int32
    first = [y.numpy().tolist() for _, y in list(batches(split, 8, shuffle_seed=3))[:2]]
    assert first != [y.tolist() for y in np.array_split(split.labels[:16], 2)]  # it does shuffle
    unshuffled = np.concatenate([y.numpy() for _, y in batches(split, 8)])
    np.testing.assert_array_equal(unshuffled, split.labels)
