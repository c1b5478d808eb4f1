#!/usr/bin/env bash
# CTest: a short `dcgan train` writes a checkpoint; tests/models/check_checkpoint_in_pytorch.py
# loads it in PyTorch and redraws the trainer's last sample grid. Skips (77) when no python3 on
# this machine imports both torch and safetensors.
#   pytorch_interop.sh <dcgan binary> <work dir>
set -euo pipefail
dcgan=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
py=""
for cand in python3 /usr/bin/python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import torch, safetensors' >/dev/null 2>&1; then py=$cand; break; fi
done
if [ -z "$py" ]; then
  echo "skipped: no python3 here imports torch and safetensors (apt-get install python3-torch; pip install safetensors)"
  exit 77
fi
rm -rf "$work"
"$dcgan" train --outf "$work" --iterations 3 --sample-every 3 --checkpoint-every 3 --batch-size 16 --ngf 8 --ndf 8 \
  --log-every 1
"$py" "$here/check_checkpoint_in_pytorch.py" "$work"
