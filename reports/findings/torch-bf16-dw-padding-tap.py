#!/usr/bin/env python3
"""torch 2.13.0 CPU, bfloat16: conv2d's weight gradient leaves a tap that sees only padding uninitialised.

Case: x (1, 16, 1, 1), w (1, 16, 1, 2), stride (1, 2), padding (0, 1), bfloat16, no bias. The output is
1x1; kernel column 0 reads only the left padding, so dw[:, :, 0, 0] is exactly 0 (a sum of products with
zeros); column 1 reads x, dw[0, c, 0, 1] = gy * x[0, c]. oneDNN's bf16 backward-weights kernel
(ONEDNN_VERBOSE: jit_bf16:avx512_core_bf16, backward_weights, mb1_ic16oc1_ih1oh1kh1sh1_iw1ow1kw2sw2pw1)
returns whatever bytes were in its buffer for column 0: tiny or huge numbers, Inf, NaN, differing from
call to call on identical inputs. torch.backends.mkldnn off gives 0 every time.

Run: python torch-bf16-dw-padding-tap.py [--threads N] [--calls N] [--no-mkldnn]
  (needs only torch; exit 1 and REPRODUCED when any call gives a nonzero column 0, 0 when none does).
  MALLOC_PERTURB_=165 python torch-bf16-dw-padding-tap.py makes glibc fill fresh allocations with the
  byte 0x5a: column 0 then holds the same huge value (2.94e15 here; 1.534e16 = 0x5a5a as bfloat16 with
  x, gy all ones) on every call: the value is read from memory malloc returned, never written.
"""
import argparse
import sys

import torch
import torch.nn.functional as F


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--calls", type=int, default=200, help="identical calls in this process (default 200)")
    parser.add_argument("--no-mkldnn", action="store_true", help="torch.backends.mkldnn.enabled = False")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.backends.mkldnn.enabled = not args.no_mkldnn
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, mkldnn {torch.backends.mkldnn.enabled}, "
          f"capability {torch.backends.cpu.get_cpu_capability()}")

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, 1, 1, generator=generator).bfloat16()
    w = torch.randn(1, 16, 1, 2, generator=generator).bfloat16().requires_grad_()
    gy = torch.randn(1, 1, 1, 1, generator=generator).bfloat16()
    want = (gy.double() * x.double())[0, :, 0, 0]            # dw[0, :, 0, 1], exact in float64

    bad, results, first = 0, set(), None
    for call in range(args.calls):
        y = F.conv2d(x, w, None, stride=(1, 2), padding=(0, 1))            # (1, 1, 1, 1)
        dw, = torch.autograd.grad(y, (w,), gy)                              # (1, 16, 1, 2)
        padding_tap, data_tap = dw.double()[0, :, 0, 0], dw.double()[0, :, 0, 1]
        wrong = bool((padding_tap != 0).any() or not torch.isfinite(data_tap).all()
                     or ((data_tap - want).abs() > 2 ** -8 * want.abs()).any())   # bf16 rounding of one product
        bad += wrong
        results.add(dw.view(torch.int16).numpy().tobytes())
        if wrong and first is None:
            first = call
            print(f"call {call}: dw[0, :4, 0, 0] = {padding_tap[:4].tolist()} (want 0.0), "
                  f"dw[0, :4, 0, 1] = {dw.double()[0, :4, 0, 1].tolist()} (want {want[:4].tolist()})")
    print(f"{bad}/{args.calls} calls wrong (first: {first}); {len(results)} distinct dw results from identical inputs")
    if bad:
        print("REPRODUCED: dw at a kernel tap that sees only padding is not 0")
        return 1
    print("not reproduced")
    return 0


if __name__ == "__main__":
    sys.exit(main())
