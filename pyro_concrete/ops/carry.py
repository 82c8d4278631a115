# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
What a sample carries, and how it is verified before it is used.

**Why.** A Concrete sample :math:`x = \mathrm{softmax}(s)` has coordinates that
underflow to exact zeros at low temperature (in float32, for K = 100, already at
:math:`\tau \approx 0.1`), where :math:`\log x` -- which every density of the
family needs -- is lost. So a sample carries a *hint*: the coordinates it was
computed from.

**The contract.**

- *What is carried*: the attribute ``_pyro_concrete_hint`` of the returned tensor,
  a tuple ``(kind, tensor, traced)`` of a string, a tensor (or ``None``) and a
  bool: built-ins and a tensor only, so ``torch.save``/``torch.load(weights_only=
  True)``, pickling and ``copy.deepcopy`` keep it. Operations that make a new
  tensor (``detach``, ``clone``, ``to``, indexing, arithmetic) drop it.
- *Who attaches*: :meth:`rsample` of the relaxed distributions and the
  additive-logistic transforms, with :func:`attach`, the moment they compute the
  value from the coordinates with :func:`value_from_log`,
  :func:`value_from_logit` or :func:`value_from_exact`. Straight-through samples
  carry a marker only (kind ``"straight_through"``, no tensor).
- *Who reads*: ``log_prob`` of the relaxed distributions and the inverse and
  Jacobian of the transforms, through :func:`log_coordinates`,
  :func:`logit_coordinate` and :func:`exact_coordinates` only.
- *Verification*: a hint is a hint. It is used for an event (a row of the
  simplex, an element of the unit interval) only where mapping it back with the
  same function that made the value reproduces the value bit for bit; elsewhere
  the fallback below is used. Verification is elementwise tensor arithmetic with
  no host synchronisation and no Python decision on tensor data, so it is the
  same computation eagerly and under ``torch.jit.trace``, ``torch.compile`` and
  ``torch.func``. ``traced`` records whether ``torch.jit.trace`` was tracing when
  the hint was attached; a hint is read only in the same mode, so a trace uses
  the hints of samples drawn inside it (Pyro's ``JitTrace_ELBO``: the guide's
  sample scored by the model) and never bakes an input's hint into its graph.
- *What verification guarantees*: ``log_prob(x)`` is the density at a point that
  rounds to ``x`` -- the carried point where it verifies, the fallback's point
  elsewhere. No write to the value (in place, through ``.data``, a NumPy or
  DLPack alias, shared memory, a collective), no pickling, no trace that bakes
  an example's hint, can make it use coordinates of another value: a stale hint
  fails verification wherever the value changed.
- *The fallback* is the logarithm of the value itself, with exact zeros taken to
  be the smallest positive (subnormal) number of the dtype (:func:`floored_log`).
  Where no coordinate underflowed it agrees with the hint to rounding (the
  coordinates differ by at most one unit in the last place of the value); where
  one did, the density is evaluated at a point that rounds to the value but is
  not the one sampled, and can differ from it by many nats at low temperature.
- *Cost*: verification is one reconstruction (``exp``, ``sigmoid`` or a cast) and
  one comparison. On the CPU, outside tracers, the coordinate functions also
  check whether every event verified (a free read there) and then skip the
  fallback, and report it so that ``log_prob`` skips the support check, which the
  verified value satisfies by construction. Traced, compiled, ``torch.func`` and
  CUDA code always take the general branch.
