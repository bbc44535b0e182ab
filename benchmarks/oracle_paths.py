"""The torch oracle's gathered path (conv_oracle.oracles.torch_oracle._gathered: im2col + NumPy
matmuls) against torch's own float64 conv2d + convolution_backward, truth and magnitudes of one
case, one thread, median of 5 interleaved timings (us). Specs default to typical grouped ones;
give descriptors to time others.

    flock -x /tmp/conv-oracle-cpu.lock taskset -c 1 .venv/bin/python benchmarks/oracle_paths.py [DESCRIPTOR ...]
"""
import sys
import timeit

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from conv_oracle.cases import make_arrays
from conv_oracle.oracles import torch_oracle as T
from conv_oracle.spec import ConvSpec

torch.set_num_threads(1)
threadpool_limits(1)
specs = sys.argv[1:] or [
    "n1c17h1w1f17k3p1g17b1", "n1c3h5w5f3k3s2p1g3b1", "n2c8h5w5f8k3p1,1,2,1g8b1", "n4c4h3w3f4k3p1g4b1",
    "n2c6h7w5f4k5x3s3x1p2,4,2,0d1x2g2b0", "n1c16h5w1f16k2s3x2p4,0,4,3d2g4b0", "n3c9h5w2f9k2x1s3x1p0,1,1,0d3x1g3b1",
    "n1c32h8w8f32k3p1g32b1", "n1c64h6w6f64k3p1g64b1", "n2c16h8w8f16k3p1g4b1", "n1c9h5w5f9k3p1g3b1",
    "n4c32h16w16f32k3p1g32b1", "n4c32h16w16f32k3p1g4b1", "n4c32h16w16f32k3p1g2b1", "n8c64h28w28f64k3p1g64b1",
    "n8c64h28w28f64k3p1g8b1", "n2c128h14w14f128k3p1g2b1"]
print("| spec | torch (us) | gathered (us) | ratio |")
print("|---|---|---|---|")
for d in specs:
    sp = ConvSpec.parse(d + " f64"); a = make_arrays(sp, 0).as_float64()
    old = lambda: (T._fwd_bwd(sp, a.x, a.w, a.b, a.gy, sp.groups),
                   T._fwd_bwd(sp, np.abs(a.x), np.abs(a.w), None if a.b is None else np.abs(a.b), np.abs(a.gy), sp.groups))
    new = lambda: T._gathered(sp, a.x, a.w, a.b, a.gy)
    number = max(1, int(0.05 / max(1e-6, min(timeit.repeat(old, number=1, repeat=3)))))
    res = {}
    for _ in range(5):           # interleaved
        for name, fn in (("old", old), ("new", new)):
            res.setdefault(name, []).append(timeit.timeit(fn, number=number) / number * 1e6)
    o, n = np.median(res["old"]), np.median(res["new"])
    print(f"| {d} | {o:.0f} | {n:.0f} | {o / n:.2f}x |", flush=True)
