#!/usr/bin/python3
"""Golden conv2d / conv_transpose2d fixtures from PyTorch for tests/kernels/conv_fixture_test.cpp.

Run with Debian's python3-torch (apt-get install -y python3-torch), not a pyenv python:
    /usr/bin/python3 tests/make_conv_fixtures.py [--out tests/fixtures/conv]

One file per case, little-endian:
    8 bytes   magic b"STRCONV1"
    18 int32  N C H W K R S stride_h stride_w pad_h pad_w dil_h dil_w groups out_pad_h out_pad_w
              transposed has_bias
    float32   x (N,C,H,W), weight, [bias (K)], grad_y (N,K,P,Q)            inputs
    float64   y (N,K,P,Q), grad_x (N,C,H,W), grad_weight, [grad_bias (K)]  PyTorch's results
Shapes and names follow kernels/conv2d.hpp (weight (K, C/g, R, S) for conv2d, (C, K/g, R, S) for
conv_transpose2d). Inputs are float32 values; PyTorch computes in float64 on exactly those values,
so the float64 reference must match to ~1e-12 and float32 backends to float tolerance.
The DCGAN layers keep their spatial sizes, kernels, strides and paddings; the latent size is 8 and
the channels are divided (by 16 for 64x64, by 8 for the grey variants) to keep the files small
(under 2 MB in all); batch 2 where it is cheap, else 1; the full-size layers run in the random-input tests against the reference.
"""
import argparse
import os
import struct

import torch
import torch.nn.functional as F

MAGIC = b"STRCONV1"


def case(name, N, C, H, W, K, R, S=None, stride=1, pad=0, dil=1, groups=1, out_pad=0, transposed=False,
         bias=False):
    pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    return dict(name=name, N=N, C=C, H=H, W=W, K=K, RS=(R, S if S is not None else R), stride=pair(stride),
                pad=pair(pad), dil=pair(dil), groups=groups, out_pad=pair(out_pad), transposed=transposed,
                bias=bias)


def cases():
    out = []
    # DCGAN 64x64 RGB with nz 8 and channels / 16 (G 8-32-16-8-4-3, D 3-4-8-16-32-1).
    g = [8, 32, 16, 8, 4, 3]
    out.append(case("dcgan64_g1", 2, g[0], 1, 1, g[1], 4, transposed=True))
    for i, hw in enumerate([4, 8, 16, 32]):
        out.append(case(f"dcgan64_g{i + 2}", 2 if hw < 8 else 1, g[i + 1], hw, hw, g[i + 2], 4, stride=2, pad=1,
                        transposed=True, bias=(i == 3)))
    d = [3, 4, 8, 16, 32]
    for i, hw in enumerate([64, 32, 16, 8]):
        out.append(case(f"dcgan64_d{i + 1}", 2 if hw < 16 else 1, d[i], hw, hw, d[i + 1], 4, stride=2, pad=1))
    out.append(case("dcgan64_d5", 2, 32, 4, 4, 1, 4, bias=True))
    # DCGAN 32x32 grey with nz 8 and channels / 8 (G 8-32-16-8-1, D 1-8-16-32-1).
    out.append(case("dcgan32_g1", 2, 8, 1, 1, 32, 4, transposed=True))
    for i, (ci, co, hw) in enumerate([(32, 16, 4), (16, 8, 8), (8, 1, 16)]):
        out.append(case(f"dcgan32_g{i + 2}", 1, ci, hw, hw, co, 4, stride=2, pad=1, transposed=True, bias=(co == 1)))
    for i, (ci, co, hw) in enumerate([(1, 8, 32), (8, 16, 16), (16, 32, 8)]):
        out.append(case(f"dcgan32_d{i + 1}", 1, ci, hw, hw, co, 4, stride=2, pad=1))
    out.append(case("dcgan32_d4", 2, 32, 4, 4, 1, 4, bias=True))
    # DCGAN 28x28 grey with nz 8 and channels / 8 or / 16 (G 8-16 (k7)-16-1, D 1-8-16-1 (k7)).
    out.append(case("dcgan28_g1", 2, 8, 1, 1, 16, 7, transposed=True))
    out.append(case("dcgan28_g2", 1, 16, 7, 7, 16, 4, stride=2, pad=1, transposed=True))
    out.append(case("dcgan28_g3", 1, 16, 14, 14, 1, 4, stride=2, pad=1, transposed=True, bias=True))
    out.append(case("dcgan28_d1", 1, 1, 28, 28, 8, 4, stride=2, pad=1))
    out.append(case("dcgan28_d2", 1, 8, 14, 14, 16, 4, stride=2, pad=1))
    out.append(case("dcgan28_d3", 2, 16, 7, 7, 1, 7, bias=True))
    # The awkward ones.
    out += [
        case("odd_nonsquare", 2, 3, 7, 11, 5, 3, 2, stride=(2, 1), pad=(1, 0), bias=True),
        case("groups2_dil_stride", 2, 4, 11, 9, 6, 3, stride=2, pad=2, dil=2, groups=2, bias=True),
        case("depthwise", 1, 4, 6, 5, 4, 3, pad=1, groups=4),
        case("stride3_dil3", 1, 2, 13, 10, 3, 2, 3, stride=3, dil=(3, 2), pad=(2, 1)),
        case("kernel_eq_padded_input", 2, 3, 3, 2, 4, 5, 4, pad=1, bias=True),
        case("pointwise", 2, 8, 5, 7, 6, 1, bias=True),
        case("input_1x1_pad", 2, 3, 1, 1, 4, 3, pad=1),
        case("t_out_pad", 2, 4, 5, 6, 3, 3, stride=2, pad=1, out_pad=1, transposed=True, bias=True),
        case("t_out_pad_nonsquare", 1, 3, 4, 5, 2, 3, 2, stride=(3, 2), pad=(1, 0), out_pad=(2, 1),
             transposed=True),
        case("t_out_pad_below_dilation", 2, 2, 5, 4, 3, 3, dil=2, out_pad=1, transposed=True, bias=True),
        case("t_groups2_dil", 2, 4, 5, 5, 6, 3, stride=2, pad=2, dil=2, groups=2, out_pad=1, transposed=True),
        case("t_stride_gt_kernel", 2, 3, 4, 3, 2, 2, stride=3, transposed=True, bias=True),
        case("t_big_pad", 1, 2, 6, 6, 2, 5, pad=4, transposed=True),
    ]
    return out


