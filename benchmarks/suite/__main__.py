# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Runs the model suite and writes its results.

Usage, from the repository's root::

    python -m benchmarks.suite                       # everything (hours on one core)
    python -m benchmarks.suite --quick               # seconds: checks that every case runs
    python -m benchmarks.suite --cases hmm factorial_4 --seeds 0 1 2
    python -m benchmarks.suite --output benchmarks/suite/results   # results.json and .md

Each case is run in this process, one thread, float64; every row is printed as
it is done and appended to ``<output>.jsonl``, so that a long run can be
followed and cases run in separate processes combined with ``--combine``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import pyro
import torch

from .cases import CASES
from .common import METHODS, QUICK_METHODS, Method
from .report import markdown


def parse_method(text: str) -> Method:
    """``"reinmax:1"`` -> ``Method("reinmax", 1.0)``; ``"score_function"``."""
    estimator, _, temperature = text.partition(":")
    return Method(estimator, float(temperature) if temperature else None)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny data and step counts")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default 0 1 2")
    parser.add_argument(
        "--methods",
        nargs="+",
        type=parse_method,
        default=None,
        help="estimator[:temperature] of each method (default: the full grid)",
    )
    parser.add_argument("--output", default=None, help="path prefix of the result files")
    parser.add_argument(
        "--combine", nargs="+", default=None, help="only write tables from these .jsonl files"
    )
    return parser.parse_args(argv)


def run(cases, seeds, methods, quick, sink=None):
    """The rows of ``cases``, each passed to ``sink`` as soon as it is done."""
    torch.set_num_threads(1)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    rows = []
    try:
        for name in cases:
            case, _ = CASES[name]
            for row in case(seeds, methods, quick):
                row = dict(row, case=name)
                rows.append(row)
                if sink is not None:
                    sink(row)
    finally:
        torch.set_default_dtype(default_dtype)
    return rows


def write(rows, output: Path):
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    output.with_suffix(".md").write_text(markdown(rows) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.combine:
        rows = [json.loads(line) for path in args.combine for line in open(path) if line.strip()]
        print(markdown(rows))
        if args.output:
            write(rows, Path(args.output))
        return 0
    # Validation checks every distribution's arguments and values at every step: the
    # tests run the quick mode with it, timed runs without.
    pyro.enable_validation(False)
    methods = args.methods or (QUICK_METHODS if args.quick else METHODS)
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    journal = open(Path(args.output).with_suffix(".jsonl"), "a") if args.output else None

    def sink(row):
        print(json.dumps(row), flush=True)
        if journal is not None:
            journal.write(json.dumps(row) + "\n")
            journal.flush()

    start = time.perf_counter()
    rows = run(args.cases, seeds, methods, args.quick, sink)
    print(markdown(rows))
    print(f"{len(rows)} runs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if args.output:
        write(rows, Path(args.output))
    return 0


__all__ = ["Method", "main", "run"]

if __name__ == "__main__":
    sys.exit(main())
