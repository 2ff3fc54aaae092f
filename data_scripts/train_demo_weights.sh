#!/usr/bin/env bash
# The demo weights shipped in inpaintkit/weights/ (Inpainter.from_pretrained()): how they were made.
#
#   bash data_scripts/train_demo_weights.sh            # S1=... S2=... RUN=... override the defaults
#
# 1. train stage 1 (Gs) and stage 2 (Gi) with the kit's own CLI, quick profile, on the demo set;
# 2. evaluate the run on the demo test split (Table 1's buckets, our model and inpaint_biharmonic);
# 3. export both generators as float16 state dicts + demo.json (sha256, parameter counts, profile, sketch spec,
#    commands, data, steps, metrics, VGG source) with data_scripts/export_demo_weights.py.
#
# The shipped weights: the quick profile (64 px, widths 16, batch 8, with its documented departures from the
# paper's losses: a class-balanced BCE term in stage 1 and EdgeConnect's stage-2 weights, see config.py), trained
# longer than the notebooks do (--steps 4000 and 900 instead of the profile's 1200 and 300). Measured on an idle
# 2-core machine: ~0.08 s per stage-1 step, ~0.33 s per stage-2 step (about 5 + 5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/demo}
S1=${S1:-4000}
S2=${S2:-900}

mkdir -p "$RUN"
: > "$RUN/commands.txt"; : > "$RUN/wall_seconds.txt"
run() {  # run and record a command; "stageN to STEPS: SECONDS s" for the training ones
  echo "$*" >> "$RUN/commands.txt"
  local t0=$SECONDS
  "$@"
  if [[ "$*" == *"inpaintkit.train"* ]]; then
    echo "stage$5 to ${@: -1}: $((SECONDS - t0)) s" >> "$RUN/wall_seconds.txt"
  fi
}
run $PY -m inpaintkit.train --stage 1 --profile quick --run-dir "$RUN" --resume --no-progress --steps "$S1"
run $PY -m inpaintkit.train --stage 2 --profile quick --run-dir "$RUN" --resume --no-progress --steps "$S2"
run $PY -m inpaintkit.evaluate --run-dir "$RUN" --weights run --profile quick --methods biharmonic ours
$PY data_scripts/export_demo_weights.py --run-dir "$RUN" --out inpaintkit/weights \
    --commands-file "$RUN/commands.txt" --wall-seconds-file "$RUN/wall_seconds.txt"
