# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""The benchmark harness works: interleaving, memory counting, and a quick run end to end."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_timer():
    spec = importlib.util.spec_from_file_location("benchmarks_timer", BENCHMARKS / "timer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rounds_rotate_the_order():
    """After one calibration call each, round r times the functions from the r-th on."""
    calls = []
    functions = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    timings = load_timer().interleaved(functions, rounds=4, min_time=0.0, warmup=0)
    assert "".join(calls) == "abc" + "abc" + "bca" + "cab" + "abc"
    for timing in timings.values():
        assert timing.number == 1
        assert 0 <= timing.lower_quartile <= timing.median <= timing.upper_quartile


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_peak_memory_counts_live_tensors(device):
    """
    Two 4 MiB tensors alive at once, then one freed and another made: the peak is
    8 MiB; each function is counted on its own.
    """

    def allocate():
        first = torch.empty(1024, 1024, dtype=torch.float32, device=device)
        second = torch.empty_like(first)
        del first
        third = torch.empty_like(second)
        return second, third

    def allocate_one():
        return torch.empty(1024, dtype=torch.float64, device=device)

    peaks = load_timer().peak_memory({"two": allocate, "one": allocate_one}, device)
    assert peaks == {"two": 8 * 2**20, "one": 8 * 2**10}


@pytest.mark.slow
def test_quick_run(tmp_path):
    """``run.py --quick`` covers every operation, anchor and target, with coherent numbers."""
    output = tmp_path / "results.md"
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads(output.with_suffix(".json").read_text())
    rows = results["rows"]
    ops = {(row["op"], row["anchor"]) for row in rows}
    assert len(ops) == 15
    assert {op for op, _ in ops} >= {
        "VAE step (Trace_ELBO + torch Adam)",
        "VAE step (SVI + pyro.optim.Adam)",
        "M2 step (ST sample)",
    }
    default_threads = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True,
        text=True,
    ).stdout
    assert {row["threads"] for row in rows} == {1, int(default_threads)}
    for row in rows:
        assert row["ours_us"] > 0 and row["anchor_us"] > 0
        assert math.isclose(row["ratio"], row["ours_us"] / row["anchor_us"], rel_tol=1e-9)
        for check in row["checks"]:
            limit, value = check["limit"], check["value"]
            assert check["met"] == (value <= limit if check["at_most"] else value >= limit)
    targets = {check["target"] for row in rows for check in row["checks"]}
    assert targets == {"op ≤ 1.0", "gumbel ≤ 0.5", "construct ≤ 0.5", "ST ≤ 1.0"} | {
        "VAE ≤ 1.15",
        "M2 ≥ 2",
    }
    assert len(results["floors"]) == 2 * len({row["threads"] for row in rows})  # 2 dtypes
    for floor in results["floors"]:
        assert floor["exp_us"] > 0 and floor["rand_us"] > 0
    assert len(results["memory"]) == 12 * 2  # op-anchor pairs of the distributions, 2 dtypes
    for row in results["memory"]:
        assert row["ours_bytes"] > 0 and row["anchor_bytes"] > 0
    report = output.read_text()
    assert "| op | shape | dtype | device | threads | ours (µs) |" in report
    table_lines = len(rows) + len(results["floors"]) + len(results["memory"])
    assert report.count("\n| ") >= table_lines
