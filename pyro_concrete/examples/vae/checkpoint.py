# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Checkpoints of a training run: the file format, and what a run saves and
restores.

A checkpoint is one file (:func:`save_checkpoint`, :func:`load_checkpoint`),
written to ``<path>.tmp`` and renamed into place, so a run killed at any moment
leaves the previous checkpoint intact; a write that fails, or a ``SIGTERM``
under the command line, removes the temporary file, and one left by a
``SIGKILL`` is replaced by the next write. The file starts with a header holding
a format version and a SHA-256 digest of the payload, so a truncated or corrupt
file is a clear error rather than silently wrong parameters; the payload is read
with ``torch.load(weights_only=True)``, which executes nothing from the file.

A run's checkpoint (:func:`save_run`) holds the model's and optimiser's states,
the progress (epoch, step, per-epoch history, elapsed time), the configuration
and every process's random-number generator states. :func:`read_run` checks
that it belongs to the run being resumed and :func:`restore_run` that its
contents fit the model; anything wrong is a one-line ``ValueError`` that names
the file and what is wrong.
"""

import hashlib
import io
import os
import pickle
import random
import re
from typing import Any, Dict

import numpy as np
import torch

from pyro_concrete.examples.vae import distributed

__all__ = [
    "CHECKPOINT_VERSION",
    "PROGRESS",
    "get_rng_state",
    "load_checkpoint",
    "read_run",
    "restore_run",
    "save_checkpoint",
    "save_run",
    "set_rng_state",
]

#: Version of the checkpoint file format written by :func:`save_checkpoint`.
CHECKPOINT_VERSION = 1
_MAGIC = b"pyro-concrete checkpoint"
#: What :func:`save_run` writes, besides the model, optimiser and RNG states.
PROGRESS = ("epoch", "step", "history", "elapsed")
_RUN_KEYS = ("config", "world_size", "rng", "model", "optimizer") + PROGRESS
# What the RNG setters raise for a state of the wrong kind, shape or values.
_RNG_ERRORS = (AttributeError, IndexError, KeyError, RuntimeError, TypeError, ValueError)


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    """
    Writes ``state`` (tensors, containers and Python scalars) to ``path``
    atomically: to ``<path>.tmp``, flushed to disk, then renamed over ``path``.
    The temporary file is removed if anything fails, ``KeyboardInterrupt``
    included.
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    header = b"%s %d %s\n" % (_MAGIC, CHECKPOINT_VERSION, digest)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.tmp"
    try:
        with open(temporary, "wb") as file:
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
    Reads a checkpoint written by :func:`save_checkpoint`, with
    ``torch.load(weights_only=True)``.

    :raises FileNotFoundError: if there is no file at ``path``.
    :raises ValueError: naming ``path``, if the file is not such a checkpoint, is
        of another format version, is truncated or corrupt, or holds objects that
        a weights-only load refuses.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"there is no checkpoint file at {path!r}.")
    with open(path, "rb") as file:
        header = file.readline(200)
        payload = file.read()
    fields = header.rstrip(b"\n").rsplit(b" ", 2)
    if len(fields) != 3 or fields[0] != _MAGIC or not header.endswith(b"\n"):
        raise ValueError(f"checkpoint {path!r} is not a pyro-concrete checkpoint.")
    _, version, digest = fields
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
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ValueError(
            f"checkpoint {path!r} holds data that a weights-only load refuses "
            f"({_unpickling_reason(error)}), so it was not written by this example; "
            "resume from another checkpoint or start afresh."
        ) from None


def _unpickling_reason(error):
    match = re.search(r"WeightsUnpickler error:\s*([^\n]+?)(?:\. |\n|$)", str(error))
    return match.group(1) if match else _one_line(error)


def _one_line(error, limit=200):
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _check_rng_state(path, state, rank):
    """Raises a ``ValueError`` if :func:`set_rng_state` would fail on ``state``."""
    current = get_rng_state()
    try:
        set_rng_state(state)
    except _RNG_ERRORS as error:
        raise ValueError(
            f"checkpoint {path!r} holds an unusable random-number generator state for "
            f"process {rank} ({type(error).__name__}: {_one_line(error)})."
        ) from None
    finally:
        set_rng_state(current)


def save_run(path: str, config, ctx, vae, optimizer, progress: Dict[str, Any]) -> None:
    """
    Saves a run's checkpoint to ``path`` (call it in every process: the RNG states
    are gathered; rank 0 writes).

    :param config: the run's :class:`~pyro_concrete.examples.vae.train.Config`.
    :param ctx: this process's :class:`~pyro_concrete.examples.vae.distributed.Context`.
    :param dict progress: the values of :data:`PROGRESS`.
    """
    rng_states = distributed.all_gather_objects(get_rng_state())
    if ctx.rank == 0:
        state = {name: progress[name] for name in PROGRESS}
        state.update(model=vae.state_dict(), optimizer=optimizer.state_dict())
        state.update(config=config.as_dict(), world_size=ctx.world_size, rng=rng_states)
        save_checkpoint(path, state)