- *Gradients* flow to the hint where it is used (it is in the sample's graph),
  except when the value requires a gradient that the hint does not carry (a
  value made to require grad after sampling): then the gradient is that of the
  fallback, with respect to the value.
- The straight-through marker never changes a value. It is read to raise a clear
  error when a relaxed density is asked to score a straight-through (vertex)
  sample, and by ``score_parts``: a sample of the family is reparameterised also
  when drawn without gradient (Pyro's rule for every distribution with
  ``rsample``), while a value with neither marker nor gradient -- the support
  that ``TraceEnum_ELBO`` enumerates -- is scored as a discrete site.
"""

import math
from typing import Optional, Tuple

import torch

from pyro_concrete.ops.dtype import to_caller_dtype
from pyro_concrete.ops.special import floored_log

__all__ = [
    "EXACT",
    "LOG",
    "LOGIT",
    "STRAIGHT_THROUGH",
    "attach",
    "exact_coordinates",
    "is_straight_through",
    "log_coordinates",
    "logit_coordinate",
    "value_from_exact",
    "value_from_log",
    "value_from_logit",
]

_ATTRIBUTE = "_pyro_concrete_hint"

#: The hint holds log coordinates ``t`` of a point of the simplex, ``x = exp(t)``.
LOG = "log"
#: The hint holds the logit ``t`` of a point of the unit interval, ``x = sigmoid(t)``.
LOGIT = "logit"
#: The hint holds the value ``t`` in its compute dtype, ``x = t`` rounded (half precision).
EXACT = "exact"
#: A marker without a tensor: the value is a straight-through (vertex) sample.
STRAIGHT_THROUGH = "straight_through"


def value_from_log(log_value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The point ``exp(log_value)`` of the simplex in ``dtype``."""
    return to_caller_dtype(log_value.exp(), dtype)


def value_from_logit(logit: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The point ``sigmoid(logit)`` of the unit interval in ``dtype``."""
    return to_caller_dtype(logit.sigmoid(), dtype)


def value_from_exact(value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``value`` rounded to ``dtype``."""
    return to_caller_dtype(value, dtype)


def attach(value: torch.Tensor, kind: str, hint: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Records ``hint`` on ``value`` as its coordinates of the given kind; returns ``value``."""
    setattr(value, _ATTRIBUTE, (kind, hint, torch.jit.is_tracing()))
    return value


def _carried(value) -> Optional[tuple]:
    """The ``(kind, tensor)`` carried by ``value``, if it was attached in this tracing mode."""
    carried = getattr(value, _ATTRIBUTE, None)
    if not (isinstance(carried, tuple) and len(carried) == 3):
        return None
    kind, tensor, traced = carried
    return (kind, tensor) if traced == torch.jit.is_tracing() else None


def _hint(value: torch.Tensor, kind: str) -> Optional[torch.Tensor]:
    """The carried tensor of the given kind, if its shape and device fit the value."""
    carried = _carried(value)
    if carried is None or carried[0] != kind:
        return None
    tensor = carried[1]
    if not isinstance(tensor, torch.Tensor) or tensor.shape != value.shape:
        return None
    if tensor.device != value.device:
        return None
    return tensor


def is_straight_through(value) -> bool:
    """Whether ``value`` carries the straight-through marker."""
    carried = _carried(value)
    return carried is not None and carried[0] == STRAIGHT_THROUGH


def _row_reproduces(reconstructed, value):
    """Whether each row of ``reconstructed`` equals ``value`` bit for bit (NaN never does)."""
    return ~(reconstructed != value).any(-1, keepdim=True)


def _may_read_data(value: torch.Tensor) -> bool:
    """Python may branch on ``value``'s data: on the CPU (no device sync), outside tracers."""
    return (
        value.device.type == "cpu"
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
        and not torch._C._are_functorch_transforms_active()
    )


def _hint_where_verified(verified, value, hint, fallback, dtype) -> Tuple[torch.Tensor, bool]:
    """
    The hint (in ``dtype``) where ``verified``, else ``fallback()``; and whether every
    event used the hint (known on the CPU outside tracers only).
    """
    hint = hint.to(dtype)
    if value.requires_grad and not hint.requires_grad:
        # The value was made to require grad after sampling: its gradient is the
        # fallback's, at the hint's value.
        fallback = fallback()
        return torch.where(verified, fallback + (hint - fallback).detach(), fallback), False
    if _may_read_data(value) and bool(verified.all()):
        return hint, True
    return torch.where(verified, hint, fallback()), False


def log_coordinates(value: torch.Tensor, dtype: torch.dtype) -> Tuple[torch.Tensor, bool]:
    """
    ``log(value)`` for points of the simplex, in ``dtype``: each row's carried log
    coordinates where they reproduce the row exactly, else :func:`floored_log`.
    Also returns whether every row used its hint (and so lies in the support).
    """

    def fallback():
        return floored_log(value.to(dtype))

    hint = _hint(value, LOG)
    if hint is None:
        return fallback(), False
    verified = _row_reproduces(value_from_log(hint, value.dtype), value)
    return _hint_where_verified(verified, value, hint, fallback, dtype)


def logit_coordinate(value: torch.Tensor, dtype: torch.dtype) -> Tuple[torch.Tensor, bool]:
    """
    ``logit(value)`` for points of the unit interval, in ``dtype``: the carried
    logit where it reproduces the value exactly, else ``log(x) - log(1 - x)`` with
    :func:`floored_log` (``1 - x`` is exact for ``x >= 1/2``). Also returns whether
    every element used its hint.
    """

    def fallback():
        promoted = value.to(dtype)
        return floored_log(promoted) - floored_log(1 - promoted)

    hint = _hint(value, LOGIT)
    if hint is None:
        return fallback(), False
    verified = value_from_logit(hint, value.dtype) == value
    return _hint_where_verified(verified, value, hint, fallback, dtype)


def exact_coordinates(value: torch.Tensor, dtype: torch.dtype) -> Tuple[torch.Tensor, bool]:
    """
    Points of the log-simplex in ``dtype``: each row's carried full-precision value
    where it rounds to the row exactly (half-precision samples), else the value,
    with ``-inf`` entries (logarithms of zeros) taken to be the logarithm of the
    smallest positive number of ``dtype``, as :func:`floored_log` does. Also returns
    whether every row used its hint.
    """

    def fallback():
        finfo = torch.finfo(dtype)
        log_smallest = math.log(finfo.tiny * finfo.eps)
        return value.to(dtype).nan_to_num(nan=math.nan, posinf=math.inf, neginf=log_smallest)

    hint = _hint(value, EXACT)
    if hint is None:
        return fallback(), False
    verified = _row_reproduces(value_from_exact(hint, value.dtype), value)
    return _hint_where_verified(verified, value, hint, fallback, dtype)
