# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Data-parallel training and checkpoints for the examples, on plain
:mod:`torch.distributed`.

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

Checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`) are single files
written to a temporary name and renamed into place, so a run killed at any
moment leaves the previous checkpoint intact. They start with a header holding a
format version and a SHA-256 digest of the payload, so a truncated or corrupt
file is a clear error rather than silently wrong parameters.
"""

import hashlib
import io
import os
import random
import shutil
import tempfile
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Tuple

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "CHECKPOINT_VERSION",
    "Context",
    "DATA_ORDER",
    "EVALUATION_NOISE",
    "TRAINING_NOISE",
    "all_gather_objects",
    "all_reduce_sum",
    "context",
    "derive_seed",
    "get_rng_state",
    "init_from_environment",
    "launched_by_torchrun",
    "load_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "set_rng_state",
    "shard_batches",
    "spawn",
]

#: Version of the checkpoint file format written by :func:`save_checkpoint`.
CHECKPOINT_VERSION = 1
_MAGIC = b"pyro-concrete checkpoint"
#: Purposes of :func:`derive_seed` (its second key), so that the streams never coincide.
DATA_ORDER, TRAINING_NOISE, EVALUATION_NOISE = range(3)


class Context(NamedTuple):
    """Where this process stands: its rank, the number of processes, its device."""

    rank: int
    world_size: int
    device: torch.device


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


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (or another env:// launcher)."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR"))


def init_from_environment(device: str = "cpu") -> None:
    """Joins the process group that ``torchrun`` set up in the environment."""
    dist.init_process_group(_backend(device))


def spawn(fn: Callable, nprocs: int, device: str = "cpu", args: Tuple = ()) -> None:
    """
    Runs ``fn(*args)`` in ``nprocs`` new processes on this machine, each a member of
    one process group (gloo on CPU, NCCL on CUDA). ``fn`` must be importable (a
    module-level function).

    :raises torch.multiprocessing.ProcessRaisedException: if a process fails.
    """
    if not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"nprocs must be a positive integer, got {nprocs!r}.")
    rendezvous = tempfile.mkdtemp(prefix="pyro-concrete-rendezvous-")
    try:
        torch.multiprocessing.start_processes(
            _spawned,
            args=(fn, nprocs, device, os.path.join(rendezvous, "store"), args),
            nprocs=nprocs,
            start_method="spawn",
        )
    finally:
        shutil.rmtree(rendezvous, ignore_errors=True)


def _spawned(rank, fn, world_size, device, store, args):
    os.environ["LOCAL_RANK"] = str(rank)
    dist.init_process_group(
        _backend(device), init_method=f"file://{store}", rank=rank, world_size=world_size
    )
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sums ``tensor`` over the process group, in place; the identity without one."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj: Any) -> List[Any]:
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


def get_rng_state() -> Dict[str, Any]:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) generators."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = torch.from_numpy(numpy_state["state"]["key"].astype(np.int64))
    return {
        "python": random.getstate(),
        "numpy": numpy_state,
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restores what :func:`get_rng_state` returned (CUDA states where there is CUDA)."""
    random.setstate(state["python"])
    numpy_state = dict(state["numpy"])
    numpy_state["state"] = dict(numpy_state["state"])
    numpy_state["state"]["key"] = numpy_state["state"]["key"].numpy().astype(np.uint32)
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    """
    Writes ``state`` (tensors, containers and Python scalars) to ``path``
    atomically: to a temporary file in the same directory, flushed to disk, then
    renamed over ``path``.
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    header = b"%s %d %s\n" % (
        _MAGIC,
        CHECKPOINT_VERSION,
        hashlib.sha256(payload).hexdigest().encode(),
    )
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(header)
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def load_checkpoint(path: str, map_location=None) -> Dict[str, Any]:
    """
    Reads a checkpoint written by :func:`save_checkpoint`.

    :raises FileNotFoundError: if there is no file at ``path``.
    :raises ValueError: naming ``path``, if the file is not such a checkpoint, is
        of another format version, or is truncated or corrupt.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"there is no checkpoint file at {path!r}.")
    with open(path, "rb") as file:
        header = file.readline(200)
        payload = file.read()
    fields = header.rstrip(b"\n").rsplit(b" ", 2)
    if len(fields) != 3 or fields[0] != _MAGIC or not header.endswith(b"\n"):
        raise ValueError(f"checkpoint {path!r} is not a pyro-concrete checkpoint.")
    magic, version, digest = fields
    if version != str(CHECKPOINT_VERSION).encode():
        raise ValueError(
            f"checkpoint {path!r} has format version {version.decode(errors='replace')}; "
            f"this version of pyro-concrete reads version {CHECKPOINT_VERSION}."
        )
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise ValueError(
            f"checkpoint {path!r} is corrupt or truncated (its checksum does not match); "
            "resume from an earlier checkpoint or start afresh."
        )
    return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
