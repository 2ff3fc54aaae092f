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
# Options: --wheels DIR (default .whl), --python PY (default python3: the one with torch and CUDA), --venv DIR
# (default .venv-gpu-check), --setup-only (prepare the Python, print it, stop); every other argument goes to
# benchmarks/gpu_check.py (--out, --profile, --device, --hed-weights, --vgg, --only, --no-chain, ...).
#
# The wheels never go into PY itself: a system Python is often "externally managed" (PEP 668: Debian, Ubuntu,
# the NGC images), and pip refuses to install there. When PY lacks papermill, the script makes a venv with
# --system-site-packages from PY (it sees PY's torch, CUDA build and numpy) and installs the wheels into it.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=.whl
PY=${PYTHON:-python3}
VENV=.venv-gpu-check
SETUP_ONLY=0
ARGS=()
HED_GIVEN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --venv) VENV=$2; shift 2 ;;
    --setup-only) SETUP_ONLY=1; shift ;;
    --hed-weights) HED_GIVEN=1; ARGS+=("$1" "$2"); shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done

JUPYTER="import papermill, nbclient, nbformat, ipykernel"
# The Jupyter stack papermill needs, offline from the wheel folder, into a venv over PY, when PY lacks it.
if ! "$PY" -c "$JUPYTER" 2>/dev/null; then
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$JUPYTER" 2>/dev/null; then
    echo "using $VENV (made earlier over $PY)"
  else
    if [ ! -d "$WHEELS" ]; then
      echo "error: $PY lacks papermill/ipykernel and there is no wheel folder $WHEELS." >&2
      echo "Prepare it where there is network: pip download papermill ipykernel ipywidgets ipycanvas -d $WHEELS" >&2
      exit 2
    fi
    if ! "$PY" -c "import torch" 2>/dev/null; then
      echo "error: $PY cannot import torch; pass --python with the Python that has the GPU's torch." >&2
      exit 2
    fi
    echo "making $VENV over $PY (--system-site-packages: it sees $PY's torch), installing from $WHEELS offline"
    if "$PY" -m venv --system-site-packages "$VENV" 2>/dev/null; then
      PIP=("$VENV/bin/python" -m pip)
    elif "$PY" -m venv --system-site-packages --without-pip "$VENV" && "$PY" -m pip --version >/dev/null 2>&1; then
      PIP=("$PY" -m pip --python "$VENV/bin/python")        # no ensurepip (Debian without python3-venv): PY's pip
    else
      echo "error: $PY cannot make a venv with pip (Debian/Ubuntu: apt-get install python3-venv)." >&2
      exit 2
    fi
    "${PIP[@]}" install -q --no-index --find-links "$WHEELS" papermill ipykernel ipywidgets ipycanvas
  fi
  PY="$VENV/bin/python"
  if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "error: $PY does not see torch: remove $VENV and run again with --python set to the Python with torch." >&2
    exit 2
  fi
fi
if [ "$SETUP_ONLY" = 1 ]; then
  echo "python: $PY"
  exit 0
fi

# HED: the carried fp16 copy when there is one and none was named.
if [ "$HED_GIVEN" = 0 ] && [ -f "$WHEELS/hed_bsds500_fp16.pt" ]; then
  ARGS+=(--hed-weights "$WHEELS/hed_bsds500_fp16.pt")
fi

"$PY" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
exec "$PY" benchmarks/gpu_check.py ${ARGS[@]+"${ARGS[@]}"}
