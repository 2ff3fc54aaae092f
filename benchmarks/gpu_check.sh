#!/usr/bin/env bash
# The whole notebook chain through papermill on one GPU, on a synthetic Places365 tree made on the fly,
# with per-notebook wall times, images/s and MFU per stage (bf16), HED sketches/s and peak memory.
# No network needed: the Jupyter stack is installed offline from a wheel folder, HED's weights are carried.
#
# Prepare on a machine with network (both paths are gitignored; together well under 64 MiB):
#   pip download papermill ipykernel ipywidgets ipycanvas -d .whl/ \
#       --only-binary=:all: --python-version 3.X          # the GPU machine's Python version
#   rm .whl/numpy-*.whl .whl/pillow-*.whl                 # torch's machine has them: keeps .whl/ ~46 MiB
#   python benchmarks/gpu_check.py --export-hed-fp16 .whl/hed_bsds500_fp16.pt
# Run on the GPU machine:
#   benchmarks/gpu_check.sh                                   # profile gpu, cuda, everything under runs/gpu_check
#   benchmarks/gpu_check.sh --profile smoke --device cpu --image-px 64 --train-images 24   # the CPU rehearsal
# Options: --wheels DIR (default .whl), --python PY (default python3); every other argument goes to
# benchmarks/gpu_check.py (--out, --profile, --device, --hed-weights, --vgg, --only, --no-chain, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=.whl
PY=${PYTHON:-python3}
ARGS=()
HED_GIVEN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --hed-weights) HED_GIVEN=1; ARGS+=("$1" "$2"); shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done

# The Jupyter stack papermill needs, offline from the wheel folder, when it is not there yet.
if ! "$PY" -c "import papermill, nbclient, nbformat, ipykernel" 2>/dev/null; then
  if [ ! -d "$WHEELS" ]; then
    echo "error: $PY lacks papermill/ipykernel and there is no wheel folder $WHEELS." >&2
    echo "Prepare it where there is network: pip download papermill ipykernel ipywidgets ipycanvas -d $WHEELS" >&2
    exit 2
  fi
  echo "installing papermill, ipykernel, ipywidgets, ipycanvas from $WHEELS (offline)"
  "$PY" -m pip install -q --no-index --find-links "$WHEELS" papermill ipykernel ipywidgets ipycanvas
fi

# HED: the carried fp16 copy when there is one and none was named.
if [ "$HED_GIVEN" = 0 ] && [ -f "$WHEELS/hed_bsds500_fp16.pt" ]; then
  ARGS+=(--hed-weights "$WHEELS/hed_bsds500_fp16.pt")
fi

"$PY" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
exec "$PY" benchmarks/gpu_check.py ${ARGS[@]+"${ARGS[@]}"}
