"""torch CPU float16 conv2d backward: dx and dw are not float32-accumulated and rounded once.

Standalone (torch only). Every sum below is of ones, so a float32 accumulator gives the exact
value (4096 is a float16 number) and a float16 accumulator stalls at 2048 (2048 + 1 rounds back).
Found by ``conv-oracle precision torch-f16`` (dx: err/bound 211 against the float32-accumulation
model on K=18; fitted effective accumulation ~16 bits for dx and dw, against >=19 for a float32 one).
"""
import torch
import torch.nn.functional as F

print("torch", torch.__version__, torch.backends.cpu.get_cpu_capability())
for name, (n, c, f) in {"dx (F=4096 terms)": (1, 1, 4096), "dw (N=4096 terms)": (4096, 1, 1)}.items():
    x = torch.ones(n, c, 1, 1, dtype=torch.float16, requires_grad=True)
    w = torch.ones(f, c, 1, 1, dtype=torch.float16, requires_grad=True)
    F.conv2d(x, w).backward(torch.ones(n, f, 1, 1, dtype=torch.float16))
    got = (x.grad if name.startswith("dx") else w.grad).flatten()[0].item()
    print(f"{name}: {got} (exact 4096; float32 accumulation gives 4096, float16 accumulation 2048)")
# dx over kernel taps: a 64x64 kernel of ones over a 127x127 input, gy ones: dx at the centre sums 4096 taps
x = torch.ones(1, 1, 127, 127, dtype=torch.float16, requires_grad=True)
w = torch.ones(1, 1, 64, 64, dtype=torch.float16)
F.conv2d(x, w).backward(torch.ones(1, 1, 64, 64, dtype=torch.float16))
print(f"dx (4096 taps): {x.grad[0, 0, 63, 63].item()} (exact 4096)")
y = F.conv2d(torch.ones(1, 4096, 1, 1, dtype=torch.float16), torch.ones(1, 4096, 1, 1, dtype=torch.float16))
print(f"y (C=4096 terms): {y.item()}")
