#!/usr/bin/env python3
"""Checks strider's safetensors files against Python's `safetensors` and PyTorch (not run by CI).

Needs Debian's python3-torch and the `safetensors` package, e.g.
    /usr/bin/python3 -m venv --system-site-packages /tmp/st && /tmp/st/bin/pip install safetensors

  check_safetensors_with_python.py --write-fixture tests/fixtures/io/python_reference.safetensors
      writes the reference file io_tests compares strider's output with, byte for byte
  check_safetensors_with_python.py build/tests/io/interop.safetensors
      loads the file io_tests' Safetensors.WritesInteropFileForPython test writes, with
      safetensors.torch.load_file and safe_open, and checks every tensor and the metadata

The tensors (the same in serialize_test.cpp, `reference_tensors()`):
  a_f32  float32 (2, 3)  0.5 * i - 1 for i = 0..5
  b_f64  float64 (3,)    1.5, -2.25, 1e300
  empty  float32 (0, 4)
  scalar float32 ()      3.25
  z_f64  float64 (2, 2)  1e-300, -0.0, inf, -7.0
and the metadata {"format": "pt"}.
"""
import argparse
import json
import math
import struct
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file


def reference_tensors():
    return {
        "a_f32": (torch.arange(6, dtype=torch.float32) * 0.5 - 1).reshape(2, 3),
        "b_f64": torch.tensor([1.5, -2.25, 1e300], dtype=torch.float64),
        "empty": torch.zeros(0, 4, dtype=torch.float32),
        "scalar": torch.tensor(3.25, dtype=torch.float32),
        "z_f64": torch.tensor([[1e-300, -0.0], [math.inf, -7.0]], dtype=torch.float64),
    }


METADATA = {"format": "pt"}


def check(path):
    expected = reference_tensors()
    loaded = load_file(path)
    assert sorted(loaded) == sorted(expected), f"tensor names {sorted(loaded)} != {sorted(expected)}"
    for name, want in expected.items():
        got = loaded[name]
        assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != {want.dtype}"
        assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
        # bit-exact, including -0.0 and inf
        assert got.numpy().tobytes() == want.numpy().tobytes(), f"{name}: values differ: {got} vs {want}"
    with safe_open(path, framework="pt") as f:
        assert f.metadata() == METADATA, f"metadata {f.metadata()} != {METADATA}"
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = f.read(n)
    assert n % 8 == 0, f"header length {n} is not a multiple of 8"
    json.loads(header)
    print(f"OK: {path} loads in safetensors and torch {torch.__version__} with the expected tensors and metadata")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", help="a safetensors file written by strider to check")
    ap.add_argument("--write-fixture", metavar="PATH", help="write the Python reference file")
    args = ap.parse_args()
    if args.write_fixture:
        save_file(reference_tensors(), args.write_fixture, metadata=METADATA)
        check(args.write_fixture)
    if args.file:
        check(args.file)
    if not args.file and not args.write_fixture:
        ap.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
