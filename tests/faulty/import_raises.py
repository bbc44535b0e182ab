"""A plugin module whose import raises."""
raise RuntimeError("cannot find libconv.so")
