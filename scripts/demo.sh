#!/usr/bin/env bash
# Installs what is missing, builds strider (Release) and trains the DCGAN demo on its default data
# (Fashion-MNIST, 28x28, from Debian's dataset-fashion-mnist) on the CPU: 1500 iterations of batch
# 64, about 4-5 minutes on 2 cores.
# Pictures go to out/dcgan/: fake_samples.png (latest samples), real_samples.png, loss_curve.png.
# Extra arguments go to `dcgan train` (e.g. --iterations 2000, --device cuda, --resume).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${STRIDER_JOBS:-$(nproc)}
bash scripts/install-deps.sh
cmake -S . -B build/native -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build/native -j "$jobs" --target dcgan
build/native/models/dcgan train --outf out/dcgan --iterations 1500 --sample-every 250 --overwrite "$@"
echo "pictures: out/dcgan/fake_samples.png (samples), out/dcgan/real_samples.png, out/dcgan/loss_curve.png"
echo "sample quality as a number (trains a small classifier first, ~2.5 min):"
echo "  build/native/models/dcgan classifier -o out/classifier.safetensors"
echo "  build/native/models/dcgan score --checkpoint out/dcgan/checkpoint.safetensors --classifier out/classifier.safetensors"
