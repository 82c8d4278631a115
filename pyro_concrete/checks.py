# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Every argument check of the package, one outcome per kind of bad input: a value
of the wrong type (a ``bool`` where a number is expected, a list where a tensor
is) is a ``TypeError``; a value of the right type outside its domain (a negative
temperature, an unknown estimator, NaN logits) is a ``ValueError``. Each message
names the argument, what was given and what is expected.
"""

import math
import sys
import warnings
from numbers import Integral, Real
from typing import Sequence, Tuple, Union

import torch

from pyro_concrete.ops.dtype import compute_dtype
from pyro_concrete.ops.hard_sample import ESTIMATORS

__all__ = [
    "broadcast_temperature",
    "check_choice",
    "check_estimator",
    "check_integer",
    "check_nonnegative_number",
    "check_positive_number",
    "check_probs_or_logits",
    "check_value_tensor",
    "is_real_number",
    "validate_parameters",
]


def is_real_number(value) -> bool:
    """A Python (or NumPy) real number; ``bool`` is not a number here."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _check_number(name, value, positive: bool) -> float:
    if not is_real_number(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}.")
    value = float(value)
    low_ok = value > 0 if positive else value >= 0
    if not (low_ok and math.isfinite(value)):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a {kind} finite number, got {value!r}.")
    return value


def check_positive_number(name: str, value) -> float:
    """``value`` as a float, if it is a positive finite real number."""
    return _check_number(name, value, positive=True)


def check_nonnegative_number(name: str, value) -> float:
    """``value`` as a float, if it is a non-negative finite real number."""
    return _check_number(name, value, positive=False)


def check_integer(name: str, value, minimum: int) -> int:
    """``value``, if it is an integer (not a ``bool``) of at least ``minimum``."""
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}.")
    return int(value)


