# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Interleaved timing and peak-memory measurement of callables.

Functions compared with each other are timed in the same process, in rounds:
each round times every function once, in an order that rotates from round to
round (A B C, B C A, C A B, ...), so that drifts of the machine's speed (other
processes, frequency scaling, caches) reach all of them alike. Each measurement
repeats a function enough times to last at least ``min_time`` seconds; the
result is the median over rounds of the time per call.
"""

import contextlib
import gc
import statistics
import time
from typing import Callable, Dict, List, NamedTuple

import torch


class Timing(NamedTuple):
    """Seconds per call: the median and quartiles over rounds, and calls per round."""

    median: float
    lower_quartile: float
    upper_quartile: float
    number: int


@contextlib.contextmanager
def _gc_paused():
    """No garbage collection: its pauses and frees would land in a measurement."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(function, number, device):
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(number):
        function()
    _synchronize(device)
    return time.perf_counter() - start


def _calls_per_round(function, min_time, device):
    """The least power of two of calls that lasts at least ``min_time`` seconds."""
    number = 1
    while _seconds(function, number, device) < min_time:
        number *= 2
    return number


def interleaved(
    functions: Dict[str, Callable[[], object]],
    *,
    rounds: int,
    min_time: float,
    warmup: int = 3,
    device="cpu",
) -> Dict[str, Timing]:
    """
    Times ``functions`` against each other.

    :param dict functions: the functions to compare, by name; each takes no
        argument, and what it returns is discarded.
    :param int rounds: number of rounds, each of which times every function once.
    :param float min_time: least duration of one measurement, in seconds.
    :param int warmup: untimed calls of each function before timing.
    :param device: the device the functions run on; CUDA is synchronised
        before and after each measurement.
    :returns: a :class:`Timing` of each function, by name.
    """
    names = list(functions)
    for name in names:
        for _ in range(warmup):
            functions[name]()
    numbers = {name: _calls_per_round(functions[name], min_time, device) for name in names}
    samples: Dict[str, List[float]] = {name: [] for name in names}
    with _gc_paused():
        for index in range(rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                seconds = _seconds(functions[name], numbers[name], device)
                samples[name].append(seconds / numbers[name])
    timings = {}
    for name, values in samples.items():
        if len(values) > 1:
            lower, _, upper = statistics.quantiles(values, n=4)
        else:
            lower = upper = values[0]
        timings[name] = Timing(statistics.median(values), lower, upper, numbers[name])
    return timings


def _peak(node):
    """Peak of the running sum of the CPU allocations (and frees) under ``node``."""
    # The profiler's event tree is the one record of every allocation and free
    # with its size; its aggregated tables net allocations out within each op.
    from torch._C._profiler import _EventType

    allocations = []
    stack = [node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
            allocations.append((node.start_time_ns, node.extra_fields.alloc_size))
    held = peak = 0
    for _, size in sorted(allocations):
        held += size
        peak = max(peak, held)
    return peak


def peak_memory(functions: Dict[str, Callable[[], object]], device="cpu") -> Dict[str, int]:
    """
    The most bytes held at once by the tensors that each function allocates,
    counting from zero at its call (what already existed is not counted).

    On CUDA this is ``torch.cuda.max_memory_allocated`` above the memory
    allocated before the call. On the CPU, each call runs in a
    ``torch.profiler.record_function`` scope of a profile with
    ``profile_memory=True``, and the peak of the running sum of the allocations
    and frees recorded in that scope is returned; this counts the tensors the
    call creates, not the allocator's caching or the Python objects.

    :param dict functions: the functions, by name; what each returns is discarded.
    :returns: the peak bytes of each function, by name.
    """
    if torch.device(device).type == "cuda":
        peaks = {}
        with _gc_paused():
            for name, function in functions.items():
                torch.cuda.synchronize(device)
                before = torch.cuda.memory_allocated(device)
                torch.cuda.reset_peak_memory_stats(device)
                function()
                torch.cuda.synchronize(device)
                peaks[name] = torch.cuda.max_memory_allocated(device) - before
        return peaks
    activities = [torch.profiler.ProfilerActivity.CPU]
    recording = torch.profiler.profile(activities=activities, profile_memory=True)
    with _gc_paused(), recording as profile:
        for name, function in functions.items():
            with torch.profiler.record_function(name):
                function()
    scopes = profile.profiler.kineto_results.experimental_event_tree()
    return {scope.name: _peak(scope) for scope in scopes if scope.name in functions}
