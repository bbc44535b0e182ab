"""Measurement fixtures for ``conv-oracle precision`` (not candidates of the package: those live in
``impls/frameworks/``): torch-eager in float32 under torch's reduced-precision permissions.

    conv-oracle precision reports/precision_runs/torch_settings.py:MatmulMedium \
        reports/precision_runs/torch_settings.py:MkldnnConvBf16

Both are permissions, not orders: oneDNN uses a bfloat16 kernel for a float32 convolution only
where the CPU has one it prefers (AMX, AVX-512 BF16 on some CPUs); the verdict says what ran.
"""
from impls.frameworks.torch_conv import TorchEager


class MatmulMedium(TorchEager):
    name = "torch-f32-matmul-medium"
    description = "torch-eager after torch.set_float32_matmul_precision('medium')"

    def setup(self) -> None:
        import torch

        super().setup()
        torch.set_float32_matmul_precision("medium")


class MkldnnConvBf16(TorchEager):
    name = "torch-f32-mkldnn-conv-bf16"
    description = ("torch-eager with set_float32_matmul_precision('medium') and "
                   "torch.backends.mkldnn.conv.fp32_precision = 'bf16' (oneDNN fpmath mode bf16)")

    def setup(self) -> None:
        import torch

        super().setup()
        torch.set_float32_matmul_precision("medium")
        torch.backends.mkldnn.conv.fp32_precision = "bf16"
