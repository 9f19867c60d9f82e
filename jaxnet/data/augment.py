"""Data augmentation for NHWC image batches: random flips, translations and crops.

Each is a pure ``jax.numpy`` function of a key and a batch, so it runs inside a jitted training
step; sizes (``max_shift``, ``size``, ``padding``) are Python ints, fixed at trace time. Every
image of the batch draws its own transformation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def random_flip(key: jax.Array, images: jax.Array) -> jax.Array:
    """Mirrors each image left-right with probability 1/2.

    Args:
        key: a JAX key; the same key flips the same images, so flipping twice with one key is the
            identity.
        images: a batch ``(N, H, W, C)``.

    Returns:
        The batch, same shape and dtype.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> x = jnp.arange(6.0).reshape(2, 1, 3, 1)
        >>> y = jn.data.random_flip(jax.random.key(0), x)
        >>> bool(jnp.all(jn.data.random_flip(jax.random.key(0), y) == x))
        True
    """
    _check_batch(images)
    flip = jax.random.bernoulli(key, 0.5, (images.shape[0], 1, 1, 1))
    return jnp.where(flip, images[:, :, ::-1, :], images)


def random_crop(
    key: jax.Array, images: jax.Array, size: int | tuple[int, int], padding: int = 0
) -> jax.Array:
    """Pads each image with ``padding`` zeros on every side, then cuts a window at random.

    Args:
        key: a JAX key.
        images: a batch ``(N, H, W, C)``.
        size: the window, ``(h, w)`` or one int for a square; at most ``H + 2 * padding`` by
            ``W + 2 * padding``.
        padding: zeros added on each side before cropping.

    Returns:
        The crops ``(N, h, w, C)``, same dtype.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> jn.data.random_crop(jax.random.key(0), jnp.ones((5, 32, 32, 3)), 28).shape
        (5, 28, 28, 3)
    """
    _check_batch(images)
    n, height, width, channels = images.shape
    h, w = (size, size) if isinstance(size, int) else size
    if not (0 < h <= height + 2 * padding and 0 < w <= width + 2 * padding):
        raise ValueError(f"crop size {(h, w)} does not fit images of {(height, width)} padded by "
                         f"{padding}")
    padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    top_key, left_key = jax.random.split(key)
    tops = jax.random.randint(top_key, (n,), 0, height + 2 * padding - h + 1)
    lefts = jax.random.randint(left_key, (n,), 0, width + 2 * padding - w + 1)

    def cut(image, top, left):
        return jax.lax.dynamic_slice(image, (top, left, jnp.zeros_like(top)), (h, w, channels))

    return jax.vmap(cut)(padded, tops, lefts)


def random_translate(key: jax.Array, images: jax.Array, max_shift: int) -> jax.Array:
    """Shifts each image by a random whole number of pixels, filling the vacated border with 0.

    The vertical and horizontal shifts are drawn independently and uniformly from
    ``[-max_shift, max_shift]``; content shifted past the edge is lost. This is a crop of the
    image's own size from the image padded by ``max_shift``.

    Args:
        key: a JAX key.
        images: a batch ``(N, H, W, C)``.
        max_shift: the largest shift, in pixels, along each axis.

    Returns:
        The batch, same shape and dtype.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> x = jnp.zeros((1, 5, 5, 1)).at[0, 2, 2, 0].set(1.0)
        >>> y = jn.data.random_translate(jax.random.key(1), x, 1)
        >>> float(y.sum()), bool(y[0, 1:4, 1:4].sum() == 1)
        (1.0, True)
    """
    _check_batch(images)
    return random_crop(key, images, images.shape[1:3], padding=max_shift)


def _check_batch(images) -> None:
    if jnp.ndim(images) != 4:
        raise ValueError(f"augmentation expects a batch of images (N, H, W, C), got shape "
                         f"{jnp.shape(images)}")
