"""Table 1's report: the run's PSNR / SSIM per bucket and method in the paper's layout, with the paper's own
numbers beside it (copied digit for digit, labelled as not re-run here).
"""

from __future__ import annotations

from .baselines import Method
from .masks import TABLE1_BUCKETS

__all__ = ["TABLE1_LABELS", "PUBLISHED_METHODS", "PUBLISHED", "format_table1"]

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

