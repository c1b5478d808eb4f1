#!/usr/bin/env bash
# Installs what is missing, builds strider (Release) and trains the DCGAN demo on its default data
# (Fashion-MNIST, 28x28, from Debian's dataset-fashion-mnist) on the CPU for a few minutes.
# Pictures go to out/dcgan/: fake_samples.png (latest samples), real_samples.png, loss_curve.png.
# Extra arguments go to `dcgan train` (e.g. --iterations 2000, --device cuda, --resume).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${STRIDER_JOBS:-$(nproc)}
bash scripts/install-deps.sh
cmake -S . -B build/native -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build/native -j "$jobs" --target dcgan
build/native/models/dcgan train --outf out/dcgan --iterations 600 --sample-every 100 --overwrite "$@"
echo "pictures: out/dcgan/fake_samples.png (samples), out/dcgan/real_samples.png, out/dcgan/loss_curve.png"
