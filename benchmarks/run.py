# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Benchmarks of pyro-concrete against torch, Pyro and the Gumbel-Softmax paper.

Measures, side by side in one process (interleaved rounds, medians; see
``timer.py``), with one thread and with all threads, and on CUDA when present:
the relaxed categorical operations against torch's ``RelaxedOneHotCategorical``,
``F.gumbel_softmax`` and Pyro's ``RelaxedOneHotCategoricalStraightThrough``
(``distribution_cases.py``); one SVI step of a categorical VAE against the same
model written by hand, and the semi-supervised M2 step with the class summed out
against one straight-through sample (``model_cases.py``); and the peak memory
per sample at the largest shape. Prints markdown tables of ``ours / anchor``
ratios with the targets of issue 5.

Usage::

    python benchmarks/run.py                      # everything (about 10 minutes)
    python benchmarks/run.py --quick              # checks that the harness works
    python benchmarks/run.py --ops rsample --shapes 1024x100 --dtypes float32 --threads 1
    python benchmarks/run.py --profile rsample --shapes 1024x100 --dtypes float32
    python benchmarks/run.py --output benchmarks/results.md   # also writes results.json
"""

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import pyro
import torch

# isort: split
# The modules beside this script.
import distribution_cases
import model_cases
import timer

DTYPES = {"float32": torch.float32, "float64": torch.float64}
QUICK_SHAPES = ((1024, 10),)
#: (rounds, least seconds per measurement, warm-up calls) of the operations and
#: of the model steps, which last up to seconds each.
FULL_TIMING = {"operations": (11, 0.02, 3), "model steps": (7, 0.02, 2)}
QUICK_TIMING = {"operations": (3, 0.001, 1), "model steps": (2, 0.001, 1)}
MODEL_OPS = ("VAE step", "M2 step")
#: Jang et al.'s speedups of a single sample over marginalisation, by classes
PAPER_SPEEDUPS = {10: ("M2 ≥ 2", 2.0), 100: ("M2 ≥ 9.9", 9.9)}
TABLE_COLUMNS = (
    "op",
    "shape",
    "dtype",
    "device",
    "threads",
    "ours (µs)",
    "anchor",
    "anchor (µs)",
    "ratio",
    "ours in exp-passes",
    "target",
    "met?",
)
TARGETS = {
    "every other op ≤ 1.0× its torch or Pyro equivalent": "op ≤ 1.0",
    "rsample ≤ 0.5× F.gumbel_softmax": "gumbel ≤ 0.5",
    "rsample ≤ 8 exp-passes at K ≥ 100": "exp ≤ 8",
    "construct+rsample ≤ 0.5× torch": "construct ≤ 0.5",
    "ST fwd+bwd ≤ 1.0× Pyro": "ST ≤ 1.0",
    "VAE step ≤ 1.15× hand-written": "VAE ≤ 1.15",
    "M2 speedup ≥ 2× at 10 classes": "M2 ≥ 2",
    "M2 speedup ≥ 9.9× at 100 classes": "M2 ≥ 9.9",
}


def parse_shape(text):
    batch, categories = text.lower().replace("×", "x").split("x")
    return int(batch), int(categories)


def format_shape(shape):
    return "×".join(str(size) for size in shape)


def machine():
    """The machine and software the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            models = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        cpu = models[0] if models else cpu
    except OSError:
        pass
    description = {
        "cpu": cpu,
        "logical cores": os.cpu_count(),
        "torch threads (all)": torch.get_num_threads(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if torch.cuda.is_available():
        description["gpu"] = torch.cuda.get_device_name()
    if hasattr(os, "getloadavg"):
        description["load average at start"] = round(os.getloadavg()[0], 2)
    return description


def _check(name, value, limit, at_most=True):
    met = value <= limit if at_most else value >= limit
    return {"target": name, "value": value, "limit": limit, "at_most": at_most, "met": met}


def _ratio_target(op, anchor):
    if op == "construct+rsample" and anchor == "torch":
        return "construct ≤ 0.5"
    if op == "rsample" and anchor == "F.gumbel_softmax":
        return "gumbel ≤ 0.5"
    if op == "ST fwd+bwd" and anchor == "Pyro":
        return "ST ≤ 1.0"
    return "op ≤ 1.0"


def _row(op, shape, dtype, device, threads, ours, anchor, anchor_timing, checks, exp_passes=None):
    return {
        "op": op,
        "shape": shape,
        "dtype": dtype,
        "device": device,
        "threads": threads,
        "ours_us": ours.median * 1e6,
        "ours_quartiles_us": [ours.lower_quartile * 1e6, ours.upper_quartile * 1e6],
        "anchor": anchor,
        "anchor_us": anchor_timing.median * 1e6,
        "anchor_quartiles_us": [
            anchor_timing.lower_quartile * 1e6,
            anchor_timing.upper_quartile * 1e6,
        ],
        "ratio": ours.median / anchor_timing.median,
        "exp_passes": exp_passes,
        "checks": checks,
    }


def distribution_rows(shape, dtype_name, device, threads, ops, timing):
    """The rows of the operations at one shape, and the row of the cost units."""
    rounds, min_time, warmup = timing
    dtype = DTYPES[dtype_name]
    floors = distribution_cases.floors(shape, dtype, device)
    rows = []
    for case in distribution_cases.cases(shape, dtype, device):
        if case.op not in ops:
            continue
        timings = timer.interleaved(
            {**case.functions(), "exp": floors["exp"]},
            rounds=rounds,
            min_time=min_time,
            warmup=warmup,
            device=device,
        )
        exp_passes = timings["ours"].median / timings["exp"].median
        for index, (name, anchor) in enumerate(case.anchors.items()):
            ratio = timings["ours"].median / timings[name].median
            checks = []
            if anchor.max_ratio is not None:
                checks.append(_check(_ratio_target(case.op, name), ratio, anchor.max_ratio))
            if case.max_exp_passes is not None and index == 0:
                checks.append(_check("exp ≤ 8", exp_passes, case.max_exp_passes))
            rows.append(
                _row(
                    case.op,
                    format_shape(shape),
                    dtype_name,
                    device,
                    threads,
                    timings["ours"],
                    name,
                    timings[name],
                    checks,
                    exp_passes,
                )
            )
    timings = timer.interleaved(
        floors, rounds=rounds, min_time=min_time, warmup=warmup, device=device
    )
    floor = {
        "shape": format_shape(shape),
        "dtype": dtype_name,
        "device": device,
        "threads": threads,
        "exp_us": timings["exp"].median * 1e6,
        "rand_us": timings["rand"].median * 1e6,
        "rand_in_exp_passes": timings["rand"].median / timings["exp"].median,
    }
    return rows, floor


def model_rows(device, threads, ops, quick, timing):
    rounds, min_time, warmup = timing
    rows = []
    if "VAE step" in ops:
        config = model_cases.QUICK_VAE if quick else model_cases.VAEConfig()
        svi_step, elbo_step, by_hand = model_cases.vae_steps(config, device)
        timings = timer.interleaved(
            {"svi": svi_step, "elbo": elbo_step, "anchor": by_hand},
            rounds=rounds,
            min_time=min_time,
            warmup=warmup,
            device=device,
        )
        # The target applies to Pyro's inference (Trace_ELBO, its traces and
        # our distributions); SVI's pyro.optim keeps one torch optimiser per
        # parameter, a cost of Pyro's optimiser wrapper reported on its own row.
        for name, key, checks in (
            ("VAE step (Trace_ELBO + torch Adam)", "elbo", True),
            ("VAE step (SVI + pyro.optim.Adam)", "svi", False),
        ):
            ratio = timings[key].median / timings["anchor"].median
            rows.append(
                _row(
                    name,
                    config.describe(),
                    "float32",
                    device,
                    threads,
                    timings[key],
                    "hand-written",
                    timings["anchor"],
                    [_check("VAE ≤ 1.15", ratio, 1.15)] if checks else [],
                )
            )
    if "M2 step" in ops:
        config = model_cases.QUICK_SEMI_SUPERVISED if quick else model_cases.SemiSupervisedConfig()
        for num_classes in config.classes:
            straight_through, enumerate_ = model_cases.semi_supervised_steps(
                config, num_classes, device
            )
            timings = timer.interleaved(
                {"ours": straight_through, "anchor": enumerate_},
                rounds=rounds,
                min_time=min_time,
                warmup=warmup,
                device=device,
            )
            speedup = timings["anchor"].median / timings["ours"].median
            checks = []
            if num_classes in PAPER_SPEEDUPS:
                name, limit = PAPER_SPEEDUPS[num_classes]
                checks.append(_check(name, speedup, limit, at_most=False))
            rows.append(
                _row(
                    "M2 step (ST sample)",
                    config.describe(num_classes),
                    "float32",
                    device,
                    threads,
                    timings["ours"],
                    "TraceEnum_ELBO",
                    timings["anchor"],
                    checks,
                )
            )
    return rows


def memory_rows(shape, dtype_name, device, ops):
    """Peak bytes per sample (row of the batch) of each operation at ``shape``."""
    dtype = DTYPES[dtype_name]
    cases = distribution_cases.cases(shape, dtype, device)
    sample_bytes = shape[-1] * torch.finfo(dtype).bits // 8
    rows = []
    for case in cases:
        if case.op not in ops:
            continue
        peaks = timer.peak_memory(case.functions(), device)
        peaks = {name: peak / shape[0] for name, peak in peaks.items()}
        for name in case.anchors:
            rows.append(
                {
                    "op": case.op,
                    "shape": format_shape(shape),
                    "dtype": dtype_name,
                    "device": device,
                    "ours_bytes": peaks["ours"],
                    "anchor": name,
                    "anchor_bytes": peaks[name],
                    "ratio": peaks["ours"] / peaks[name] if peaks[name] else None,
                    "ours_in_samples": peaks["ours"] / sample_bytes,
                }
            )
    return rows


def _number(value, digits=3):
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _target_text(check):
    relation = "≤" if check["at_most"] else "≥"
    name = check["target"]
    if name.startswith("exp"):
        return f"exp {relation} {check['limit']:g}"
    if name.startswith("M2"):
        return f"speedup {relation} {check['limit']:g}"
    return f"ratio {relation} {check['limit']:g}"


def _markdown(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def times_table(rows):
    cells = []
    for row in rows:
        checks = row["checks"]
        cells.append(
            [
                row["op"],
                row["shape"],
                row["dtype"],
                row["device"],
                str(row["threads"]),
                _number(row["ours_us"]),
                row["anchor"],
                _number(row["anchor_us"]),
                _number(row["ratio"], 2),
                _number(row["exp_passes"]),
                "; ".join(_target_text(check) for check in checks) or "—",
                ", ".join("yes" if check["met"] else "**NO**" for check in checks) or "—",
            ]
        )
    return _markdown(TABLE_COLUMNS, cells)


def summary_table(rows):
    """For each target of the issue: how many rows meet it, and the worst case."""
    cells = []
    for description, name in TARGETS.items():
        checks = [(check, row) for row in rows for check in row["checks"]]
        checks = [(check, row) for check, row in checks if check["target"] == name]
        if not checks:
            continue
        met = sum(check["met"] for check, _ in checks)
        sign = 1 if checks[0][0]["at_most"] else -1
        worst, row = max(checks, key=lambda pair: sign * pair[0]["value"])
        where = (
            f"{row['op']} vs {row['anchor']}, {row['shape']}, {row['dtype']}, "
            f"{row['device']}, {row['threads']} thread(s)"
        )
        cells.append([description, f"{met}/{len(checks)}", _number(worst["value"]), where])
    return _markdown(("target", "rows met", "worst", "where"), cells)


def floors_table(floors):
    cells = [
        [
            floor["shape"],
            floor["dtype"],
            floor["device"],
            str(floor["threads"]),
            _number(floor["exp_us"]),
            _number(floor["rand_us"]),
            _number(floor["rand_in_exp_passes"]),
        ]
        for floor in floors
    ]
    columns = ("shape", "dtype", "device", "threads", "x.exp() (µs)", "torch.rand (µs)")
    return _markdown(columns + ("torch.rand in exp-passes",), cells)


def memory_table(rows):
    cells = [
        [
            row["op"],
            row["shape"],
            row["dtype"],
            row["device"],
            _number(row["ours_bytes"] / 1024),
            row["anchor"],
            _number(row["anchor_bytes"] / 1024),
            _number(row["ratio"], 2),
            _number(row["ours_in_samples"]),
        ]
        for row in rows
    ]
    columns = ("op", "shape", "dtype", "device", "ours (KiB/sample)", "anchor")
    return _markdown(columns + ("anchor (KiB/sample)", "ratio", "ours in sample sizes"), cells)


def report(results):
    def bullets(items):
        return "\n".join(f"- {key}: {value}" for key, value in items)

    legend = [(f"`{op}`", text) for op, text in distribution_cases.OPS.items()]
    sections = [
        "## Machine\n\n" + bullets(results["machine"].items()),
        "## Settings\n\n" + bullets(results["settings"].items()),
        "## Targets\n\n" + summary_table(results["rows"]),
        "## Times (medians; ratio = ours / anchor)\n\n" + times_table(results["rows"]),
        "## What each timed call includes\n\n" + bullets(legend),
    ]
    if results["floors"]:
        sections.append("## Cost units\n\n" + floors_table(results["floors"]))
    if results["memory"]:
        sections.append("## Peak memory per sample\n\n" + memory_table(results["memory"]))
    return "\n\n".join(sections) + "\n"


def profile(op, shape, dtype_name, device):
    """torch.profiler's table of our side of ``op``, by self time."""
    cases = distribution_cases.cases(shape, DTYPES[dtype_name], device)
    (case,) = [case for case in cases if case.op == op]
    for _ in range(10):
        case.ours()
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.device(device).type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(100):
            case.ours()
    on_cuda = torch.device(device).type == "cuda"
    sort_by = "self_cuda_time_total" if on_cuda else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort_by, row_limit=20)


def _comma_list(convert=str, choices=None):
    """An argparse type: comma-separated values, converted and checked."""

    def parse(text):
        values = tuple(convert(item) for item in text.split(","))
        if choices is not None and not set(values) <= set(choices):
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}; got {text}")
        return values

    return parse


def parse_args(argv):
    all_threads = torch.get_num_threads()
    all_ops = tuple(distribution_cases.OPS) + MODEL_OPS
    devices = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny rounds and sizes (CI)")
    parser.add_argument(
        "--ops", type=_comma_list(choices=all_ops), default=all_ops, help="default: all"
    )
    parser.add_argument(
        "--shapes", type=_comma_list(parse_shape), help="BATCHxK,... (default: the issue's four)"
    )
    parser.add_argument(
        "--dtypes", type=_comma_list(choices=tuple(DTYPES)), default=("float32", "float64")
    )
    parser.add_argument(
        "--threads",
        type=_comma_list(int),
        default=tuple(sorted({1, all_threads})),
        help="thread counts (default: 1 and all)",
    )
    parser.add_argument(
        "--devices",
        type=_comma_list(choices=devices),
        default=devices,
        help="default: cpu, and cuda if present",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak memory table")
    parser.add_argument("--rounds", type=int, help="timing rounds (default 11, quick 3)")
    parser.add_argument(
        "--profile",
        choices=tuple(distribution_cases.OPS),
        metavar="OP",
        help="print a torch.profiler table of our side of OP, then stop",
    )
    parser.add_argument("--output", type=Path, help="write the report there, and a .json beside")
    args = parser.parse_args(argv)
    if args.shapes is None:
        args.shapes = QUICK_SHAPES if args.quick else distribution_cases.SHAPES
    return args


def main(argv=None):
    args = parse_args(argv)
    all_threads = torch.get_num_threads()
    timing = QUICK_TIMING if args.quick else FULL_TIMING
    if args.rounds:
        timing = {kind: (args.rounds,) + value[1:] for kind, value in timing.items()}

    # The global default of torch and Pyro (on unless python -O), for both sides.
    pyro.enable_validation(True)
    if args.profile:
        torch.set_num_threads(args.threads[0])
        for device in args.devices:
            for shape in args.shapes:
                for dtype_name in args.dtypes:
                    print(f"## {args.profile}, {format_shape(shape)}, {dtype_name}, {device}")
                    print(profile(args.profile, shape, dtype_name, device))
        return 0

    results = {
        "machine": machine(),
        "settings": {
            **{
                f"timing of the {kind}": f"{rounds} rounds, ≥ {min_time} s per measurement, "
                f"{warmup} warm-up call(s)"
                for kind, (rounds, min_time, warmup) in timing.items()
            },
            "validation": "on (torch and Pyro's global default)",
            "temperature": distribution_cases.TEMPERATURE,
            "quick": args.quick,
        },
        "ops": args.ops,
        "rows": [],
        "floors": [],
        "memory": [],
    }
    measures_distributions = bool(set(args.ops) & set(distribution_cases.OPS))
    for device in args.devices:
        for thread_count in args.threads if device == "cpu" else (all_threads,):
            torch.set_num_threads(thread_count)
            label = thread_count if device == "cpu" else "—"
            for shape in args.shapes if measures_distributions else ():
                for dtype_name in args.dtypes:
                    progress = f"{device}, {label} thread(s), {format_shape(shape)}, {dtype_name}"
                    print(progress, file=sys.stderr)
                    rows, floor = distribution_rows(
                        shape, dtype_name, device, label, args.ops, timing["operations"]
                    )
                    results["rows"] += rows
                    results["floors"].append(floor)
            print(f"{device}, {label} thread(s), models", file=sys.stderr)
            results["rows"] += model_rows(
                device, label, args.ops, args.quick, timing["model steps"]
            )
        torch.set_num_threads(all_threads)
        if measures_distributions and not args.no_memory:
            largest = max(args.shapes, key=lambda shape: shape[0] * shape[1])
            for dtype_name in args.dtypes:
                results["memory"] += memory_rows(largest, dtype_name, device, args.ops)
    if hasattr(os, "getloadavg"):
        results["machine"]["load average at end"] = round(os.getloadavg()[0], 2)

    text = report(results)
    print(text)
    if args.output:
        args.output.write_text(text)
        args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
