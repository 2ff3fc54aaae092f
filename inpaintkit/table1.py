"""Table 1's report: the run's PSNR / SSIM per bucket and method in the paper's layout, with the paper's own
numbers beside it (copied digit for digit, labelled as not re-run here).
"""

from __future__ import annotations

from .baselines import Method
from .masks import TABLE1_BUCKETS
from .metrics import MIN_GROUPS, PairedVerdict, paired_verdict

__all__ = ["TABLE1_LABELS", "PUBLISHED_METHODS", "PUBLISHED", "format_table1", "GAP_TARGET", "CORRECTION_TARGET_DB",
           "paired_verdicts", "ladder_verdicts"]

TABLE1_LABELS = {"10-20": "10-20%", "20-30": "20-30%", "30-40": "30-40%", "40-50": ">=40%"}

# The paper's Table 1, copied digit for digit (strings keep its precision, e.g. the four-decimal 0.7695).
# Its CA, GLCIC, PConv and EdgeConnect columns are EdgeConnect's numbers on Places2; ">=40" is Liu's 40-50 %.
PUBLISHED_METHODS = ("CA", "GLCIC", "PConv", "EdgeCnt", "Ours (paper)")
PUBLISHED = {
    "10-20": {"psnr": ("24.36", "23.49", "28.02", "27.95", "30.85"),
              "ssim": ("0.893", "0.862", "0.869", "0.920", "0.951")},
    "20-30": {"psnr": ("21.19", "20.45", "24.90", "24.92", "26.87"),
              "ssim": ("0.815", "0.771", "0.777", "0.861", "0.900")},
    "30-40": {"psnr": ("19.13", "18.50", "22.45", "22.84", "24.17"),
              "ssim": ("0.739", "0.686", "0.685", "0.799", "0.841")},
    "40-50": {"psnr": ("17.75", "17.17", "20.86", "21.16", "21.74"),
              "ssim": ("0.662", "0.603", "0.589", "0.731", "0.7695")},
}


def _fmt(entry: dict | None, metric: str) -> str:
    if not entry or entry.get("n", 0) == 0:
        return "n/a"
    return f"{entry['mean']:.2f}" if metric == "psnr" else f"{entry['mean']:.3f}"


def _label(method) -> str:
    """A method's display label, from its key (or its label, as older metrics.json files hold)."""
    return Method.parse(method).label


