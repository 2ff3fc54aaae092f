"""Running every method on Table 1's test pairs and scoring it: the model loaded, the methods in their
compute order, PSNR / SSIM / MAE (and LPIPS, FID where their weights are cached) per image.

The scores are those of :func:`inpaintkit.metrics.table1_scores`: the **composited** output against the
original image, rounded to 8 bits first (EdgeConnect reads its results back from PNG files). The pairs come
from :mod:`inpaintkit.protocol`; :func:`inpaintkit.evaluate.evaluate` puts the two together.
"""

from __future__ import annotations

import time
import warnings
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .baselines import METHOD_ORDER, Method, ModelVariant
from .data import demo_photo_of
from .masks import hole_ratio
from .metrics import quantize_8bit, sketch_scores, table1_scores
from .protocol import PairImages, TestSet, collate_pairs, hole_at_border

__all__ = ["EVAL_BATCH_SIZE", "METRIC_KEYS", "PROTOCOL_NOTES", "LPIPS_ALEXNET_FILE", "FID_INCEPTION_FILE",
           "extra_metric_status", "weights_choice", "load_inpainter", "model_info", "compute_order", "Scores",
           "record_base", "score_all", "Clock"]

EVAL_BATCH_SIZE = 16      # images per model forward pass (at least the profile's batch size)
METRIC_KEYS = ("psnr", "ssim", "mae")
PROTOCOL_NOTES = {
    "edgeconnect": ("EdgeConnect's scripts/metrics.py: rgb2gray, PSNR with data_range 1, "
                    "SSIM with a 51x51 uniform window"),
    "rgb": "scikit-image's defaults on RGB: channel_axis=-1, data_range 1, SSIM with a 7x7 uniform window",
}


# ---------------------------------------------------------------------------------------------- LPIPS, FID
# Reported only from weights already in torch hub's cache (never downloaded here): LPIPS (Zhang et al.) with
# the ``lpips`` package's AlexNet variant, FID with ``pytorch-fid``'s Inception. Otherwise metrics.json and
# table1.md say "not computed: weights absent (...)" -- a missing metric is never dropped silently.
LPIPS_ALEXNET_FILE = "alexnet-owt-7be5be79.pth"           # torchvision's AlexNet, which lpips.LPIPS(net="alex") loads
FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"


def extra_metric_status() -> dict[str, str]:
    """{"lpips": ..., "fid": ...}: "computed" when the package imports and its weights are cached, else
    "not computed: weights absent (<what is missing, where>)"."""
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    out = {}
    for name, package, file in (("lpips", "lpips", LPIPS_ALEXNET_FILE), ("fid", "pytorch_fid", FID_INCEPTION_FILE)):
        missing = []
        try:
            __import__(package)
        except ImportError:
            missing.append(f"package {package.replace('_', '-')} not installed")
        if not (hub / file).is_file():
            missing.append(f"{file} not in {hub}")
        out[name] = "computed" if not missing else f"not computed: weights absent ({'; '.join(missing)})"
    return out


class _FidFeatures:
    """Inception pool features of outputs and originals per (method, bucket), for FID at the end."""

    def __init__(self, device):
        from pytorch_fid.inception import InceptionV3

        self.net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to(device).eval()
        self.feats = defaultdict(lambda: {"fake": [], "real": []})

    @torch.no_grad()
    def add(self, method: str, buckets: list[str], fake: torch.Tensor, real: torch.Tensor) -> None:
        f, r = (self.net(t)[0].flatten(1).double().cpu().numpy() for t in (fake, real))   # (B, 2048)
        for j, b in enumerate(buckets):
            self.feats[(method, b)]["fake"].append(f[j])
            self.feats[(method, b)]["real"].append(r[j])

    def scores(self) -> dict[str, dict[str, float]]:
        from pytorch_fid.fid_score import calculate_frechet_distance

        out: dict = defaultdict(dict)
        for (method, b), d in self.feats.items():
            fake, real = np.stack(d["fake"]), np.stack(d["real"])
            if len(fake) > 1:
                out[method][b] = float(calculate_frechet_distance(fake.mean(0), np.cov(fake, rowvar=False),
                                                                  real.mean(0), np.cov(real, rowvar=False)))
        return dict(out)


# ---------------------------------------------------------------------------------------------- the model

