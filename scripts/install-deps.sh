#!/usr/bin/env bash
# Installs the Debian packages strider needs to build, test and run its demo. Idempotent: does
# nothing when everything is present. Run as root (or with sudo) on Debian 12 or newer.
# The CUDA toolkit is not installed here: strider detects nvcc and builds without it.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  googletest libgtest-dev libgmock-dev libbenchmark-dev   # tests, benchmarks
  libboost-context-dev                                     # fibers of the CUDA emulator
  libopenblas-dev                                          # CPU GEMM
  zlib1g-dev libpng-dev libstb-dev                         # IDX datasets, images
  nlohmann-json3-dev libcli11-dev                          # safetensors headers, CLI
  dataset-fashion-mnist                                    # the demo's default data
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: missing packages and not root; run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