def read_run(config, world_size: int) -> Dict[str, Any]:
    """
    The checkpoint ``config.resume``, checked to belong to this run (the same
    settings but those that
    :meth:`~pyro_concrete.examples.vae.train.Config.differences` ignores, the
    same number of processes, an epoch no later than ``config.epochs``) and to
    hold progress and RNG states of the right kinds.

    :raises ValueError: naming the file and what is wrong.
    """
    path = config.resume
    state = load_checkpoint(path, map_location="cpu")
    missing = [key for key in _RUN_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ValueError(
            f"checkpoint {path!r} is not a checkpoint of this VAE example: it lacks "
            f"{', '.join(map(repr, missing))}."
        )
    if not isinstance(state["config"], dict):
        raise ValueError(f"checkpoint {path!r} holds a config of {_describe(state['config'])}.")
    changed = config.differences(state["config"])
    if state["world_size"] != world_size:
        changed.append(f"processes={state['world_size']!r} (now {world_size})")
    if changed:
        raise ValueError(
            f"checkpoint {path!r} belongs to a different run: {', '.join(changed)}. "
            "Resume with the settings it was written with."
        )
    _check_progress(path, state)
    if state["epoch"] > config.epochs:
        raise ValueError(
            f"checkpoint {path!r} is at epoch {state['epoch']}, past --epochs {config.epochs}: "
            f"resume with --epochs of at least {state['epoch']}."
        )
    for rank, rng_state in enumerate(state["rng"]):
        _check_rng_state(path, rng_state, rank)
    return state


def _check_progress(path, state):
    def natural(value):
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    history = state["history"]
    problems = []
    if not (natural(state["epoch"]) and natural(state["step"])):
        problems.append(f"epoch {state['epoch']!r} and step {state['step']!r} (not counts)")
    if not (isinstance(state["elapsed"], (int, float)) and state["elapsed"] >= 0):
        problems.append(f"elapsed time {state['elapsed']!r}")
    rows_ok = isinstance(history, list) and all(
        isinstance(row, dict) and row.get("epoch") == index + 1 for index, row in enumerate(history)
    )
    if not rows_ok or len(history) != state["epoch"]:
        problems.append("a history that is not one row per epoch")
    if not (isinstance(state["rng"], list) and len(state["rng"]) == state["world_size"]):
        problems.append("random-number generator states that are not one per process")
    if problems:
        raise ValueError(f"checkpoint {path!r} holds {'; '.join(problems)}.")


def restore_run(state: Dict[str, Any], path: str, vae, optimizer, rank: int) -> Dict[str, Any]:
    """
    Loads what :func:`read_run` returned into ``vae`` and ``optimizer`` and this
    process's RNGs, checking first that every tensor fits.

    :returns: the progress (:data:`PROGRESS`) to continue from.
    :raises ValueError: naming ``path``, if the model's or the optimiser's state
        does not fit the model.
    """
    _check_tensors(path, "model parameters", state["model"], vae.state_dict())
    vae.load_state_dict(state["model"])
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"checkpoint {path!r} holds an optimiser state that does not fit the model "
            f"({_one_line(error)})."
        ) from None
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for name, value in optimizer.state.get(parameter, {}).items():
                # Adam's step counter is a scalar; every other state has the parameter's shape.
                shape = torch.Size() if name == "step" else parameter.shape
                if not isinstance(value, torch.Tensor) or value.shape != shape:
                    raise ValueError(
                        f"checkpoint {path!r} holds an optimiser state {name!r} of "
                        f"{_describe(value)}, expected shape {tuple(shape)}."
                    )
    set_rng_state(state["rng"][rank])
    return {name: state[name] for name in PROGRESS}


def _check_tensors(path, what, saved, expected):
    if not isinstance(saved, dict):
        raise ValueError(f"checkpoint {path!r} holds {what} of type {type(saved).__name__}.")
    missing = sorted(expected.keys() - saved.keys())
    unexpected = sorted(saved.keys() - expected.keys())
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {path!r} holds {what} that do not fit this model: "
            f"missing {missing or 'none'}, unexpected {unexpected or 'none'}."
        )
    for name, value in expected.items():
        if not isinstance(saved[name], torch.Tensor) or saved[name].shape != value.shape:
            raise ValueError(
                f"checkpoint {path!r} holds {what} that do not fit this model: {name!r} has "
                f"{_describe(saved[name])}, expected shape {tuple(value.shape)}."
            )


def _describe(value):
    if isinstance(value, torch.Tensor):
        return f"shape {tuple(value.shape)}"
    return f"type {type(value).__name__}"
