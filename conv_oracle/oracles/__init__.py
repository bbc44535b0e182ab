"""Reference implementations: PyTorch (the truth, float64) and JAX (the cross-check).

Each oracle module pins its precision settings and describes them in ``settings()``;
both are imported lazily so that a missing or broken one is reported, not fatal.
"""