def format_table1(metrics: dict) -> str:
    """Table 1's layout in Markdown: a PSNR and an SSIM row per bucket, a column per method (by its label); then
    the paper's published numbers in a separate block, labelled as not re-run here."""
    methods = metrics["methods"]
    summary = metrics["summary"]
    lines = [
        "## Table 1 (this run)",
        "",
        f"Protocol `{metrics['protocol']}` ({metrics['protocol_note']}); "
        f"{metrics['image_size']}x{metrics['image_size']} "
        f"images from {metrics['data']}; {metrics['per_bucket']} image(s) per bucket. Mean over images; "
        "95 % bootstrap intervals are in metrics.json.",
        "",
        "| Mask | Metric | " + " | ".join(_label(m) for m in methods) + " |",
        "|---|---|" + "---:|" * len(methods),
    ]
    for b in TABLE1_BUCKETS:
        for metric in ("psnr", "ssim"):
            cells = [_fmt(summary.get(m, {}).get(b, {}).get(metric), metric) for m in methods]
            label = TABLE1_LABELS[b] if metric == "psnr" else ""
            lines.append(f"| {label} | {metric.upper()} | " + " | ".join(cells) + " |")
    for name, status in metrics.get("extra_metrics", {}).items():
        lines += ["", f"{name.upper()}: {status}"]
        if status != "computed":
            continue
        for m in methods:
            if name == "lpips":
                vals = [_fmt(summary.get(m, {}).get(b, {}).get("lpips"), "lpips") for b in TABLE1_BUCKETS]
            else:
                fids = metrics.get("extra_scores", {}).get("fid", {}).get(m, {})
                vals = [f"{fids[b]:.2f}" if b in fids else "n/a" for b in TABLE1_BUCKETS]
            lines.append(f"- {_label(m)}: "
                         + ", ".join(f"{TABLE1_LABELS[b]} {v}" for b, v in zip(TABLE1_BUCKETS, vals)))
    borders = metrics.get("summary_by_border", {})
    if len(borders) == 2:
        m = Method.OURS if Method.OURS in methods else methods[-1]
        lines += ["", f"PSNR of {_label(m)} by where the hole lies "
                      "(Liu et al.'s test masks come with and without holes "
                      "at the border; mean, images in brackets):"]
        for group, summ in borders.items():
            cells = [f"{TABLE1_LABELS[b]} {_fmt(summ.get(m, {}).get(b, {}).get('psnr'), 'psnr')} "
                     f"({summ.get(m, {}).get(b, {}).get('psnr', {}).get('n', 0)})" for b in TABLE1_BUCKETS]
            lines.append(f"- {group}: " + ", ".join(cells))
    for name, why in metrics.get("skipped_methods", {}).items():
        lines.append("")
        lines.append(f"Not run: {_label(name)} ({why})")
    lines += [
        "",
        "## As reported on Places2 in the paper (Table 1), not re-run here",
        "",
        "The CA, GLCIC, PConv and EdgeCnt columns are EdgeConnect's numbers, copied by the paper; "
        "\">=40%\" is Liu et al.'s 40-50 % bucket.",
        "",
        "| Mask | Metric | " + " | ".join(PUBLISHED_METHODS) + " |",
        "|---|---|" + "---:|" * len(PUBLISHED_METHODS),
    ]
    for b in TABLE1_BUCKETS:
        for metric in ("psnr", "ssim"):
            label = TABLE1_LABELS[b] if metric == "psnr" else ""
            lines.append(f"| {label} | {metric.upper()} | " + " | ".join(PUBLISHED[b][metric]) + " |")
    return "\n".join(lines) + "\n"



# The targets of the sketch ladder (issue "the learned sketch must help"), each read from a run's metrics
GAP_TARGET = 0.40          # share of the emptied-to-true gap Gs's sketch should close at 20-30 %
CORRECTION_TARGET_DB = 0.1  # Gi's correction over its own fill, to call it a gain


def _psnr(summary: dict, method, bucket: str) -> float | None:
    entry = summary.get(method, {}).get(bucket, {}).get("psnr")
    return None if not entry or not entry.get("n") else entry["mean"]


def paired_verdicts(metrics: dict, a, b, metric: str = "psnr", buckets=TABLE1_BUCKETS) -> dict[str, PairedVerdict]:
    """{bucket: :func:`inpaintkit.metrics.paired_verdict` of ``metric(a) - metric(b)``} from ``metrics``'
    per-image records (``evaluate``'s result or its metrics.json): the two methods on the same image and mask,
    resampled by photograph (``record["group"]``; a record without one, from an older run, by the photograph its
    image was cut from, :func:`inpaintkit.data.demo_photo_of`). Buckets where either method has no record are
    left out."""
    from .data import demo_photo_of

    a, b = Method.parse(a), Method.parse(b)
    out = {}
    for bucket in buckets:
        ref = {(r["image"], r["mask_id"]): r[metric] for r in metrics.get("records", ())
               if r["method"] == b and r["bucket"] == bucket}
        recs = [r for r in metrics.get("records", ()) if r["method"] == a and r["bucket"] == bucket
                and (r["image"], r["mask_id"]) in ref]
        if recs:
            out[bucket] = paired_verdict([r[metric] - ref[(r["image"], r["mask_id"])] for r in recs],
                                         [r.get("group") or demo_photo_of(r["image"]) for r in recs], a.label, b.label)
    return out


