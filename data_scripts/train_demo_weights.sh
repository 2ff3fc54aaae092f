#!/usr/bin/env bash
# The demo weights shipped in inpaintkit/weights/ (Inpainter.from_pretrained()): how they were made.
#
#   bash data_scripts/train_demo_weights.sh            # S1=... S2=... RUN=... PHOTOS=... override the defaults
#
# 0. assemble the photo collection from Debian's wallpaper packages (data/photos, with SOURCES.json);
# 1. train stage 1 (Gs) and stage 2 (Gi) with the kit's own CLI, `demo` profile (128 px, widths 16, the quick
#    profile's recipe: U-Net skips, Gi correcting a smooth fill, L1-led stage-2 loss; see config.py and
#    docs/training_recipe.md), on the demo photographs plus that collection, split by photograph;
# 2. the joint stage: Gs fine-tuned from stage 1 through the fill it guides (--stage joint), at the training size,
#    then continued at the serving size in a second run folder (RUN_serving: stage 1 and 2 copied, the joint stage
#    from RUN/joint with --image-size WORK); then, on the val split at the serving size, the strength of Gs's lines (the one whose worst bucket gains most over no sketch) and
#    Gi's learned correction against its own fill (evaluate --choose-correction --choose-strength: serving.json
#    says both);
# 3. export the generators, evaluate them as shipped on the demo test split at the serving size (Table 1's
#    buckets, every method), and export again with those metrics: as float16 state dicts + demo.json (sha256,
#    parameter counts, profile, sketch spec, commands, data and its licences, steps, metrics, VGG source, serving
#    size, how Gs's output and Gi's correction serve).
#
# The shipped weights used these step counts (Gs 4,000 + 2,500 joint at 128 px + 1,000 joint at 256 px, Gi 9,500). Gs trained from scratch on the demo
# profile's unthinned sketches, then 1,500 joint steps through the exact fill (inpaintkit/fill.py) with lines on the
# hole's border blocking, 1,000 more with known pixels conducting (the fill's default now), then 1,000 at 256 px. Gi's history is
# longer: 6,000 steps on thinned sketches and the earlier fill (64 sweeps at full size), 2,000 on the coarse-to-fine
# fill (8 / 32 sweeps), then 1,500 on unthinned sketches and the converged fill (32 / 128 sweeps); the fill it
# starts from is now solved exactly, and its correction is served only where it beats that fill on the val split.
# This script trains all of Gi's steps on the current settings (S2 defaults to 8,000). The sessions that added the
# joint stage started it from the shipped weights instead of retraining them (unpacked as a run's generator files,
# then this script's joint, --choose-correction --choose-strength, export and evaluate commands by hand);
# demo.json's commands say exactly what ran.
# Both trainings resume (--resume): a killed run continues from its last checkpoint. Measured on the shared
# 2-core machine of the session that made the shipped weights: see demo.json's notes (wall seconds per stage).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/demo}
PHOTOS=${PHOTOS:-data/photos}
S1=${S1:-4000}
S2=${S2:-8000}
SJ=${SJ:-2500}        # joint-stage steps (Gs through the fill) at the training size
SJW=${SJW:-1000}      # joint-stage steps at the serving size, WORK px (0: none)
WORK=${WORK:-256}     # the size the Inpainter runs the weights at (the training crops come from 3 scales)

[ -f "$PHOTOS/SOURCES.json" ] || $PY data_scripts/fetch_wallpaper_photos.py --out "$PHOTOS"
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
run $PY -m inpaintkit.train --stage 1 --profile demo --run-dir "$RUN" --photos "$PHOTOS" --resume --no-progress --steps "$S1"
run $PY -m inpaintkit.train --stage 2 --profile demo --run-dir "$RUN" --photos "$PHOTOS" --vgg hed --resume --no-progress --steps "$S2"
run $PY -m inpaintkit.train --stage joint --profile demo --run-dir "$RUN" --photos "$PHOTOS" --resume --no-progress --steps "$SJ"
if [ "$SJW" -gt 0 ]; then   # the joint stage continued at the serving size (its own folder: RUN/joint stays)
  RUN0=$RUN; RUN=${RUN}_serving
  mkdir -p "$RUN"; cp "$RUN0/commands.txt" "$RUN0/wall_seconds.txt" "$RUN/"
  for stage in stage1 stage2; do [ -d "$RUN/$stage" ] || cp -r "$RUN0/$stage" "$RUN/"; done
  run $PY -m inpaintkit.train --stage joint --profile demo --run-dir "$RUN" --photos "$PHOTOS" --image-size "$WORK" \
      --init-from "$RUN0/joint" --resume --no-progress --steps "$SJW"
fi
run $PY -m inpaintkit.evaluate --run-dir "$RUN" --weights run --profile demo --photos "$PHOTOS" --image-size "$WORK" \
    --per-bucket 16 --choose-correction --choose-strength
export_weights() {
  $PY data_scripts/export_demo_weights.py --run-dir "$RUN" --out inpaintkit/weights --photos "$PHOTOS" \
      --work-size "$WORK" --commands-file "$RUN/commands.txt" --wall-seconds-file "$RUN/wall_seconds.txt" \
      --joint-steps-before "$([ "$SJW" -gt 0 ] && echo "$SJ" || echo 0)"
}
export_weights     # the weights and Gs's threshold (chosen on the val split), so the evaluation scores them as shipped
run $PY -m inpaintkit.evaluate --run-dir "$RUN" --weights demo --profile demo --photos "$PHOTOS" --image-size "$WORK"
export_weights     # again, now with the evaluation's metrics.json (same weights, same checksums)
