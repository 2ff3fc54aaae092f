"""The CFS ablation of notebook 03: does the CFS block (Eq. 3-8) beat gated convolution?

The paper claims it does but never measures it. Here the stage-2 generator Gi is trained once per
conv block of :data:`inpaintkit.layers.BLOCK_KINDS` and per seed, everything else equal (width, data,
steps, seed, losses, optimiser: one :class:`~inpaintkit.train.Trainer` each)::

    conv         plain convolution                          y = phi(conv(x))
    gated        Yu et al.'s gated convolution               y = sigmoid(conv_G(x)) * phi(conv_f(x))
    gated_input  + the input gate g (Eq. 3-5)                y = G * phi(conv_f(g * x))
    cfs          + squeeze-excitation (Eq. 6-8): the paper's block
    partial      PartialConv2d (Eq. 1-2), the stage-1 layer, for reference

Stage 2 needs a sketch: every variant trains and is evaluated on the **ground-truth** sketch
(S_comp = S_gt, the Trainer's default, as EdgeConnect trains its inpainting model), so a better or
worse stage 1 cannot favour one block.

Variants are scored as notebook 06's Table 1 is: the same test images (balanced over the split's photographs,
:func:`inpaintkit.protocol.balanced_picks`), the same seeded masks per bucket
(:func:`inpaintkit.protocol.table1_masks`), the output rounded to 8 bits and
PSNR / SSIM under the same protocol (:func:`inpaintkit.metrics.table1_scores`), so the two can be compared
(``docs/evaluation.md``).

Files, under ``<run_dir>/ablation/``::

    <kind>_seed<k>/stage2/...      the Trainer's checkpoint, generator, losses.csv, samples
    <kind>_seed<k>/metrics.json    parameters, FLOPs, step time, PSNR / SSIM per hole bucket
    results.json                   all variants (what :func:`summarise` reads)

A variant whose ``metrics.json`` matches the requested steps is not retrained; one with a checkpoint
short of them is resumed. Functions: :func:`count_flops`, :func:`run_ablation`, :func:`evaluate`,
:func:`summarise`, :func:`summary_table`, :func:`verdicts`, :func:`gate_maps`.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import masks as _masks
from . import metrics as _metrics
from .config import Profile, get_profile, resolve_device
from .files import atomic_write_text
from .layers import BLOCK_KINDS, CFSBlock, DilatedResBlock, MaskFreeBlock
from .networks import ImageGenerator, composite, count_parameters, image_generator
from .protocol import balanced_picks, evenly_spaced, table1_masks

ABLATION_DIR = "ablation"
RESULTS_JSON = "results.json"
METRICS_JSON = "metrics.json"
REFERENCE = "cfs"                          # the paper's block: every difference is taken to it
# The smallest difference worth a word: the precision Table 1 reports (PSNR to 0.01 dB, SSIM to 0.001). Below it,
# or within the seed spread, two blocks are "no different", even when every seed gives the same score (spread 0).
RESOLUTION = {"psnr": 0.01, "ssim": 0.001}
EVAL_BUCKETS = _masks.TABLE1_BUCKETS       # Table 1's four hole-ratio buckets
EVAL_MASK_SEED = 0                         # Table 1's test-mask seed (evaluate's mask_seed): the same holes
SKETCH_NOTE = "ground-truth sketch (S_comp = S_gt) in training and evaluation"
# how variants are scored; a metrics.json scored otherwise (before the ablation shared Table 1's protocol) is rescored
SCORING = "Table 1's: inpaintkit.metrics.table1_scores (8-bit output) on evaluate.table1_masks' seeded masks"

__all__ = ["run_ablation", "ablation_data", "evaluate", "eval_batch", "bucket_masks", "count_flops", "example_inputs",
           "variant_costs", "generator_timings", "variant_dir", "load_results", "cached_results", "loss_curves",
           "summarise", "summary_table", "verdicts", "cfs_layers", "gate_maps", "gate_hole_contrast",
           "ABLATION_DIR", "RESULTS_JSON", "METRICS_JSON", "REFERENCE", "EVAL_BUCKETS", "EVAL_MASK_SEED",
           "SKETCH_NOTE", "SCORING", "RESOLUTION", "best_block"]


def variant_dir(run_dir, kind: str, seed: int) -> Path:
    """``<run_dir>/ablation/<kind>_seed<seed>``: the Trainer's run dir for one variant."""
    return Path(run_dir) / ABLATION_DIR / f"{kind}_seed{seed}"


def _atomic_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


# ---------------------------------------------------------------------------------------------- cost