def _interval_note(metrics: dict, a, b, buckets) -> str:
    """What the paired intervals of ``a - b`` add to a target read on the means: the verdict per bucket and the
    number of photographs, or that there are too few to decide; "" when ``metrics`` holds no per-image records."""
    v = paired_verdicts(metrics, a, b, buckets=buckets)
    if not v:
        return ""
    n = min(x.n_groups for x in v.values())
    if n < MIN_GROUPS:
        return f" (on the means; too few photographs (n={n}) to decide by the paired intervals)"
    return (f" (on the means; paired 95 % intervals over {n} photographs: "
            + ", ".join(f"{TABLE1_LABELS[k]} {x.verdict}" for k, x in v.items()) + ")")


def ladder_verdicts(metrics: dict) -> list[str]:
    """Sentences that say, from ``metrics`` (``evaluate``'s result), whether the sketch machinery helps: ours against
    "no sketch" in every bucket, the share of the emptied-to-true gap closed at 20-30 % (Gs of stage 1 too, where
    scored), Gi's correction against its own fill, ours against biharmonic at 10-30 %. Each names its numbers and
    says "met" or "NOT met" on the means; where ``metrics`` holds the per-image records, a comparison of two
    methods adds the verdicts of their paired intervals and the number of photographs behind them, or that there
    are too few photographs to decide (:func:`paired_verdicts`). A comparison whose columns were not scored is
    left out."""
    s, out = metrics["summary"], []
    buckets = [b for b in TABLE1_BUCKETS if _psnr(s, Method.OURS, b) is not None]
    met = lambda ok: "met" if ok else "NOT met"                                      # noqa: E731
    if Method.NO_SKETCH in s:
        d = {b: _psnr(s, Method.OURS, b) - _psnr(s, Method.NO_SKETCH, b) for b in buckets}
        out.append("ours minus no sketch: " + ", ".join(f"{TABLE1_LABELS[b]} {v:+.2f} dB" for b, v in d.items())
                   + f"; at or above in every bucket: {met(min(d.values()) >= 0)}"
                   + _interval_note(metrics, Method.OURS, Method.NO_SKETCH, buckets))
    if {Method.EMPTIED_SKETCH, Method.ORACLE_SKETCH} <= set(s) and "20-30" in buckets:
        lo, hi = _psnr(s, Method.EMPTIED_SKETCH, "20-30"), _psnr(s, Method.ORACLE_SKETCH, "20-30")
        shares = {m.label: (_psnr(s, m, "20-30") - lo) / (hi - lo) for m in (Method.STAGE1_SKETCH, Method.OURS)
                  if m in s and hi > lo}
        out.append(f"at 20-30 % the true sketch is worth {hi - lo:+.2f} dB over the emptied one; share of that gap "
                   "closed: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
                   + f"; ours >= {GAP_TARGET:.0%}: {met(shares.get('ours', -1) >= GAP_TARGET)}")
    for other, sign, served in ((Method.FILL_ONLY, 1, "with"), (Method.GI_CORRECTED, -1, "without")):
        if other in s:
            better, worse = (Method.OURS, other) if sign > 0 else (other, Method.OURS)
            d = {b: sign * (_psnr(s, Method.OURS, b) - _psnr(s, other, b)) for b in buckets}
            mean = sum(d.values()) / len(d)
            out.append(f"Gi's correction minus its own fill (ours is served {served} it): "
                       + ", ".join(f"{TABLE1_LABELS[b]} {v:+.2f}" for b, v in d.items())
                       + f" dB; a gain of >= {CORRECTION_TARGET_DB} dB: {met(mean >= CORRECTION_TARGET_DB)}"
                       + ("" if mean >= CORRECTION_TARGET_DB or served == "without" else
                          " (and yet it is applied)") + _interval_note(metrics, better, worse, buckets))
    if Method.BIHARMONIC in s:
        d = {b: _psnr(s, Method.OURS, b) - _psnr(s, Method.BIHARMONIC, b) for b in ("10-20", "20-30") if b in buckets}
        out.append("ours minus biharmonic: " + ", ".join(f"{TABLE1_LABELS[b]} {v:+.2f} dB" for b, v in d.items())
                   + f"; at or above at 10-30 %: {met(min(d.values()) >= 0)}"
                   + _interval_note(metrics, Method.OURS, Method.BIHARMONIC, list(d)))
    return out