def weights_choice(weights: str, run_dir: Path | None) -> tuple[str, str]:
    """("run" or "demo", a sentence saying which weights are scored and why): ``weights`` "demo" (shipped),
    "run" (``run_dir``'s stages) or "auto" (the run's when both stages are trained, else the demo weights)."""
    if weights not in ("demo", "run", "auto"):
        raise ValueError(f"weights={weights!r}: choose 'demo' (the shipped weights), 'run' (the run dir's) or 'auto'.")
    trained = run_dir is not None and all((Path(run_dir) / f"stage{s}" / "generator.pt").is_file() for s in (1, 2))
    if weights == "run" or (weights == "auto" and trained):
        if run_dir is None:
            raise ValueError("weights='run' needs a run dir holding stage1/ and stage2/ (pass run_dir).")
        return "run", f"scoring the generators trained in {run_dir} (stage1/ and stage2/)"
    if weights == "demo":
        return "demo", "scoring the shipped demo weights (inpaintkit/weights/, weights='demo')"
    why = "does not exist (a typo?)" if run_dir is not None and not Path(run_dir).exists() else \
        "has no trained stage1/generator.pt and stage2/generator.pt"
    return "demo", (f"scoring the shipped demo weights (inpaintkit/weights/): the run dir {run_dir} {why}; "
                    "pass --weights run to insist on a run's own generators")


def load_inpainter(weights: str, run_dir: Path | None, device: str = "auto"):
    """(Inpainter, description): ``weights`` "demo" (shipped), "run" (``run_dir``'s stages) or "auto" (run if
    trained); prints which weights it loads, and why (:func:`weights_choice`), before loading them."""
    from .pipeline import Inpainter

    source, sentence = weights_choice(weights, run_dir)
    print(sentence, flush=True)
    if source == "run":
        return Inpainter.from_run(run_dir, device=device), "run"
    return Inpainter.from_pretrained(device=device), "demo"


def model_info(inpainter, source: str) -> dict:
    """What the evaluated model was: its weights' metadata, VGG source, widths and sketch spec."""
    from .networks import count_parameters

    info = {"source": source, "sketch_spec": asdict(inpainter.sketch_spec), "device": str(inpainter.device),
            "gs_base_channels": inpainter.gs.base_channels, "gi_base_channels": inpainter.gi.base_channels,
            "gi_block": inpainter.gi.block,
            "num_params": {"gs": count_parameters(inpainter.gs), "gi": count_parameters(inpainter.gi)}}
    w = getattr(inpainter, "weights", None)
    if w is not None:
        info.update({"weights_name": w.name, "sha256": w.sha256, "steps": w.steps, "data": w.data,
                     "trained_profile": w.profile.get("name"), "vgg_source": w.vgg_source})
    else:
        info.setdefault("vgg_source", "not recorded with these weights")
    return info


# ---------------------------------------------------------------------------------------------- scoring

def compute_order(methods) -> list[Method]:
    """The order methods run in on a batch: METHOD_ORDER, except that "oracle sketch" and then "emptied sketch"
    come after "ours", whose ground-truth HED sketch they reuse (HED runs once per batch). Tables keep METHOD_ORDER."""
    reuse = (Method.ORACLE_SKETCH, Method.EMPTIED_SKETCH)
    return sorted(methods, key=lambda n: (reuse.index(n) + 1 if n in reuse else 0, METHOD_ORDER.index(n)))


def _run_method(fn, x: torch.Tensor, m: torch.Tensor, gt_sketch: torch.Tensor | None):
    """``(output (B, 3, S, S), stage-2 sketch or None, the full image's sketch or None)`` of one method."""
    if isinstance(fn, ModelVariant):
        return fn.batch(x, m, gt_sketch if fn.uses_gt_sketch else None)
    out = torch.stack([torch.from_numpy(fn(img.permute(1, 2, 0).double().numpy(), mk[0].numpy()))
                       .permute(2, 0, 1).float() for img, mk in zip(x, m)])            # (B, 3, S, S)
    return out, None, None