def run(c, gen):
    R, S = c["RS"]
    g = c["groups"]
    x = torch.rand(c["N"], c["C"], c["H"], c["W"], generator=gen) * 2 - 1
    wshape = (c["C"], c["K"] // g, R, S) if c["transposed"] else (c["K"], c["C"] // g, R, S)
    w = torch.rand(*wshape, generator=gen) * 2 - 1
    b = torch.rand(c["K"], generator=gen) * 2 - 1 if c["bias"] else None
    xd, wd = x.double().requires_grad_(), w.double().requires_grad_()
    bd = b.double().requires_grad_() if b is not None else None
    if c["transposed"]:
        y = F.conv_transpose2d(xd, wd, bd, stride=c["stride"], padding=c["pad"], output_padding=c["out_pad"],
                               groups=g, dilation=c["dil"])
    else:
        y = F.conv2d(xd, wd, bd, stride=c["stride"], padding=c["pad"], dilation=c["dil"], groups=g)
    dy = torch.rand(*y.shape, generator=gen) * 2 - 1
    (y * dy.double()).sum().backward()
    header = [c["N"], c["C"], c["H"], c["W"], c["K"], R, S, *c["stride"], *c["pad"], *c["dil"], g, *c["out_pad"],
              int(c["transposed"]), int(c["bias"])]
    blob = MAGIC + struct.pack("<18i", *header)
    for t in [x, w] + ([b] if b is not None else []) + [dy]:
        blob += t.contiguous().numpy().astype("<f4").tobytes()
    for t in [y.detach(), xd.grad, wd.grad] + ([bd.grad] if bd is not None else []):
        blob += t.contiguous().numpy().astype("<f8").tobytes()
    return blob


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "conv"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(20240601)
    total = 0
    names = []
    for c in cases():
        blob = run(c, gen)
        path = os.path.join(args.out, c["name"] + ".bin")
        with open(path, "wb") as f:
            f.write(blob)
        total += len(blob)
        names.append(c["name"])
    with open(os.path.join(args.out, "MANIFEST"), "w") as f:
        f.write("# written by tests/make_conv_fixtures.py with torch %s; one fixture per line\n" % torch.__version__)
        f.write("\n".join(names) + "\n")
    print(f"{len(names)} fixtures, {total / 1e6:.2f} MB in {args.out}")


if __name__ == "__main__":
    main()
