# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Data-parallel training on plain :mod:`torch.distributed`.

A training loop written against this module runs unchanged in one process or in
each process of a group:

- launched by ``torchrun`` (one node or several; it sets ``RANK``,
  ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous), see :func:`init_from_environment`;
- or spawned on one machine by :func:`spawn`, which needs no free port (the
  processes meet through a file).

The backend is gloo on CPU and NCCL on CUDA. Gradients are averaged by
:class:`torch.nn.parallel.DistributedDataParallel`; metrics are summed over
ranks with :func:`all_reduce_sum`, so what is logged is global. Models keep
their parameters in their :class:`torch.nn.Module`, not in Pyro's global param
store, which is per process and invisible to DDP (Pyro's own pattern for
PyTorch optimisers: ``Trace_ELBO().differentiable_loss`` as the loss). Plain
:mod:`torch.distributed` rather than PyTorch Lightning: the loop it asks for is
short, and an example should not pull in a framework.

Every process group is created with a timeout (:data:`DEFAULT_TIMEOUT` seconds
unless told otherwise): a process that waits longer than that for the others at
a collective operation fails, and :func:`stalls_are_errors` turns that failure
into a :class:`StalledWorkerError` that says what happened, instead of the job
hanging for gloo's default of 30 minutes.
"""

import contextlib
import datetime
import os
import shutil
import tempfile
from typing import Callable, Iterator, NamedTuple, Tuple

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "Context",
    "DATA_ORDER",
    "DEFAULT_TIMEOUT",
    "EVALUATION_NOISE",
    "StalledWorkerError",
    "TRAINING_NOISE",
    "all_gather_objects",
    "all_reduce_sum",
    "context",
    "derive_seed",
    "finish",
    "init_from_environment",
    "launched_by_torchrun",
    "resolve_device",
    "shard_batches",
    "spawn",
    "stalls_are_errors",
]

#: Purposes of :func:`derive_seed` (its second key), so that the streams never coincide.
DATA_ORDER, TRAINING_NOISE, EVALUATION_NOISE = range(3)
#: Seconds a process waits for the others at a collective operation before failing.
DEFAULT_TIMEOUT = 300.0


class Context(NamedTuple):
    """Where this process stands: its rank, the number of processes, its device."""

    rank: int
    world_size: int
    device: torch.device


class StalledWorkerError(RuntimeError):
    """A process waited longer than the process group's timeout for the others."""


def resolve_device(device: str = "cpu") -> torch.device:
    """
    The device of this process: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. Under a
    process group each process takes the GPU of its local rank.

    :raises ValueError: if CUDA is asked for and not available.
    """
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}.") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={str(device)!r} was asked for, but torch.cuda.is_available() is "
                "False (no GPU, or a CPU-only torch). Use --device cpu."
            )
        if dist.is_initialized():
            local_rank = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        elif device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    elif device.type != "cpu":
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got {str(device)!r}.")
    return device


def context(device: str = "cpu") -> Context:
    """The rank, world size and device of this process (0, 1 without a process group)."""
    device = resolve_device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), device)
    return Context(0, 1, device)


def _backend(device) -> str:
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def _check_timeout(timeout):
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    return datetime.timedelta(seconds=timeout)


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (or another env:// launcher)."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR"))


def init_from_environment(device: str = "cpu", timeout: float = DEFAULT_TIMEOUT) -> None:
    """
    Joins the process group that ``torchrun`` set up in the environment.

    :param float timeout: seconds to wait for the others at a collective operation.
    """
    dist.init_process_group(_backend(device), timeout=_check_timeout(timeout))


def spawn(
    fn: Callable,
    nprocs: int,
    device: str = "cpu",
    args: Tuple = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """
    Runs ``fn(*args)`` in ``nprocs`` new processes on this machine, each a member of
    one process group (gloo on CPU, NCCL on CUDA). ``fn`` must be importable (a
    module-level function).

    :param float timeout: seconds a process waits for the others at a collective
        operation before failing.
    :raises torch.multiprocessing.ProcessRaisedException: if a process raises.
    :raises torch.multiprocessing.ProcessExitedException: if a process exits with
        a non-zero status.
    """
    if not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"nprocs must be a positive integer, got {nprocs!r}.")
    _check_timeout(timeout)
    rendezvous = tempfile.mkdtemp(prefix="pyro-concrete-rendezvous-")
    try:
        torch.multiprocessing.start_processes(
            _spawned,
            args=(fn, nprocs, device, os.path.join(rendezvous, "store"), timeout, args),
            nprocs=nprocs,
            start_method="spawn",
        )
    finally:
        shutil.rmtree(rendezvous, ignore_errors=True)


def _spawned(rank, fn, world_size, device, store, timeout, args):
    os.environ["LOCAL_RANK"] = str(rank)
    dist.init_process_group(
        _backend(device),
        init_method=f"file://{store}",
        rank=rank,
        world_size=world_size,
        timeout=_check_timeout(timeout),
    )
    try:
        fn(*args)
        finish()
    finally:
        dist.destroy_process_group()


def finish() -> None:
    """
    Waits until every process has finished its work. Called before the process group
    is destroyed after a run that succeeded: a process that tears the group down while
    another is still reporting (rank 0 writes the outputs) can abort in the backend's
    threads ("terminate called without an active exception").
    """
    # NCCL needs this process's device; gloo has none to give.
    device_ids = [torch.cuda.current_device()] if dist.get_backend() == "nccl" else None
    with stalls_are_errors():
        dist.barrier(device_ids=device_ids)


@contextlib.contextmanager
def stalls_are_errors(option: str = "--timeout"):
    """
    Within this context, a collective operation that timed out raises a
    :class:`StalledWorkerError` naming this process and ``option`` (how the
    timeout is set), chained to the backend's error.
    """
    try:
        yield
    except RuntimeError as error:
        timed_out = "timed out" in str(error).lower() or "timeout" in str(error).lower()
        if not (dist.is_initialized() and timed_out) or isinstance(error, StalledWorkerError):
            raise
        raise StalledWorkerError(
            f"process {dist.get_rank()} of {dist.get_world_size()} waited longer than the "
            f"process group's timeout ({option}) for the others at a collective operation: "
            f"one of them stalled or died (see its output). If a step legitimately takes "
            f"that long, raise {option}."
        ) from error


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sums ``tensor`` over the process group, in place; the identity without one."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj):
    """The list of every rank's ``obj``, in rank order; ``[obj]`` without a process group."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return [obj]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def derive_seed(*keys: int) -> int:
    """
    A seed for each tuple of non-negative integers (e.g. ``(seed, purpose, rank)``):
    independent streams for the ranks and purposes of a run, and across runs.
    """
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def shard_batches(
    num_items: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> Iterator[Tuple[torch.Tensor, int]]:
    """
    One epoch of minibatches: a permutation of ``range(num_items)`` that depends on
    ``(seed, epoch)`` only, cut into global batches of ``batch_size``; each rank
    takes every ``world_size``-th item of each. The global batch, and so the
    optimisation, is the same for every number of processes, and resuming at an
    epoch boundary replays the same order.

    A final batch smaller than ``world_size`` is dropped (some rank would get
    nothing).

    :yields: ``(indices, global_batch_size)``.
    """
    generator = torch.Generator().manual_seed(derive_seed(seed, DATA_ORDER, epoch))
    order = torch.randperm(num_items, generator=generator)
    for batch in order.split(batch_size):
        if len(batch) >= world_size:
            yield batch[rank::world_size], len(batch)