def check_choice(name: str, value, choices: Sequence[str]):
    """``value``, if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return value


def check_estimator(estimator: str, rao_samples: int, temperature=None) -> None:
    """
    Checks a straight-through estimator's name and ``rao_samples``. ReinMax is
    defined for temperatures of at least 1 and uses :math:`\\max(\\tau, 1)`, and its
    gradient does not reach the temperature: a Python-number temperature below 1
    gives a warning, and a temperature tensor that requires grad is a ``ValueError``
    (it would never be learnt).
    """
    check_choice("estimator", estimator, ESTIMATORS)
    check_integer("rao_samples", rao_samples, minimum=1)
    if estimator != "reinmax":
        return
    if isinstance(temperature, torch.Tensor) and temperature.requires_grad:
        raise ValueError(
            "estimator='reinmax' (the straight-through distributions' default) passes no "
            "gradient to the temperature, which requires grad here and would never be "
            "learnt. To learn it, pass estimator='straight_through' or 'gumbel_rao'; else "
            "detach it."
        )
    # torch.compile cannot trace a warning: under it, only eager runs warn.
    if is_real_number(temperature) and temperature < 1 and not torch.compiler.is_compiling():
        warnings.warn(
            "estimator='reinmax' (the straight-through distributions' default) uses the "
            "temperature max(temperature, 1) = 1 in its gradient (Liu et al., 2023), so a "
            "temperature below 1 has no effect. For a temperature below 1, or a schedule "
            "that goes below 1, pass estimator='straight_through' or 'gumbel_rao'.",
            UserWarning,
            stacklevel=_stacklevel_outside_libraries(),
        )


def _stacklevel_outside_libraries() -> int:
    """
    The ``stacklevel`` (for a warning issued by this function's caller) of the
    first frame outside pyro_concrete, Pyro and torch: the user's line, past
    Pyro's metaclass and torch's ``Module.__setattr__``.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in (
        "pyro_concrete",
        "pyro",
        "torch",
    ):
        frame, level = frame.f_back, level + 1
    return level


def check_value_tensor(value, method: str) -> None:
    """``value`` given to ``method`` (``"Dist.log_prob"``) must be a tensor."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"{method} expects a torch.Tensor value, got {type(value).__name__} {value!r}; "
            "wrap it with torch.as_tensor."
        )


def check_probs_or_logits(probs, logits, event_dim: int) -> Tuple[torch.Tensor, bool]:
    """
    Structural checks on ``probs``/``logits`` (always run: they cost nothing).
    Returns the given tensor and whether it is ``logits``.
    """
    if (probs is None) == (logits is None):
        given = "both" if probs is not None else "neither"
        raise ValueError(f"Exactly one of probs or logits must be specified, got {given}.")
    name, param = ("logits", logits) if logits is not None else ("probs", probs)
    if is_real_number(param):
        param = torch.tensor(float(param), dtype=torch.get_default_dtype())
    if not isinstance(param, torch.Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(param).__name__}.")
    if not param.is_floating_point():
        raise TypeError(f"{name} must have a floating point dtype, got {param.dtype}.")
    if param.dim() < event_dim:
        raise ValueError(
            f"{name} must have at least one dimension, the category dimension "
            f"(shape (..., K)); got a tensor of shape {tuple(param.shape)}."
        )
    if event_dim and param.size(-1) == 0:
        raise ValueError(f"{name} must have at least one category, got shape {tuple(param.shape)}.")
    return param, logits is not None


def broadcast_temperature(
    temperature, param: torch.Tensor, event_dim: int
) -> Tuple[Union[torch.Tensor, float], torch.Tensor, torch.Size]:
    """
    Checks the type and shape of ``temperature`` and broadcasts it with the batch
    shape of ``param``. Returns the temperature (a float if it was a Python
    number, else a tensor of the batch shape in float32 or wider, never half
    precision), the parameter expanded to the batch shape, and the batch shape.
    """
    param_batch_shape = param.shape[: param.dim() - event_dim]
    event_shape = param.shape[param.dim() - event_dim :]
    if is_real_number(temperature):
        return check_positive_number("temperature", temperature), param, param_batch_shape
    if not isinstance(temperature, torch.Tensor):
        raise TypeError(
            "temperature must be a positive Python number or a Tensor, got "
            f"{type(temperature).__name__}."
        )
    if temperature.dtype == torch.bool or temperature.is_complex():
        raise TypeError(f"temperature must be a real tensor, got dtype {temperature.dtype}.")
    try:
        # torch.broadcast_shapes costs more than the rest of the constructor.
        batch_shape = (
            param_batch_shape
            if temperature.dim() == 0
            else torch.broadcast_shapes(param_batch_shape, temperature.shape)
        )
    except RuntimeError:
        raise ValueError(
            f"temperature of shape {tuple(temperature.shape)} is not broadcastable with the "
            f"batch shape {tuple(param_batch_shape)} of the probs/logits of shape "
            f"{tuple(param.shape)}. "
            "The temperature broadcasts with the batch shape, not with the category "
            "dimension: for logits of shape (B, K) a per-row temperature has shape (B,)."
        ) from None
    # torch's promotion (a 0-dim tensor does not widen the parameters), spelt with
    # promote_types, which torch.compile can trace.
    if temperature.is_floating_point() and temperature.dim():
        dtype = torch.promote_types(param.dtype, temperature.dtype)
    else:
        dtype = param.dtype
    temperature_dtype = torch.promote_types(compute_dtype(dtype), temperature.dtype)
    param = param.to(dtype).expand(batch_shape + event_shape)
    temperature = temperature.to(device=param.device, dtype=temperature_dtype)
    return temperature.expand(batch_shape), param, batch_shape


def _number(tensor) -> float:
    return tensor.item() if isinstance(tensor, torch.Tensor) else float(tensor)


def _temperature_checks(temperature):
    if not isinstance(temperature, torch.Tensor) or not temperature.numel():
        return []
    temperature = temperature.detach()
    bad = ~((temperature > 0) & torch.isfinite(temperature))
    return [
        (
            bad.any(),
            lambda: (
                "temperature must be positive and finite, got values "
                f"{temperature[bad].flatten()[:5].tolist()}."
            ),
        )
    ]


def _overflow_check(logits, scale, low_temperature):
    # Gumbel and logistic noise stay below 40 in magnitude in every dtype.
    limit = torch.finfo(compute_dtype(logits.dtype)).max / 4

    def message():
        smallest = (_number(scale) + 40) / limit
        return (
            f"temperature {_number(low_temperature):g} is too small for logits of magnitude "
            f"{_number(scale):g} in {logits.dtype}: (logits + noise) / temperature overflows. "
            f"Use float64, or a temperature of at least {smallest:g}."
        )

    return (scale + 40) / low_temperature > limit, message


def _logits_checks(logits, low_temperature, binary, allow_degenerate):
    low, high = torch.aminmax(logits)
    if torch._is_all_true(low.isfinite() & high.isfinite()):
        # The common case, from one reduction: no NaN, no infinity.
        return [_overflow_check(logits, torch.maximum(low.abs(), high.abs()), low_temperature)]
    plus_inf, minus_inf = logits == math.inf, logits == -math.inf
    scale = logits.masked_fill(plus_inf | minus_inf, 0.0).abs().amax()
    checks = [(logits.isnan().any(), lambda: "logits must not be NaN.")]
    if not binary:
        checks.append(
            (plus_inf.any(), lambda: "logits must not be +inf (-inf rules a category out).")
        )
    if not allow_degenerate:
        message = (
            "logits must be finite for a relaxed distribution: the relaxed density of a "
            "category of probability 0 (or 1) is degenerate. Drop the category, or use a "
            "straight-through distribution."
        )
        checks.append(((plus_inf | minus_inf).any(), lambda: message))
    elif not binary:
        checks.append(
            (
                minus_inf.all(-1).any(),
                lambda: "logits must have a finite entry in every row, got a row of -inf.",
            )
        )
    return checks + [_overflow_check(logits, scale, low_temperature)]


def _probs_checks(probs, binary, allow_degenerate):
    low, high = torch.aminmax(probs)

    def values():
        return f"got values in [{low.item():g}, {high.item():g}]"

    bounds = "lie in [0, 1]" if binary else "be non-negative"
    # One reduction (and a row sum): NaN makes low and high NaN, which fails these.
    checks = [
        (
            ~(low.isfinite() & high.isfinite()),
            lambda: "probs must be finite, got NaN or infinite entries.",
        ),
        (
            (low < 0) | (high > 1) if binary else low < 0,
            lambda: f"probs must {bounds}, {values()}.",
        ),
    ]
    if not allow_degenerate:
        open_bounds = "lie strictly inside (0, 1)" if binary else "be positive"
        checks.append(
            (
                (low == 0) | (high == 1) if binary else low == 0,
                lambda: (
                    f"probs must {open_bounds} for a relaxed distribution, {values()}: the "
                    "relaxed density of a category of probability 0 is degenerate. Drop the "
                    "category, or use a straight-through distribution."
                ),
            )
        )
    if not binary:
        checks.append(
            (
                probs.sum(-1).amin() <= 0,
                lambda: "probs must have a positive entry in every row, got an all-zero row.",
            )
        )
    return checks


def validate_parameters(
    temperature, param: torch.Tensor, is_logits: bool, *, binary: bool, allow_degenerate: bool
) -> None:
    """
    Value checks on the parameters, run when validation is enabled: one fused test
    and one transfer when they pass (also under :func:`torch.func.vmap`, as torch's
    own validation); the first failed check's message when one fails.

    :param bool binary: ``param`` holds Bernoulli parameters (probabilities in
        ``[0, 1]``, log-odds) rather than categorical ones.
    :param bool allow_degenerate: probabilities may be 0 (or 1 when ``binary``) and
        logits infinite, as the straight-through distributions allow; relaxed
        densities need them open.
    """
    checks = _temperature_checks(temperature)
    param = param.detach()
    if param.numel():
        if is_logits:
            low_temperature = temperature
            if isinstance(temperature, torch.Tensor):
                low_temperature = temperature.detach().amin() if temperature.numel() else 1.0
            checks += _logits_checks(param, low_temperature, binary, allow_degenerate)
        else:
            checks += _probs_checks(param, binary, allow_degenerate)
    if not checks:
        return
    failed = torch.stack([torch.as_tensor(flag, device=param.device) for flag, _ in checks])
    if torch._is_all_true(~failed):
        return
    try:
        failures = failed.tolist()
    except RuntimeError:  # under vmap the values are batched: name the checks only
        messages = "; ".join(message().split(",")[0] for _, message in checks[:1])
        raise ValueError(f"invalid parameters under a torch.func transform: {messages}") from None
    for (_, message), failure in zip(checks, failures):
        if failure:
            raise ValueError(message())
