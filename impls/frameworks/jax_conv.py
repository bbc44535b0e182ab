"""JAX candidates: ``lax.conv_general_dilated`` under ``jax.jit``, gradients by ``jax.vjp``,
on the CPU backend (XLA), in float32 at the default precision and at ``Precision.HIGHEST``,
and in bfloat16.

These are candidates, distinct from the JAX oracle (float64, x64, its own worker): here JAX
runs in the candidate's worker with x64 off, as users run it. One jitted function per
(shapes, stride, padding, dilation, groups) is compiled and cached.
"""
from __future__ import annotations

from conv_oracle import Capabilities, DirectSum

from .base import FrameworkPlugin


def run_jax(x, w, b, gy, stride, padding, dilation, groups, *, precision=None):
    """jax.lax.conv_general_dilated(NCHW, OIHW) under jit; gy None: forward only (else jax.vjp)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    cache = run_jax.__dict__.setdefault("cache", {})
    key = (x.shape, w.shape, b is not None, str(x.dtype), tuple(stride), tuple(map(tuple, padding)),
           tuple(dilation), groups, precision, gy is not None)
    if key not in cache:
        prec = getattr(jax.lax.Precision, precision) if precision else None

        def conv(x, w, b):
            y = jax.lax.conv_general_dilated(x, w, window_strides=tuple(stride), padding=[tuple(p) for p in padding],
                                             rhs_dilation=tuple(dilation), feature_group_count=groups,
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=prec)
            return y if b is None else y + b[None, :, None, None]

        if gy is None:
            cache[key] = jax.jit(conv)
        else:
            def forward_backward(x, w, b, gy):
                y, pullback = jax.vjp(conv, x, w, b)
                return (y, *pullback(gy))
            cache[key] = jax.jit(forward_backward)
    args = [jnp.asarray(x), jnp.asarray(w), None if b is None else jnp.asarray(b)]
    if gy is None:
        return {"y": np.asarray(cache[key](*args))}
    y, dx, dw, db = cache[key](*args, jnp.asarray(gy))
    out = {"y": np.asarray(y), "dx": np.asarray(dx), "dw": np.asarray(dw)}
    if b is not None:
        out["db"] = np.asarray(db)
    return out


class JaxCandidate(FrameworkPlugin):
    requires = ("jax",)
    run = run_jax
    standalone = (run_jax,)
    backward_method = "jax.vjp of the jitted convolution"
    # one XLA CPU thread (2 cores are shared with the oracles); x64 stays off as users run it
    environment = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
                   "JAX_PLATFORMS": "cpu", "JAX_ENABLE_X64": "0"}
    error_model = DirectSum()

    def library_settings(self) -> dict:
        import jax

        return {"backend": jax.default_backend(), "x64": bool(jax.config.jax_enable_x64),
                "default_matmul_precision": str(jax.config.jax_default_matmul_precision),
                "precision": self.options.get("precision") or "DEFAULT"}


class JaxFloat32(JaxCandidate):
    name = "jax-f32"
    description = "jax.lax.conv_general_dilated under jit, jax.vjp, float32, default precision, CPU"
    capabilities = Capabilities(dtypes=("float32",), max_elements=2_000_000)


class JaxFloat32Highest(JaxCandidate):
    name = "jax-f32-highest"
    description = "jax.lax.conv_general_dilated under jit, jax.vjp, float32, precision=HIGHEST, CPU"
    capabilities = Capabilities(dtypes=("float32",), max_elements=2_000_000)
    options = {"precision": "HIGHEST"}


class JaxBFloat16(JaxCandidate):
    name = "jax-bf16"
    description = "jax.lax.conv_general_dilated under jit, jax.vjp, bfloat16 inputs and outputs, default precision, CPU"
    capabilities = Capabilities(dtypes=("bfloat16",), max_elements=2_000_000)
    # the mainstream contract: bf16 products exact in float32, float32 accumulation, output rounded to bf16;
    # lax.conv_general_dilated takes no bias, so the bias is added after that rounding, in bfloat16
    error_model = DirectSum(accumulate="float32", bias="after")
