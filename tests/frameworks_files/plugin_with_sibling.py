"""A file plugin that imports a module next to it and declares a library setting; forward
refuses to answer unless the setting was applied before it ran (as the worker must do)."""
import os

from sibling_helper import ENV_NAME

from impls.frameworks.torch_conv import TorchEager


class NeedsSetting(TorchEager):
    name = "needs-setting"
    description = "torch eager, but only with its declared setting in the environment"
    environment = {ENV_NAME: "applied"}

    def forward(self, x, w, b, spec):
        if os.environ.get(ENV_NAME) != "applied":
            raise RuntimeError(f"{ENV_NAME} was not applied before the call")
        return super().forward(x, w, b, spec)


class MissingLibrary(TorchEager):
    name = "missing-library"
    description = "needs a library that is not installed"
    requires = ("torch", "no_such_library_for_conv_oracle")
    install = "pip install no-such-library-for-conv-oracle"
