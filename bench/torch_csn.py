"""PyTorch eager timing of ir-CSN (VMZ layout) for `npm run bench` comparisons on a GPU machine.

    python3 bench/torch_csn.py --depth 152 --shape 1x3x32x224x224 --device cuda [--dtype float16]

Builds the network from the architecture table in shared/reference/csn.md (random weights,
inference mode, float32 without TF32 or float16, cuDNN) and prints the median latency over repeated runs as JSON.
"""
import argparse
import json
import time

import torch
import torch.nn as nn

BLOCKS = {26: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


class Bottleneck(nn.Module):
    def __init__(self, cin, inner, out, stride, mode):
        super().__init__()
        layers = [nn.Conv3d(cin, inner, 1, bias=False), nn.BatchNorm3d(inner, eps=1e-3), nn.ReLU(inplace=True)]
        if mode == "ip":
            layers += [nn.Conv3d(inner, inner, 1, bias=False), nn.BatchNorm3d(inner, eps=1e-3)]
        layers += [nn.Conv3d(inner, inner, 3, stride, 1, groups=inner, bias=False), nn.BatchNorm3d(inner, eps=1e-3), nn.ReLU(inplace=True)]
        layers += [nn.Conv3d(inner, out, 1, bias=False), nn.BatchNorm3d(out, eps=1e-3)]
        self.main = nn.Sequential(*layers)
        self.shortcut = None
        if stride != 1 or cin != out:
            self.shortcut = nn.Sequential(nn.Conv3d(cin, out, 1, stride, bias=False), nn.BatchNorm3d(out, eps=1e-3))

    def forward(self, x):
        s = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(self.main(x) + s)


def csn(depth, mode, width=64, classes=400):
    layers = [nn.Conv3d(3, width, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), nn.BatchNorm3d(width, eps=1e-3), nn.ReLU(inplace=True), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))]
    cin = width
    for stage, n in enumerate(BLOCKS[depth]):
        out = width * 4 * 2**stage
        for i in range(n):
            layers.append(Bottleneck(cin, out // 4, out, 2 if stage > 0 and i == 0 else 1, mode))
            cin = out
    layers += [nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--depth", type=int, default=152)
    p.add_argument("--mode", default="ir")
    p.add_argument("--shape", default="1x3x32x224x224")
    p.add_argument("--device", default="cuda")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    a = p.parse_args()
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dtype = getattr(torch, a.dtype)
    model = csn(a.depth, a.mode).eval().to(a.device, dtype)
    x = torch.randn(*[int(d) for d in a.shape.split("x")], device=a.device, dtype=dtype)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    times = []
    with torch.inference_mode():
        for _ in range(5):
            model(x)
        sync()
        for _ in range(a.iterations):
            t = time.perf_counter()
            model(x)
            sync()
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(json.dumps({"engine": "PyTorch eager", "torch": torch.__version__, "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu", "dtype": a.dtype, "median_ms": times[len(times) // 2], "min_ms": times[0], "shape": a.shape, "depth": a.depth, "mode": a.mode}))


if __name__ == "__main__":
    main()
