"""Tests for jaxnet.data.augment: random flips, translations and crops of NHWC batches."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet as jn

KEY = jax.random.key(0)


def _images(n=16, h=6, w=7, c=2, dtype=np.float32):
    return jnp.asarray(np.random.default_rng(0).integers(1, 200, (n, h, w, c)).astype(dtype))


def _shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The image moved down by dy and right by dx, zeros where nothing moved in."""
    h, w = image.shape[:2]
    out = np.zeros_like(image)
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_flipping_twice_with_one_key_is_the_identity():
    x = _images()
    np.testing.assert_array_equal(jn.data.random_flip(KEY, jn.data.random_flip(KEY, x)), x)


def test_flip_mirrors_some_images_left_right_and_keeps_the_others():
    x = _images(n=64)
    y = np.asarray(jn.data.random_flip(KEY, x))
    mirrored = [np.array_equal(b, a[:, ::-1]) for a, b in zip(np.asarray(x), y, strict=True)]
    kept = [np.array_equal(b, a) for a, b in zip(np.asarray(x), y, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 16 < sum(mirrored) < 48


def test_translation_keeps_the_content_shifted_within_max_shift():
    x = np.asarray(_images(n=32))
    y = np.asarray(jn.data.random_translate(KEY, jnp.asarray(x), 2))
    shifts = set()
    for image, out in zip(x, y, strict=True):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(out, _shifted(image, dy, dx))]
        assert matches, "an output is not a shifted copy of its input"
        shifts.add(matches[0])
    assert len(shifts) > 5


def test_translation_moves_a_single_pixel_and_keeps_it():
    x = jnp.zeros((8, 9, 9, 1)).at[:, 4, 4, 0].set(1.0)
    y = np.asarray(jn.data.random_translate(KEY, x, 3))
    np.testing.assert_array_equal(y.sum(axis=(1, 2, 3)), 1.0)
    rows, cols = np.nonzero(y[..., 0])[1:]
    assert np.all(np.abs(rows - 4) <= 3) and np.all(np.abs(cols - 4) <= 3)


def test_zero_translation_is_the_identity():
    x = _images()
    np.testing.assert_array_equal(jn.data.random_translate(KEY, x, 0), x)


def test_crop_cuts_windows_of_the_zero_padded_images():
    x = np.asarray(_images(n=12, h=6, w=6, c=1))
    y = np.asarray(jn.data.random_crop(KEY, jnp.asarray(x), (4, 5), padding=1))
    assert y.shape == (12, 4, 5, 1)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for image, out in zip(padded, y, strict=True):
        assert any(np.array_equal(out, image[t:t + 4, s:s + 5])
                   for t in range(5) for s in range(4))


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_augmentations_keep_shapes_and_dtypes(dtype):
    x = _images(dtype=dtype)
    for out in (jn.data.random_flip(KEY, x), jn.data.random_translate(KEY, x, 2)):
        assert out.shape == x.shape and out.dtype == x.dtype
    crop = jn.data.random_crop(KEY, x, 5, padding=2)
    assert crop.shape == (16, 5, 5, 2) and crop.dtype == x.dtype


def test_augmentations_run_inside_jit_and_match_eager_results():
    x = _images()

    @jax.jit
    def augment(key, images):
        flip_key, shift_key, crop_key = jax.random.split(key, 3)
        images = jn.data.random_flip(flip_key, images)
        images = jn.data.random_translate(shift_key, images, 2)
        return jn.data.random_crop(crop_key, images, 6, padding=1)

    eager = jn.data.random_crop(
        jax.random.split(KEY, 3)[2],
        jn.data.random_translate(jax.random.split(KEY, 3)[1],
                                 jn.data.random_flip(jax.random.split(KEY, 3)[0], x), 2),
        6, padding=1)
    np.testing.assert_array_equal(augment(KEY, x), eager)
    crop = jax.jit(functools.partial(jn.data.random_crop, size=4, padding=0))
    assert crop(KEY, x).shape == (16, 4, 4, 2)


def test_different_keys_give_different_augmentations():
    x = _images()
    a = jn.data.random_translate(jax.random.key(1), x, 2)
    b = jn.data.random_translate(jax.random.key(2), x, 2)
    assert not np.array_equal(a, b)


def test_non_batches_and_oversized_crops_are_errors():
    with pytest.raises(ValueError, match=r"\(N, H, W, C\), got shape \(6, 7, 2\)"):
        jn.data.random_flip(KEY, _images()[0])
    with pytest.raises(ValueError, match=r"crop size \(9, 9\) does not fit images of \(6, 7\)"):
        jn.data.random_crop(KEY, _images(), 9, padding=1)
