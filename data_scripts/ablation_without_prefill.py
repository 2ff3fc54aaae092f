#!/usr/bin/env python
"""Notebook 03's ablation where the block has to do the work: Gi paints the hole itself (no smooth prefill to
correct), trained longer than the notebook's live run; writes a small JSON of the results for the notebook.

    nice -n 19 python data_scripts/ablation_without_prefill.py --run-dir runs/ablation_noprefill \\
        --steps 300 --seeds 0 1 --kinds conv gated cfs --out docs/ablation_without_prefill.json

Under the quick profile, Gi corrects a smooth fill of the hole (``prefill=True``), and in the notebook's short run
it never leaves that fill: every block then scores the same. Here ``prefill=False`` (and the profile's other
settings), so the generator's blocks must paint the hole. The run is resumable (``run_ablation`` reads back
finished variants). The JSON holds the command, the settings, the per-variant scores and the summary rows that
``inpaintkit.ablation.summarise`` / ``verdicts`` / ``best_block`` read; nothing else (a few kB).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone, too

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import torch  # noqa: E402

from inpaintkit import ablation  # noqa: E402
from inpaintkit.config import get_profile  # noqa: E402
from inpaintkit.files import atomic_write_text  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="the JSON to write")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--kinds", nargs="+", default=["conv", "gated", "cfs"], choices=list(ablation.BLOCK_KINDS))
    ap.add_argument("--eval-images", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    p = dataclasses.replace(get_profile(args.profile), prefill=False)
    t0 = time.time()
    results = ablation.run_ablation(p, args.run_dir, kinds=tuple(args.kinds), seeds=tuple(args.seeds),
                                    steps=args.steps, device="cpu", eval_images=args.eval_images, progress=True)
    rows = ablation.summarise(results)
    keep = ("kind", "seed", "steps", "params", "flops_per_image", "seconds_per_step", "eval", "final_losses")
    out = {
        "command": "python data_scripts/ablation_without_prefill.py " + " ".join(argv or sys.argv[1:]),
        "profile": p.name, "prefill": False, "skips": p.skips, "image_size": p.image_size,
        "gi_channels": p.gi_channels, "batch_size": p.batch_size, "steps": args.steps, "seeds": args.seeds,
        "kinds": args.kinds, "eval_images": results["eval_images"], "protocol": results["protocol"],
        "wall_seconds": round(time.time() - t0, 1), "torch": torch.__version__, "machine": platform.machine(),
        "threads": args.threads,
        "variants": [{k: v[k] for k in keep if k in v} for v in results["variants"]],
        "rows": rows,
        "verdicts": ablation.verdicts(rows) + [ablation.best_block(rows)],
    }
    atomic_write_text(args.out, json.dumps(out, indent=1) + "\n")
    print("\n".join(out["verdicts"]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
