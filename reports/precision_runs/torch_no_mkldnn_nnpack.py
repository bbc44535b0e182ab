"""torch CPU float32 conv2d with oneDNN disabled dispatches to NNPACK (batch >= 16 here), whose
error exceeds the direct-sum bound gamma_K * sum|x||w| (K = 19): a fast algorithm, not a bug.

Standalone (torch, numpy). Found by ``conv-oracle precision torch-no-mkldnn`` (y: err/bound 16.6
against the float32 direct sum; within the TF32-input model, 0.019).
"""
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(0)
x = rng.standard_normal((32, 2, 20, 20)).astype(np.float32)
w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
ref = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1)
scale = F.conv2d(torch.from_numpy(np.abs(x)).double(), torch.from_numpy(np.abs(w)).double(), padding=1)
k, u = 2 * 9, 2.0 ** -24
bound = k * u / (1 - k * u) * scale
torch.set_num_threads(1)
for mkldnn in (True, False):
    for nnpack in (True, False):
        torch.backends.mkldnn.enabled = mkldnn
        torch.backends.nnpack.set_flags(nnpack)
        y = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).double()
        ratio = ((y - ref).abs() / bound).max().item()
        print(f"mkldnn={mkldnn!s:5} nnpack={nnpack!s:5}: max error / direct-sum bound {ratio:.3g}")
