"""Built-in conv2d implementations, registered through the same entry points as any plugin."""