def count_flops(model: nn.Module, *inputs: torch.Tensor) -> float:
    """FLOPs of one forward pass **per image** (the first input's batch size divides the total).

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode`: convolutions and matrix products
    at 2 FLOPs per multiply-add (a k x k conv: 2 * C_in * C_out * k * k * H_out * W_out per image).
    Element-wise work (sigmoid gates, products with them, activations, PartialConv's rescaling) is
    not counted; PartialConv's one-channel mask convolution is (it is a convolution).
    """
    from torch.utils.flop_counter import FlopCounterMode

    if not inputs or not isinstance(inputs[0], torch.Tensor) or inputs[0].dim() == 0:
        raise ValueError("count_flops(model, *inputs): give the model's inputs, the first a batched tensor.")
    was_training = model.training
    model.eval()        # spectral norm's power iteration is a training-time extra, not the model's cost
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(*inputs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / inputs[0].shape[0]


def example_inputs(image_size: int, batch: int = 1, device="cpu"):
    """(image, sketch, mask) for Gi at ``image_size``: a centred square hole (mask 1 = known, 0 = hole)."""
    s = int(image_size)
    image = torch.full((batch, 3, s, s), 0.5, device=device)
    sketch = torch.zeros(batch, 1, s, s, device=device)
    mask = torch.ones(batch, 1, s, s, device=device)
    mask[..., s // 4: 3 * s // 4, s // 4: 3 * s // 4] = 0
    return image, sketch, mask


@functools.lru_cache(maxsize=None)
def _cost(width: int, image_size: int, kind: str) -> tuple[int, float]:
    g = image_generator(width, block=kind)
    return count_parameters(g), count_flops(g, *example_inputs(image_size))


def variant_costs(profile: Profile | str, kinds=BLOCK_KINDS) -> dict[str, dict]:
    """{kind: {"params", "flops"}} of Gi at the profile's width and image size (deterministic)."""
    p = get_profile(profile) if isinstance(profile, str) else profile
    out = {}
    for kind in kinds:
        params, flops = _cost(p.gi_channels, p.image_size, kind)
        out[kind] = {"params": params, "flops": flops}
    return out


def generator_timings(profile: Profile | str, kinds=BLOCK_KINDS, device="cpu",
                      min_run_time: float = 1.0) -> dict[str, float]:
    """{kind: seconds} of one forward + backward of Gi alone at the profile's batch size, width and size.

    The training step also runs the discriminator and the VGG losses, the same for every block; this
    isolates what the block itself costs. Timed with :class:`torch.utils.benchmark.Timer` (median);
    machine-dependent, never asserted in tests.
    """
    from torch.utils import benchmark

    p = get_profile(profile) if isinstance(profile, str) else profile
    dev = resolve_device(device)
    inputs = example_inputs(p.image_size, p.batch_size, dev)
    out = {}
    for kind in kinds:
        g = image_generator(p.gi_channels, block=kind).to(dev)
        timer = benchmark.Timer("g(*inputs).mean().backward()", globals={"g": g, "inputs": inputs})
        out[kind] = timer.blocked_autorange(min_run_time=min_run_time).median
        del g, timer
        _release_memory()
    return out


# ---------------------------------------------------------------------------------------------- evaluation

def bucket_masks(n: int, size: int, buckets=EVAL_BUCKETS, seed: int = EVAL_MASK_SEED) -> dict[str, torch.Tensor]:
    """{bucket: (n, 1, size, size) float masks, 1 = known, 0 = hole}: Table 1's test masks.

    Taken from :func:`inpaintkit.protocol.table1_masks` (the seeded set notebook 06 scores on, mask i of bucket
    b drawn from ``default_rng([seed, b's index in BUCKETS, i])``), image i getting mask i as in
    :func:`inpaintkit.protocol.make_pairs`: every variant and seed, and Table 1, see identical holes.
    """
    unknown = [b for b in buckets if b not in _masks.TABLE1_BUCKETS]
    if unknown:
        raise ValueError(f"Unknown hole-ratio bucket(s) {unknown}; choose from {list(_masks.TABLE1_BUCKETS)}.")
    _, sets, _ = table1_masks(size, n, seed=seed, progress=False)
    return {b: torch.stack([_masks.mask_to_tensor(sets[b][i % len(sets[b])][1]) for i in range(n)])  # (n, 1, S, S)
            for b in buckets}


def eval_batch(profile: Profile, n: int | None = None, dataset=None, progress: bool = False) -> dict:
    """``n`` test images (default ``profile.eval_images``) with their ground-truth sketches, as a batch.

    ``dataset``: default the demo set's test split at the profile's size and sketch spec. Images are
    Table 1's pick, balanced over the photographs of the dataset's ``paths`` (:func:`inpaintkit.protocol.
    balanced_picks`; evenly spaced over the items of a dataset without ``paths``).
    Returns {"image": (n, 3, S, S), "sketch": (n, 1, S, S), "paths": [...]}.
    """
    if dataset is None:
        from .data import demo_dataset

        dataset = demo_dataset("test", profile.image_size, stride=profile.demo_patch_stride,
                               sketch=profile.sketch_spec(), progress=progress)
    n = min(int(n if n is not None else profile.eval_images), len(dataset))
    if n < 1:
        raise ValueError("eval_batch: the test set is empty or n < 1.")
    paths = getattr(dataset, "paths", None)
    idx = balanced_picks(paths, n) if paths is not None else evenly_spaced(len(dataset), n)
    items = [dataset[i] for i in idx]
    return {"image": torch.stack([it["image"] for it in items]),        # (n, 3, S, S)
            "sketch": torch.stack([it["sketch"] for it in items]),      # (n, 1, S, S)
            "paths": [it.get("path", str(i)) for it, i in zip(items, idx)]}


@torch.no_grad()
def evaluate(generator: ImageGenerator, batch: dict, bucket_mask_sets: dict[str, torch.Tensor],
             protocol: str = "edgeconnect", batch_size: int = 16, device="cpu") -> dict:
    """PSNR / SSIM of the composited prediction per hole bucket, plus "all" (every image of every bucket).

    Scored as Table 1 is (:func:`inpaintkit.metrics.table1_scores`: output rounded to 8 bits, ``protocol``
    from :data:`inpaintkit.metrics.PROTOCOLS`). ``batch``: from :func:`eval_batch`; ``bucket_mask_sets``: from
    :func:`bucket_masks` (1 = known). Returns {bucket: {"psnr": mean dB, "ssim": mean, "n": images}}.
    """
    if protocol not in _metrics.PROTOCOLS:
        raise ValueError(f"protocol={protocol!r}: choose one of {_metrics.PROTOCOLS}.")
    dev = resolve_device(device)
    generator = generator.to(dev).eval()
    per_bucket, everything = {}, {"psnr": [], "ssim": []}
    for b, m_all in bucket_mask_sets.items():
        values = {"psnr": [], "ssim": []}
        for start in range(0, len(batch["image"]), batch_size):
            img = batch["image"][start:start + batch_size].to(dev)
            sk = batch["sketch"][start:start + batch_size].to(dev)
            m = m_all[start:start + batch_size].to(dev)
            out = composite(generator(img, sk, m), img, m)                           # (n, 3, S, S)
            with warnings.catch_warnings():   # small images: "largest odd window that fits" (said once, below)
                warnings.simplefilter("ignore")
                scores = _metrics.table1_scores(out, img, protocol)
            for k in values:
                values[k] += scores[k].tolist()
        per_bucket[b] = {k: float(np.mean(v)) for k, v in values.items()} | {"n": len(values["psnr"])}
        for k in everything:
            everything[k] += values[k]
    per_bucket["all"] = {k: float(np.mean(v)) for k, v in everything.items()} | {"n": len(everything["psnr"])}
    return per_bucket


def ablation_data(profile: Profile, data=None, test_data=None, device="auto", progress: bool = True,
                  with_train: bool = True, sketch: str = "hed") -> tuple:
    """``(train, test, info)``: what the ablation trains and scores on, and ``info`` saying so (paths, counts).

    ``data`` None: the demo set's train and test splits (``train`` and ``test`` None: :func:`run_ablation`
    builds them), refused by a profile with ``needs_real_data`` (full), which never trains on the demo
    photographs. Else the run's data: ``data``'s training split, all of it (:func:`inpaintkit.train.build_dataset`,
    its sketches read from the prepared cache), and ``profile.eval_images`` readable test images balanced over
    the photographs of ``test_data`` (default ``data``'s test split; :func:`inpaintkit.protocol.pick_readable`,
    Table 1's pick), with sketches for those images only, never for the whole test split. ``with_train`` False:
    ``train`` is None (a finished ablation is only read back; its figures need the test images alone).
    ``sketch``: "hed" or "canny", through ``profile.sketch_spec``.
    """
    if data is None:
        if profile.needs_real_data:
            raise ValueError(f"The {profile.name} profile's ablation trains on the run's data, not on the demo "
                             "photographs: pass data (reproduce's --data, prepare_places2.py's output folder).")
        return None, None, {"train": "demo set, train split", "test": "demo set, test split", "demo": True}
    from .data import InpaintingDataset
    from .protocol import pick_readable, resolve_data
    from .train import build_dataset

    train = build_dataset(data, profile, sketch, device=device, progress=progress) if with_train else None
    paths, test_desc = resolve_data(test_data or data, profile.image_size, profile.demo_patch_stride)
    picked, _ = pick_readable(paths, profile.eval_images, profile.image_size)
    test = InpaintingDataset(picked, profile.image_size, sketch=profile.sketch_spec(sketch), device=device,
                             deterministic_masks=True, progress=progress)
    info = {"train": str(data), "train_images": len(train) if train is not None else None,
            "test": test_desc, "test_images": len(test),
            "test_split_images": len(paths), "demo": False}
    return train, test, info


# ---------------------------------------------------------------------------------------------- training

def _release_memory() -> None:
    """Hand the memory of a finished training back to the system before the next one: collect its cycles, and ask
    glibc to return freed heap pages (it keeps them otherwise, and a kernel training the full-width variants in
    turn on the CPU grew past 10 GB and was killed in the rehearsal)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):       # not glibc: nothing to ask
        pass


def _median_step_seconds(rows: list[dict]) -> float | None:
    vals = [r["seconds_per_step"] for r in rows if "seconds_per_step" in r]
    return float(statistics.median(vals)) if vals else None


class _Shared:
    """What every variant shares, built on first need (a finished run only reads): the training set, the VGG
    of the perceptual / style losses, and the test batch with Table 1's masks."""

    def __init__(self, profile: Profile, train_data, test_data, eval_images: int | None, vgg, progress: bool):
        self.profile, self.progress = profile, progress
        self._train, self._test_data, self._eval_images, self._vgg = train_data, test_data, eval_images, vgg
        self._test = None

    def train_data(self):
        if self._train is None:
            from .data import demo_dataset

            p = self.profile
            self._train = demo_dataset("train", p.image_size, stride=p.demo_patch_stride,
                                       sketch=p.sketch_spec(), progress=self.progress)
        return self._train

    def vgg(self) -> nn.Module:
        if not isinstance(self._vgg, nn.Module):
            from .losses import VGGFeatures

            self._vgg = VGGFeatures(source=self._vgg)
        return self._vgg

    def test(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """(:func:`eval_batch`, :func:`bucket_masks` for it)."""
        if self._test is None:
            tb = eval_batch(self.profile, self._eval_images, self._test_data, self.progress)
            self._test = (tb, bucket_masks(len(tb["image"]), self.profile.image_size))
        return self._test


def _check_request(p: Profile, kinds, seeds, steps) -> tuple[tuple, tuple, int]:
    """``(kinds, seeds, steps)`` with the profile's defaults filled in; ValueError for what cannot run."""
    seeds = tuple(p.ablation_seeds if seeds is None else seeds)
    steps = int(p.ablation_steps if steps is None else steps)
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in BLOCK_KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds {bad or kinds}: choose from {', '.join(BLOCK_KINDS)}.")
    if not seeds or steps < 1:
        raise ValueError(f"run_ablation: need at least one seed and steps >= 1, got seeds={seeds}, steps={steps}.")
    return kinds, seeds, steps


def _read_finished(vdir: Path, p: Profile, steps: int) -> dict | None:
    """The variant's ``metrics.json`` when it finished ``steps`` steps at the profile's size and width, else None."""
    mpath = vdir / METRICS_JSON
    done = json.loads(mpath.read_text()) if mpath.is_file() else None
    if done and all(done.get(k) == v for k, v in
                    (("steps", steps), ("image_size", p.image_size), ("gi_channels", p.gi_channels))):
        return done
    return None


def _rescore_if_stale(done: dict, vdir: Path, shared: _Shared, protocol: str, eval_images: int | None, dev) -> dict:
    """A finished variant scored otherwise (another protocol, image count or scoring) is scored again from its
    saved generator; its timings are kept. Writes the updated ``metrics.json``."""
    from .checkpoints import load_generator

    if (done.get("protocol") == protocol and done.get("scoring") == SCORING
            and (eval_images is None or done["eval_images"] == eval_images)):
        return done
    tb, bm = shared.test()
    g = load_generator(vdir, 2, device=dev)
    done.update(eval=evaluate(g, tb, bm, protocol=protocol, device=dev), eval_images=len(tb["image"]),
                protocol=protocol, scoring=SCORING)
    _atomic_json(vdir / METRICS_JSON, done)
    return done


def _train_variant(kind: str, seed: int, vdir: Path, p: Profile, steps: int, shared: _Shared, protocol: str,
                   dev, progress: bool) -> dict:
    """Train (or resume) one variant with the Trainer, score it and write its ``metrics.json``; the record."""
    from .train import Trainer

    trainer = Trainer(2, p, vdir, device=dev, data=shared.train_data(), block=kind, seed=seed,
                      vgg=shared.vgg(), steps=steps, resume=True, progress=progress)
    if trainer.step > steps:
        raise ValueError(f"{vdir} holds a run of {trainer.step} steps, more than steps={steps}. "
                         "Use another run_dir, or delete that folder to retrain.")
    start_step = trainer.step
    t0, c0 = time.perf_counter(), time.process_time()
    rows = trainer.fit(steps)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    timed = trainer.step - start_step
    tb, bm = shared.test()
    scores = evaluate(trainer.generator, tb, bm, protocol=protocol, device=dev)
    final = rows[-1] if rows else {}
    cost = variant_costs(p, (kind,))[kind]
    record = {
        "kind": kind, "seed": seed, "steps": steps, "dir": vdir.name,   # under <run_dir>/ablation/
        "image_size": p.image_size, "gi_channels": p.gi_channels, "batch_size": p.batch_size,
        "params": cost["params"], "flops_per_image": cost["flops"],
        "seconds_per_step": _median_step_seconds(rows) or (wall / timed if timed else None),
        "wall_seconds_per_step": wall / timed if timed else None,
        "cpu_seconds_per_step": cpu / timed if timed else None,
        "timed_steps": timed, "torch_threads": torch.get_num_threads(), "device": str(dev),
        "eval_images": len(tb["image"]), "protocol": protocol, "scoring": SCORING, "eval": scores,
        "final_losses": {k: v for k, v in final.items() if k not in ("step", "seconds_per_step")},
        "vgg_source": trainer.vgg_source, "sketch": SKETCH_NOTE,
    }
    _atomic_json(vdir / METRICS_JSON, record)
    return record


def run_ablation(profile: Profile | str, run_dir, kinds=BLOCK_KINDS, seeds=None, steps: int | None = None,
                 device="auto", train_data=None, test_data=None, eval_images: int | None = None,
                 protocol: str = "edgeconnect", vgg="auto", progress: bool = True,
                 data_info: dict | None = None) -> dict:
    """Train Gi once per (kind, seed) for ``steps`` steps and evaluate each on the test split.

    ``profile``: a Profile or its name; ``seeds`` default ``profile.ablation_seeds``, ``steps``
    default ``profile.ablation_steps``. ``train_data`` / ``test_data``: Datasets (default: the demo
    set's train / test split, sketches as ``profile.sketch_spec()``); ``eval_images``: test images
    (default ``profile.eval_images``), each evaluated with one mask per bucket of
    :data:`EVAL_BUCKETS`, scored as Table 1 (:func:`evaluate`). ``vgg``: a VGGFeatures module or its
    source, built once and shared. ``data_info``: what the data are (:func:`ablation_data`'s ``info``), stored
    as the results' ``"data"``.

    Resumable: a variant whose ``metrics.json`` says it finished ``steps`` steps is read back, not
    retrained (and scored again if it was scored otherwise); a checkpoint short of ``steps`` is resumed.
    Writes ``<run_dir>/ablation/results.json`` (atomically) and returns the same dict: {"profile",
    "steps", "seeds", "kinds", "buckets", "protocol", "scoring", "sketch", "eval_images", "variants":
    [one dict per (kind, seed)]}.
    """
    p = get_profile(profile) if isinstance(profile, str) else profile
    kinds, seeds, steps = _check_request(p, kinds, seeds, steps)
    if protocol not in _metrics.PROTOCOLS:
        raise ValueError(f"protocol={protocol!r}: choose one of {_metrics.PROTOCOLS}.")
    dev = resolve_device(device)
    run_dir = Path(run_dir)
    shared = _Shared(p, train_data, test_data, eval_images, vgg, progress)
    variants = []
    for seed in seeds:          # seed-major: an interrupted run has every block for its first seeds
        for kind in kinds:
            vdir = variant_dir(run_dir, kind, seed)
            done = _read_finished(vdir, p, steps)
            if done is not None:
                record = _rescore_if_stale(done, vdir, shared, protocol, eval_images, dev)
                if progress:
                    print(f"{kind} seed {seed}: trained earlier ({steps} steps), read {vdir / METRICS_JSON}",
                          flush=True)
            else:
                record = _train_variant(kind, seed, vdir, p, steps, shared, protocol, dev, progress)
            variants.append(record | {"retrained": done is None})
            _release_memory()

    variants.sort(key=lambda v: (kinds.index(v["kind"]), seeds.index(v["seed"])))
    results = {"profile": p.name, "steps": steps, "seeds": list(seeds), "kinds": list(kinds),
               "buckets": list(EVAL_BUCKETS), "protocol": protocol, "scoring": SCORING, "sketch": SKETCH_NOTE,
               "eval_images": variants[0]["eval_images"], "variants": variants,
               "data": data_info or {"train": "given" if train_data is not None else "demo set, train split",
                                     "test": "given" if test_data is not None else "demo set, test split"}}
    _atomic_json(run_dir / ABLATION_DIR / RESULTS_JSON, results)
    return results


def load_results(run_dir) -> dict:
    """``<run_dir>/ablation/results.json`` as written by :func:`run_ablation`."""
    path = Path(run_dir) / ABLATION_DIR / RESULTS_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run "
                                f"inpaintkit.ablation.run_ablation(profile, {run_dir!r}) first.")
    return json.loads(path.read_text())


def cached_results(run_dir, profile: Profile | str, seeds=None, steps: int | None = None,
                   kinds=BLOCK_KINDS) -> dict | None:
    """The finished ablation of ``run_dir`` when it is the one asked for, else ``None``.

    Returns ``<run_dir>/ablation/results.json`` (see :func:`run_ablation`) if it was written for this
    profile, ``steps`` (default ``profile.ablation_steps``), ``seeds`` (default ``profile.ablation_seeds``)
    and ``kinds``, scored as :data:`SCORING` says, and every variant's trained generator is still there
    (notebook 03 reads their gates).
    A notebook shows a finished quick run from this without training anything; delete
    ``<run_dir>/ablation`` (or use another run directory) to regenerate it.
    """
    from .checkpoints import generator_files

    p = get_profile(profile) if isinstance(profile, str) else profile
    path = Path(run_dir) / ABLATION_DIR / RESULTS_JSON
    if not path.is_file():
        return None
    try:
        res = json.loads(path.read_text())
    except ValueError:
        return None
    want = {"profile": p.name, "steps": int(p.ablation_steps if steps is None else steps),
            "seeds": list(p.ablation_seeds if seeds is None else seeds), "kinds": list(kinds), "scoring": SCORING}
    if any(res.get(k) != v for k, v in want.items()):
        return None
    for v in res.get("variants", []):
        vdir = variant_dir(run_dir, v["kind"], v["seed"])
        if not any(f.is_file() for f in generator_files(vdir, 2)):
            return None
    for v in res.get("variants", []):
        v["retrained"] = False
    return res


def loss_curves(run_dir, results: dict | None = None,
                term: str = "g_l1") -> dict[str, list[tuple[list[int], list[float]]]]:
    """{kind: [(steps, values) per seed]} of one logged loss term, from each variant's losses.csv under
    ``run_dir`` (``results`` default: :func:`load_results`)."""
    from .runs import read_losses

    results = load_results(run_dir) if results is None else results
    out: dict = {}
    for v in results["variants"]:
        cols = read_losses(variant_dir(run_dir, v["kind"], v["seed"]), 2)
        if term not in cols:
            raise ValueError(f"loss term {term!r} not logged; choose one of {[k for k in cols if k != 'step']}.")
        out.setdefault(v["kind"], []).append((cols["step"], cols[term]))
    return out


# ---------------------------------------------------------------------------------------------- summary

def _spread(values: list[float]) -> dict:
    """mean, sample std (ddof 1; None with one seed), min, max."""
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
            "min": float(np.min(values)), "max": float(np.max(values)), "n": len(values)}


def summarise(results: dict, metrics=("psnr", "ssim"), reference: str = REFERENCE) -> list[dict]:
    """One row per kind: cost, and per (metric, bucket) the spread over seeds and the difference to CFS.

    Row: {"kind", "n_seeds", "params", "flops_per_image", "seconds_per_step" (mean over seeds),
    "<metric>_<bucket>": {"mean", "std", "min", "max", "n", "diff", "noise", "within_noise"}} with
    buckets from ``results["buckets"]`` plus "all". ``diff`` = mean - the reference's mean; ``noise`` =
    the larger of the two seed standard deviations; ``within_noise`` = |diff| <= max(noise, the metric's
    :data:`RESOLUTION`), so a difference of 0.001 dB between runs whose seeds all agree is no difference.
    All three are None for the reference itself, and ``noise`` / ``within_noise`` are None with a single
    seed (the seed noise is then unknown).
    """
    by_kind: dict = {}
    for v in results["variants"]:
        by_kind.setdefault(v["kind"], []).append(v)
    buckets = [*results.get("buckets", EVAL_BUCKETS), "all"]
    rows = []
    for kind, vs in by_kind.items():
        times = [v["seconds_per_step"] for v in vs if v.get("seconds_per_step") is not None]
        row = {"kind": kind, "n_seeds": len(vs), "params": vs[0]["params"], "flops_per_image": vs[0]["flops_per_image"],
               "seconds_per_step": float(np.mean(times)) if times else None}
        for m in metrics:
            for b in buckets:
                row[f"{m}_{b}"] = _spread([v["eval"][b][m] for v in vs])
        rows.append(row)
    ref = next((r for r in rows if r["kind"] == reference), None)
    for row in rows:
        for key, cell in row.items():
            if not isinstance(cell, dict):
                continue
            if ref is None or row is ref:
                cell.update(diff=None, noise=None, within_noise=None)
                continue
            rc = ref[key]
            cell["diff"] = cell["mean"] - rc["mean"]
            stds = [s for s in (cell["std"], rc["std"]) if s is not None]
            cell["noise"] = max(stds) if len(stds) == 2 else None
            floor = RESOLUTION.get(key.split("_", 1)[0], 0.0)
            cell["within_noise"] = (None if cell["noise"] is None
                                    else bool(abs(cell["diff"]) <= max(cell["noise"], floor)))
    return rows


def _fmt(cell: dict, digits: int) -> str:
    s = f"{cell['mean']:.{digits}f}"
    if cell["std"] is not None:
        s += f" ± {cell['std']:.{digits}f} [{cell['min']:.{digits}f}, {cell['max']:.{digits}f}]"
    return s


def summary_table(rows: list[dict], metric: str = "psnr", buckets=None, digits: int | None = None) -> str:
    """A Markdown table: kind, parameters, MFLOPs / image, s / step, then ``metric`` per bucket as
    mean ± std [min, max] over seeds; a trailing ``~`` marks a difference to CFS within seed noise."""
    if not rows:
        raise ValueError("summary_table: no rows (run summarise(results) first).")
    digits = digits if digits is not None else (2 if metric == "psnr" else 4)
    if buckets is None:
        buckets = [k[len(metric) + 1:] for k in rows[0] if k.startswith(metric + "_")]
    buckets = list(buckets)
    head = ["block", "params", "MFLOPs / image", "s / step"] + [f"{metric.upper()} {b}" for b in buckets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t = "-" if r["seconds_per_step"] is None else f"{r['seconds_per_step']:.3f}"
        cells = [r["kind"], f"{r['params']:,}", f"{r['flops_per_image'] / 1e6:.1f}", t]
        for b in buckets:
            c = r[f"{metric}_{b}"]
            cells.append(_fmt(c, digits) + (" ~" if c["within_noise"] else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(rows: list[dict], metric: str = "psnr", bucket: str = "all", reference: str = REFERENCE) -> list[str]:
    """One sentence per kind comparing it with the reference (CFS) on ``metric`` in ``bucket``."""
    unit = " dB" if metric == "psnr" else ""
    out = []
    for r in rows:
        c = r[f"{metric}_{bucket}"]
        if r["kind"] == reference:
            continue
        if c["diff"] is None:
            out.append(f"{r['kind']}: no {reference} row to compare with.")
            continue
        side = "above" if c["diff"] > 0 else "below"
        head = (f"{r['kind']}: {metric.upper()} ({bucket}) {c['mean']:.4g}{unit}, {abs(c['diff']):.3g}{unit} "
                f"{side} {reference}")
        floor = RESOLUTION.get(metric, 0.0)
        if c["within_noise"] is None:
            out.append(head + f" over {c['n']} seed(s): seed noise unknown (needs >= 2 seeds), no verdict.")
        elif c["within_noise"]:
            if c["noise"] < 1e-9:
                why = f"every seed gives the same score, and {floor:g}{unit} is the smallest difference reported"
            elif abs(c["diff"]) > c["noise"]:          # under the floor, not under the spread: say which
                why = (f"under {floor:g}{unit}, the smallest difference reported; the seed spread is up to "
                       f"{c['noise']:.3g}{unit}")
            else:
                why = f"within the seed noise: the seed spread is up to {c['noise']:.3g}{unit}"
            out.append(f"{r['kind']}: no difference from {reference} on {metric.upper()} ({bucket}): "
                       f"{abs(c['diff']):.3g}{unit} {side} ({why}).")
        else:
            out.append(head + f": larger than the seed noise ({c['noise']:.3g}{unit}), "
                              f"{'better' if c['diff'] > 0 else 'worse'} than {reference} here.")
    return out


def best_block(rows: list[dict], metric: str = "psnr", bucket: str = "all") -> str:
    """One sentence: the block with the highest mean, or that none is ahead when the best mean's lead over the
    runner-up is within the larger of their seed spreads (or the metric's :data:`RESOLUTION`)."""
    unit = " dB" if metric == "psnr" else ""
    ranked = sorted(rows, key=lambda r: -r[f"{metric}_{bucket}"]["mean"])
    if len(ranked) < 2:
        return f"Only {ranked[0]['kind'] if ranked else 'no block'} was run: nothing to rank."
    a, b = ranked[0][f"{metric}_{bucket}"], ranked[1][f"{metric}_{bucket}"]
    lead = a["mean"] - b["mean"]
    stds = [s for s in (a["std"], b["std"]) if s is not None]
    if len(stds) < 2:
        return (f"Highest mean {metric.upper()}: {ranked[0]['kind']}, {lead:.3g}{unit} ahead of "
                f"{ranked[1]['kind']}; one seed, so the seed noise is unknown: no verdict.")
    if lead <= max(max(stds), RESOLUTION.get(metric, 0.0)):
        return (f"No block is ahead on {metric.upper()} ({bucket}): the best mean ({ranked[0]['kind']}) leads "
                f"{ranked[1]['kind']} by {lead:.3g}{unit}, within the seed noise ({max(stds):.3g}{unit}).")
    return (f"Highest mean {metric.upper()} ({bucket}): {ranked[0]['kind']}, {lead:.3g}{unit} ahead of "
            f"{ranked[1]['kind']}, more than the seed noise ({max(stds):.3g}{unit}).")


# ---------------------------------------------------------------------------------------------- gates

def cfs_layers(generator: ImageGenerator) -> dict[str, CFSBlock]:
    """{name: CFSBlock} of a generator in forward order: "encoder1".."decoder3", "res<i>.1"/"res<i>.2"."""
    out = {}
    for name, layer, _ in generator.named_layers():
        if isinstance(layer, MaskFreeBlock) and isinstance(layer.layer, CFSBlock):
            out[name] = layer.layer
        elif isinstance(layer, DilatedResBlock):
            for j, blk in enumerate((layer.block1, layer.block2), 1):
                if isinstance(blk, MaskFreeBlock) and isinstance(blk.layer, CFSBlock):
                    out[f"{name}.{j}"] = blk.layer
    return out


@torch.no_grad()
def gate_maps(generator: ImageGenerator, batch: dict, layer: str = "encoder1") -> dict:
    """The gates of one CFS layer for ``batch`` = {"image", "sketch", "mask" (1 = known)}.

    Runs the generator once, catches ``layer``'s input and calls its ``forward_with_gates``. Returns
    {"layer", "g": (N, C_in, H, W) input gate (Eq. 3; absent without one), "G": (N, C_out, H', W')
    output gate (Eq. 4), "s": (N, C_out) SE channel weights (Eq. 7; absent without SE), "input": the
    layer's input}. At "encoder1" the input channels are [R*M, G*M, B*M, S_comp, M].
    """
    layers = cfs_layers(generator)
    if layer not in layers:
        raise ValueError(f"layer {layer!r} is not a CFS-type layer of this generator (block={generator.block!r}); "
                         f"choose one of {list(layers) or 'none: train a cfs / gated_input / gated variant'}.")
    block = layers[layer]
    caught = {}
    hook = block.register_forward_pre_hook(lambda mod, args: caught.setdefault("x", args[0]))
    was_training = generator.training
    generator.eval()
    try:
        generator(batch["image"], batch["sketch"], batch["mask"])
    finally:
        hook.remove()
        generator.train(was_training)
    _, gates = block.forward_with_gates(caught["x"])
    return {"layer": layer, "input": caught["x"], **gates}


def gate_hole_contrast(gate: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean gate value per channel inside the hole and in the known region: {"hole": (C,), "known": (C,)}.

    ``gate``: (N, C, h, w), e.g. g or G of :func:`gate_maps`; ``mask``: (N, 1, H, W), 1 = known, 0 = hole,
    with H, W multiples of h, w. A gate pixel counts as hole (known) when every image pixel under it is a
    hole (known); pixels on the border of the hole count as neither. NaN where a region is empty.
    """
    if gate.dim() != 4 or mask.dim() != 4 or gate.shape[0] != mask.shape[0] or mask.shape[1] != 1:
        raise ValueError(f"gate (N, C, h, w) and mask (N, 1, H, W) expected, "
                         f"got {tuple(gate.shape)} and {tuple(mask.shape)}.")
    h, w = gate.shape[-2:]
    H, W = mask.shape[-2:]
    if H % h or W % w:
        raise ValueError(f"mask size {H}x{W} is not a multiple of the gate's {h}x{w}.")
    known_share = torch.nn.functional.avg_pool2d(mask.float(), (H // h, W // w))   # (N, 1, h, w)
    out = {}
    for name, region in (("hole", known_share == 0), ("known", known_share == 1)):
        region = region.to(gate.dtype)                                            # (N, 1, h, w)
        count = region.sum()
        out[name] = (gate * region).sum(dim=(0, 2, 3)) / count if count > 0 else torch.full(
            (gate.shape[1],), float("nan"), dtype=gate.dtype)
    return out
