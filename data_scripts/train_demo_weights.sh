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
# The shipped weights are the quick profile's full schedule (1200 stage-1 + 300 stage-2 steps; --max-steps only
# caps the profile's number). They were trained in segments (--max-steps 100, 200, ... with --resume) on 2 CPU
# cores shared with other jobs: each segment ends with a checkpoint and resuming is exact on the CPU, so the
# segments give the same weights as the single commands below. demo.json's "commands" lists them as run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/demo}
S1=${S1:-1200}
S2=${S2:-300}

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
run $PY -m inpaintkit.train --stage 1 --profile quick --run-dir "$RUN" --resume --no-progress --max-steps "$S1"
run $PY -m inpaintkit.train --stage 2 --profile quick --run-dir "$RUN" --resume --no-progress --max-steps "$S2"
run $PY -m inpaintkit.evaluate --run-dir "$RUN" --weights run --profile quick --methods biharmonic ours
$PY data_scripts/export_demo_weights.py --run-dir "$RUN" --out inpaintkit/weights \
    --commands-file "$RUN/commands.txt" --wall-seconds-file "$RUN/wall_seconds.txt"
