"""conv-oracle: differential testing and verification harness for 2-D convolution."""
from .bounds import BoundContext, DirectSum, ErrorModel, PerDtype, gamma
from .plugin import Capabilities, ConvPlugin, NotSupported
from .spec import ConvSpec, SpecError

__all__ = ["BoundContext", "Capabilities", "ConvPlugin", "ConvSpec", "DirectSum", "ErrorModel",
           "NotSupported", "PerDtype", "SpecError", "gamma"]
__version__ = "0.1.0"