class Scores:
    """Per-image records of every method on every batch: Table 1's scores (:func:`inpaintkit.metrics.table1_scores`),
    LPIPS and FID features where their weights are cached, and the sketch scores of "ours" in the hole."""

    def __init__(self, protocol: str, device: torch.device):
        self.protocol, self.device = protocol, device
        self.records: list[dict] = []
        self.ssim_warnings: set[str] = set()
        self.extra = extra_metric_status()
        self.lpips_net = None
        if self.extra["lpips"] == "computed":
            import lpips

            self.lpips_net = lpips.LPIPS(net="alex", verbose=False).to(device).eval()
        self.fid = _FidFeatures(device) if self.extra["fid"] == "computed" else None

    def add(self, method: Method, out, target, base: list[dict], mask, sketch=None, gt_sketch=None) -> None:
        out, target = out.to(self.device), target.to(self.device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores = table1_scores(out, target, self.protocol)
        self.ssim_warnings.update(str(w.message) for w in caught)
        if self.lpips_net is not None or self.fid is not None:
            out8 = quantize_8bit(out.float().clamp(0, 1))               # what Table 1's scores saw
            if self.lpips_net is not None:
                with torch.no_grad():
                    scores["lpips"] = self.lpips_net(out8 * 2 - 1, target * 2 - 1).flatten().cpu()
            if self.fid is not None:
                self.fid.add(method, [r["bucket"] for r in base], out8, target)
        if method is Method.OURS:
            sk = sketch_scores(sketch, gt_sketch, mask, per_image=True)
            scores |= {"sketch_accuracy": sk["accuracy"], "sketch_f1": sk["f1"]}
        for j, rec in enumerate(base):
            self.records.append({"method": method, **rec} | {k: float(v[j]) for k, v in scores.items()})


def record_base(pair: dict) -> dict:
    """What a record says about its pair; ``group`` (the photograph) is what the bootstrap intervals resample."""
    return {k: pair[k] for k in ("bucket", "image", "mask_id")} | {
        "hole_ratio": hole_ratio(pair["mask"]), "hole_at_border": hole_at_border(pair["mask"]),
        "group": demo_photo_of(pair["image"])}


def _score_batch(batch: dict, pairs: list[dict], runnable: dict, scores: Scores, clock: "Clock") -> None:
    """Every method on one batch of pairs, in :func:`compute_order`, scored into ``scores``."""
    x, m = batch["image"], batch["mask"]                                          # (B, 3, S, S), (B, 1, S, S)
    base = [record_base(pairs[i]) for i in batch["index"]]
    gt_sketch = None
    for name in compute_order(runnable):
        clock.lap()
        out, sketch, start = _run_method(runnable[name], x, m, gt_sketch)
        if name in (Method.OURS, Method.ORACLE_SKETCH):
            gt_sketch = start                                                     # HED of the full images
        clock.add(name)
        scores.add(name, out, x, base, m, sketch, gt_sketch)
        clock.add("metrics")


def score_all(test: TestSet, runnable: dict, scores: Scores, size: int, batch_size: int, num_workers: int,
               clock: "Clock", progress: bool) -> dict[str, str]:
    """Load the pairs batch by batch and score every method on them; returns {image: why} of unreadable ones."""
    loader = torch.utils.data.DataLoader(PairImages(test.pairs, size), batch_size=batch_size, shuffle=False,
                                         num_workers=num_workers, collate_fn=collate_pairs)
    skipped = dict(test.unreadable)
    bar = tqdm(total=len(test.pairs), desc="evaluating", unit="img", disable=not progress)
    clock.lap()
    for batch, bad in loader:
        clock.add("load images")
        for i, why in bad:
            skipped[test.pairs[i]["image"]] = why
        if batch is not None:
            _score_batch(batch, test.pairs, runnable, scores, clock)
        bar.update((len(batch["index"]) if batch is not None else 0) + len(bad))
        clock.lap()
    bar.close()
    if skipped:
        print(f"Skipped {len(skipped)} unreadable image(s):\n" +
              "\n".join(f"  {p}: {why}" for p, why in skipped.items()), flush=True)
    return skipped


class Clock:
    """Wall seconds (``perf_counter``) and CPU seconds of this process, all threads (``process_time``), per stage.

    CPU time is the steadier of the two on a shared machine: waiting for a core adds wall time, not CPU time.
    """

    def __init__(self):
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.lap()

    def lap(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def add(self, stage: str) -> None:
        """Charge the time since the last lap (or add) to ``stage``; start a new lap."""
        wall, cpu = time.perf_counter(), time.process_time()
        self.wall[stage] += wall - self._wall
        self.cpu[stage] += cpu - self._cpu
        self._wall, self._cpu = wall, cpu

