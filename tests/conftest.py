"""Suite-wide settings: strict NumPy semantics turn silent broadcasting bugs into errors."""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
