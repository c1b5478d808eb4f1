#!/usr/bin/env python3
"""Google Benchmark JSON (conv_bench, train_step_bench) -> Markdown tables.

    python3 bench/bench_table.py bench/out/conv_cpu.json [more.json ...] [--out FILE]

One row per benchmark (repetitions folded): the best (minimum) time over the repetitions, the
median, and the counters of the best repetition (GFLOP/s, %peak, %roofline, ... see conv_bench.cpp).
Also imported by pytorch_side_by_side.py and scripts/gpu-runbook.sh (load_results).
No third-party modules: runs on any python3.
"""
import argparse
import json
import statistics
import sys

_UNIT_TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}

# Counters shown, in this order, when present.
CONV_COUNTERS = ["GFLOP/s", "GB/s", "%peak", "%roofline", "floor_us", "cpu_ms", "x_cudnn", "x_cudnn_tf32", "rel_err"]
TRAIN_COUNTERS = ["images/s", "cpu_ms", "conv_GFLOP/s", "%peak", "peak_rss_MiB", "peak_gpu_MiB"]


def base_name(name):
    """'conv/A/D.2/fwd/cpu/manual_time' -> 'conv/A/D.2/fwd/cpu' (Google Benchmark's suffixes)."""
    for suffix in ("/manual_time", "/real_time"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _read_json(path):
    """The JSON document; a file cut short (the program was killed) is closed after its last
    complete benchmark entry; a missing or unreadable one gives an empty document."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        print(f"bench_table: cannot read {path}: {e}", file=sys.stderr)
        return {}
    try:
        return json.loads(text)
    except ValueError:
        cut = text.rfind("\n    }")
        if cut < 0:
            return {}
        print(f"bench_table: {path} was cut short; using the complete entries", file=sys.stderr)
        try:
            return json.loads(text[: cut + 6] + "\n  ]\n}")
        except ValueError:
            return {}


def load_results(paths):
    """{base name: {"best_ms", "median_ms", "reps", "counters" (of the best rep), "label",
    "error", "min_cpu_ms" (smallest cpu_ms counter over the reps)}} from one or more Google
    Benchmark JSON files, plus the merged context."""
    runs, context = {}, {}
    for path in paths:
        doc = _read_json(path)
        context.update(doc.get("context", {}))
        for b in doc.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration":
                continue
            name = base_name(b.get("run_name", b["name"]))
            entry = runs.setdefault(name, {"times": [], "best": None, "label": b.get("label", ""), "error": ""})
            if b.get("error_occurred"):
                entry["error"] = b.get("error_message", "error")
                continue
            ms = b["real_time"] * _UNIT_TO_MS.get(b.get("time_unit", "ns"), 1e-6)
            entry["times"].append(ms)
            if isinstance(b.get("cpu_ms"), (int, float)):
                entry.setdefault("cpu", []).append(b["cpu_ms"])
            if entry["best"] is None or ms < entry["best"][0]:
                counters = {k: v for k, v in b.items() if isinstance(v, (int, float)) and k not in (
                    "real_time", "cpu_time", "iterations", "repetitions", "repetition_index", "threads",
                    "family_index", "per_family_instance_index")}
                entry["best"] = (ms, counters)
    out = {}
    for name, e in runs.items():
        if e["times"]:
            out[name] = {"best_ms": e["best"][0], "median_ms": statistics.median(e["times"]),
                         "reps": len(e["times"]), "counters": e["best"][1], "label": e["label"], "error": "",
                         "min_cpu_ms": min(e["cpu"]) if e.get("cpu") else None}
        else:
            out[name] = {"best_ms": None, "median_ms": None, "reps": 0, "counters": {}, "label": e["label"],
                         "error": e["error"]}
    return out, context


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.{max(digits - 1, 0)}f}" if a < 10 else f"{v:.1f}"
    if a >= 1e-3:
        return f"{v:.{digits}f}".rstrip("0").rstrip(".") if a >= 0.01 else f"{v:.2g}"
    return f"{v:.1e}"


def markdown_table(results, counters, title_col="benchmark"):
    shown = [c for c in counters if any(c in r["counters"] for r in results.values())]
    head = [title_col, "best ms", "median ms", "reps"] + shown + (["floor from"] if "floor_us" in shown else []) + ["what"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in results:
        r = results[name]
        if r["error"]:
            lines.append(f"| {name} | skipped: {r['error']} |" + " |" * (len(head) - 2))
            continue
        cells = [name, fmt(r["best_ms"]), fmt(r["median_ms"]), str(r["reps"])]
        cells += [fmt(r["counters"].get(c)) for c in shown]
        if "floor_us" in shown:  # which floor binds: the larger share of its peak
            pk, bw = r["counters"].get("%peak"), r["counters"].get("%bw")
            cells.append("-" if pk is None or bw is None else ("FLOP" if pk >= bw else "bytes"))
        cells.append(r["label"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def context_lines(context):
    keys = ["date", "host_name", "cpu_model", "num_cpus", "mhz_per_cpu", "cpu_threads", "cpu_peak_how", "cpu_bw_how",
            "gpu_name", "gpu_peak_how", "load_avg"]
    out = []
    for k in keys:
        if k in context:
            out.append(f"- {k}: {context[k]}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+")
    ap.add_argument("--out", help="also write the Markdown here")
    args = ap.parse_args()
    results, context = load_results(args.json)
    conv = {k: v for k, v in results.items() if k.startswith("conv/")}
    train = {k: v for k, v in results.items() if not k.startswith("conv/")}
    parts = [context_lines(context)]
    if conv:
        parts.append(markdown_table(conv, CONV_COUNTERS))
    if train:
        parts.append(markdown_table(train, TRAIN_COUNTERS))
    text = "\n\n".join(p for p in parts if p) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
