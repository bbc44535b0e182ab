"""A plugin module whose import ends the interpreter with exit code 0."""
import os

os._exit(0)
