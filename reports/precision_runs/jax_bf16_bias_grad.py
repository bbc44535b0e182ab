"""JAX (CPU, XLA): the gradient of a broadcast bias add in bfloat16 is summed in bfloat16.

Standalone (jax only). db = sum(gy) over 64x64 ones should be 4096; jnp.sum gets it right
(it accumulates in float32), the transpose of the broadcast in jax.vjp does not. Found by
``conv-oracle precision jax-bf16`` (db: fitted effective accumulation 8.0 bits; err/bound 206
against the float32-accumulation model at K=12800).
"""
import jax, jax.numpy as jnp
b = jnp.zeros(1, jnp.bfloat16)
gy = jnp.ones((1, 1, 64, 64), jnp.bfloat16)                        # db = sum(gy) = 4096
_, pullback = jax.vjp(lambda b: jnp.zeros((1, 1, 64, 64), jnp.bfloat16) + b[None, :, None, None], b)
print("jax", jax.__version__, "db =", pullback(gy)[0], "(exact 4096)")
print("jnp.sum:", jnp.sum(gy), " jnp.sum(dtype=f32):", jnp.sum(gy, dtype=jnp.float32))
