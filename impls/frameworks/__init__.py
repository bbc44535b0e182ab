"""Framework candidates: the conv2d that people run, one module per library.

Each module imports its library lazily (inside its functions), so a missing library makes
its plugins *unavailable* with the install command instead of breaking the registry.
Each module's ``run_*`` function uses only the library and NumPy: it is the adapter the
plugin calls and, copied verbatim, the core of every standalone reproduction script.
"""
