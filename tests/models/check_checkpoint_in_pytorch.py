#!/usr/bin/env python3
"""Loads a strider DCGAN checkpoint in PyTorch and checks that it is the same generator.

    python3 tests/models/check_checkpoint_in_pytorch.py out/dcgan

reads <outf>/checkpoint.safetensors with safetensors.torch.load_file, builds the recipe's
generator as a torch.nn.Sequential (the pytorch/examples layers: ConvTranspose2d without bias,
BatchNorm2d, ReLU, Tanh; first layer kernel = base, stride 1, padding 0, the others kernel 4,
stride 2, padding 1), loads the generator's tensors with load_state_dict(strict=True), runs it on
the checkpoint's `fixed_noise` in training mode (batch statistics, as the trainer draws its
samples) and compares the result, drawn as strider draws its grids (8 per row, 2 px padding,
[-1, 1] -> round to 0..255), with <outf>/fake_samples.png, which the trainer wrote at the same
iteration. Passes when no pixel differs by more than 2 levels (float rounding of two libraries).

Needs python3-torch and the `safetensors` package (pip install safetensors). Exit status 0 on a
match, 1 on a mismatch, 77 when torch or safetensors is missing (CTest's skip code).
"""
import math
import struct
import sys
import zlib

try:
    import torch
    from safetensors.torch import load_file
    from safetensors import safe_open
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e} (install python3-torch and `pip install safetensors`)")
    sys.exit(77)


def read_png_grey(path):
    """8-bit greyscale, non-interlaced PNG -> (width, height, list of rows of ints)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour == 0 and interlace == 0, f"{path}: not 8-bit grey"
        elif kind == b"IDAT":
            idat += body
    raw, rows, prev = zlib.decompress(idat), [], [0] * width
    for y in range(height):
        f, line = raw[y * (width + 1)], list(raw[y * (width + 1) + 1:(y + 1) * (width + 1)])
        for x in range(width):
            a = line[x - 1] if x else 0
            b, c = prev[x], (prev[x - 1] if x else 0)
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, rows


def main():
    outf = sys.argv[1] if len(sys.argv) > 1 else "out/dcgan"
    ckpt = f"{outf}/checkpoint.safetensors"
    tensors = load_file(ckpt)
    with safe_open(ckpt, framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "strider-dcgan-checkpoint-v1", meta.get("format")
    assert not meta.get("model.generator_text"), "a text architecture: this check builds the recipe only"
    nz, ngf, nc, size = (int(float(meta[f"model.{k}"])) for k in ("nz", "ngf", "nc", "image_size"))
    base, doublings = size, 0
    while base > 7:
        base, doublings = base // 2, doublings + 1
    nn = torch.nn
    layers, ch = [], ngf * 2 ** (doublings - 1)
    layers += [nn.ConvTranspose2d(nz, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
    for _ in range(doublings - 1):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
        ch //= 2
    layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
    g = nn.Sequential(*layers)
    state = {k[len("generator."):]: v for k, v in tensors.items() if k.startswith("generator.")}
    state = {k: (v.long() if k.endswith("num_batches_tracked") else v) for k, v in state.items()}
    g.load_state_dict(state, strict=True)
    g.train()
    with torch.no_grad():
        fake = g(tensors["fixed_noise"])
    n, c, h, w = fake.shape
    cols, pad = min(8, n), 2
    gw = cols * (w + pad) + pad
    width, height, rows = read_png_grey(f"{outf}/fake_samples.png")
    assert width == gw and c == 1, f"grid {width}x{height} vs {n} images of {c}x{h}x{w}"
    worst, total, count = 0, 0, 0
    for i in range(n):
        y0, x0 = (i // cols) * (h + pad) + pad, (i % cols) * (w + pad) + pad
        for y in range(h):
            for x in range(w):
                v = float(fake[i, 0, y, x])
                mine = 0 if math.isnan(v) else int(min(max((v + 1) * 127.5 + 0.5, 0), 255))
                d = abs(mine - rows[y0 + y][x0 + x])
                worst, total, count = max(worst, d), total + d, count + 1
    print(f"{ckpt}: generator ({sum(p.numel() for p in g.parameters())} parameters) loaded into torch "
          f"{torch.__version__} with strict=True; its samples of fixed_noise vs {outf}/fake_samples.png: "
          f"max pixel difference {worst}, mean {total / count:.4f} (of 255)")
    return 0 if worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
