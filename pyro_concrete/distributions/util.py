# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Numerical helpers shared by the Concrete family: the compute dtype, noise, the
log coordinates carried by samples, and parameter checks.
"""

import math
from numbers import Real
from typing import NamedTuple, Optional, Tuple, Union

import torch
from torch import Tensor

_HALF_DTYPES = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision inputs are computed in float32; wider dtypes in themselves."""
    return torch.float32 if dtype in _HALF_DTYPES else dtype


def uniform_noise(shape, dtype: torch.dtype, device) -> Tensor:
    """
    Uniform noise on ``[tiny, 1)``. ``torch.rand`` returns exact zeros (once in
    ``2**24`` float32 draws), where the log-based transforms below are infinite.
    """
    return torch.empty(shape, dtype=dtype, device=device).uniform_(torch.finfo(dtype).tiny, 1.0)


def log_exponential_noise(shape, dtype: torch.dtype, device) -> Tensor:
    """``log E`` for ``E ~ Exponential(1)``: negated standard Gumbel noise, always finite."""
    return uniform_noise(shape, dtype, device).log_().neg_().log_()


def logistic_noise(shape, dtype: torch.dtype, device) -> Tensor:
    """Standard logistic noise ``log U - log(1 - U)``, finite for every draw."""
    return uniform_noise(shape, dtype, device).logit_()


def log_softmax(scores: Tensor) -> Tensor:
    """``log_softmax`` over the last dimension, quickly for every size."""
    # torch's CPU kernel is several times slower below 16 categories than these
    # elementwise passes. The maximum is subtracted first, as in the kernel, so that
    # the result is as accurate (``scores - logsumexp(scores)`` is not: it rounds at
    # the magnitude of the scores); it cancels, so it needs no gradient.
    if scores.device.type == "cpu" and scores.shape[-1] < 16:
        shifted = scores - scores.detach().amax(-1, keepdim=True)
        return shifted - shifted.exp().sum(-1, keepdim=True).log()
    return scores.log_softmax(-1)


def softmax(scores: Tensor) -> Tensor:
    """``softmax`` over the last dimension, quickly for every size."""
    if scores.device.type == "cpu" and scores.shape[-1] < 16:
        return log_softmax(scores).exp()
    return scores.softmax(-1)


def argmax(scores: Tensor) -> Tensor:
    """Indices of the largest entries along the last dimension, with a kept dimension."""
    # On the CPU, max's indices come 1.5-2 times faster than argmax.
    return scores.max(-1, keepdim=True).indices


def noisy_scores(
    logits: Tensor,
    noise: Tensor,
    temperature,
    degenerate: Optional[Tensor] = None,
    *,
    negated: bool = False,
    in_place: bool = False,
) -> Tensor:
    """
    ``(logits + noise) / temperature``. Where ``degenerate`` is set the logits are
    infinite (probabilities of 0 or 1): the result keeps them, and they are kept
    out of the arithmetic so that no ``inf - inf`` or ``0 * inf`` reaches the
    gradient of the temperature.

    :param bool negated: ``noise`` holds the negated noise (``log E = -G``), which
        saves a pass over it.
    :param bool in_place: ``noise`` is a fresh buffer that may hold the result.
    """
    if degenerate is None and in_place:
        # Two passes over the noise buffer, and no new allocation.
        if negated:
            return noise.sub_(logits).div_(-temperature)
        return noise.add_(logits).div_(temperature)
    if negated:
        noise = -noise
    if degenerate is None:
        return (logits + noise) / temperature
    scores = (
        logits.masked_fill(degenerate, 0.0) + noise.masked_fill(degenerate, 0.0)
    ) / temperature
    return torch.where(degenerate, logits, scores)


# ---------------------------------------------------------------------------
# Log coordinates carried with values.
#
# A Concrete sample x = softmax(s) has coordinates that underflow to exact zeros
# at low temperature, where log x -- which every density of the family needs --
# is lost. Each sample therefore carries the log coordinates it was computed
# from, as an attribute of the returned tensor. Pyro's trace and replay pass that
# very tensor from the guide to the model, so the prior scores the exact point.
# The record holds the tensor's version counter: an in-place change invalidates
# it. Operations that make a new tensor (detach, clone, to, indexing) drop it,
# and log_prob falls back to computing the coordinates from the value.
# ---------------------------------------------------------------------------

_CARRY_ATTRIBUTE = "_pyro_concrete_carry"

#: ``x == exp(t)``: log coordinates of a point of the simplex.
LOG = "log"
#: ``x == sigmoid(t)``: the logit of a point of the unit interval.
LOGIT = "logit"
#: ``x == t`` rounded: the value in its compute dtype (half-precision samples), or
#: no tensor when the value is exact.
EXACT = "exact"
#: a straight-through one-hot sample; carries no tensor.
ONE_HOT = "one_hot"
#: a straight-through 0/1 sample; carries no tensor.
BITS = "bits"


class _Carry(NamedTuple):
    kind: str
    tensor: Optional[Tensor]
    version: Optional[int]


def _version(value: Tensor) -> Optional[int]:
    try:
        return value._version
    except RuntimeError:  # inference-mode tensors have no version counter
        return None


def attach(value: Tensor, kind: str, tensor: Optional[Tensor] = None) -> Tensor:
    """Records ``tensor`` on ``value`` as its coordinates of the given kind."""
    setattr(value, _CARRY_ATTRIBUTE, _Carry(kind, tensor, _version(value)))
    return value


def carried(value: Tensor) -> Optional[_Carry]:
    """The record attached to ``value`` if it is still valid, else None."""
    record = value.__dict__.get(_CARRY_ATTRIBUTE)
    if record is None or record.version != _version(value):
        return None
    if record.tensor is not None and record.tensor.shape != value.shape:
        return None
    return record


def reject_straight_through(record: Optional[_Carry], name: str) -> None:
    if record is not None and record.kind in (ONE_HOT, BITS):
        raise ValueError(
            f"{name} received a straight-through sample: a relaxed density is "
            "zero or infinite at the discrete points that straight-through distributions "
            "return. Score it with a straight-through distribution or with "
            "OneHotCategorical/Bernoulli (the discrete ELBO), or draw it from a relaxed "
            "distribution (the relaxed ELBO)."
        )


class _FlooredLog(torch.autograd.Function):
    @staticmethod
    def forward(ctx, value):
        ctx.save_for_backward(value)
        finfo = torch.finfo(value.dtype)
        return value.clamp_min(finfo.tiny * finfo.eps).log()

    @staticmethod
    def backward(ctx, grad):
        (value,) = ctx.saved_tensors
        return grad / value.clamp_min(torch.finfo(value.dtype).tiny)


def floored_log(value: Tensor) -> Tensor:
    """
    ``log(value)`` with exact zeros taken to be the smallest positive (subnormal)
    number of the dtype, the best guess for a coordinate that underflowed. Subnormal
    values are evaluated where they are; their gradient ``1 / value`` is computed
    with ``value`` floored at the smallest normal number, so that it stays finite.
    """
    return _FlooredLog.apply(value)


def log_of_probs(probs: Tensor) -> Tensor:
    """
    ``log(probs)``, with ``-inf`` where a probability is 0 and a zero gradient
    there (``0 * (1 / 0)`` would be NaN): a category that cannot occur contributes
    nothing to the gradient of an expectation.
    """
    impossible = probs == 0
    return probs.masked_fill(impossible, 1.0).log().masked_fill(impossible, -math.inf)


def log_simplex_coordinates(value: Tensor, record: Optional[_Carry], dtype: torch.dtype) -> Tensor:
    """
    ``log(value)`` for a point of the simplex, in ``dtype``: the carried log
    coordinates when ``record`` holds them, else :func:`floored_log` of the value --
    finite, and exact wherever nothing underflowed to zero.
    """
    if record is not None and record.kind == LOG:
        return record.tensor.to(dtype)
    return floored_log(value.to(dtype))


def logit_coordinate(value: Tensor, record: Optional[_Carry], dtype: torch.dtype) -> Tensor:
    """
    ``logit(value)`` for a point of the unit interval, in ``dtype``: the carried
    logit when ``record`` holds it, else ``log(x) - log(1 - x)`` with
    :func:`floored_log` (``1 - x`` is exact for ``x >= 1/2``).
    """
    if record is not None and record.kind == LOGIT:
        return record.tensor.to(dtype)
    value = value.to(dtype)
    return floored_log(value) - floored_log(1 - value)


def exact_value(value: Tensor, record: Optional[_Carry], dtype: torch.dtype) -> Tensor:
    """
    The value in ``dtype``: the carried full-precision value when ``record`` holds
    it (half-precision samples), else the value itself with ``-inf`` entries (log
    coordinates of zeros) taken to be the log of the smallest positive number of
    ``dtype``, as :func:`floored_log` does.
    """
    if record is not None and record.kind == EXACT and record.tensor is not None:
        return record.tensor.to(dtype)
    finfo = torch.finfo(dtype)
    log_smallest = math.log(finfo.tiny * finfo.eps)
    return value.to(dtype).nan_to_num(nan=math.nan, posinf=math.inf, neginf=log_smallest)


def to_caller_dtype(value: Tensor, dtype: torch.dtype) -> Tensor:
    """
    Casts a result computed in float32 back to a half-precision ``dtype``,
    saturating at the largest finite number instead of overflowing to infinity.
    """
    if value.dtype == dtype:
        return value
    finfo = torch.finfo(dtype)
    return value.clamp(finfo.min, finfo.max).to(dtype)


# ---------------------------------------------------------------------------
# Parameter checks.
# ---------------------------------------------------------------------------


def _is_real_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_param_tensor(probs, logits, event_dim: int) -> Tuple[Tensor, bool]:
    """
    Structural checks on ``probs``/``logits`` (always run: they cost nothing).
    Returns the given tensor and whether it is ``logits``.
    """
    if (probs is None) == (logits is None):
        raise ValueError(
            "Exactly one of probs or logits must be specified, got "
            + ("both" if probs is not None else "neither")
            + "."
        )
    name, param = ("logits", logits) if logits is not None else ("probs", probs)
    if _is_real_number(param):
        param = torch.tensor(float(param), dtype=torch.get_default_dtype())
    if not isinstance(param, Tensor):
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
    temperature, param: Tensor, event_dim: int
) -> Tuple[Union[Tensor, float], Tensor, torch.Size]:
    """
    Checks the type and shape of ``temperature`` and broadcasts it with the batch
    shape of ``param``. Returns the temperature (a float if it was a Python
    number, else a tensor of the batch shape), the parameter expanded to the
    batch shape, and the batch shape.
    """
    param_batch_shape = param.shape[: param.dim() - event_dim]
    event_shape = param.shape[param.dim() - event_dim :]
    if _is_real_number(temperature):
        temperature = float(temperature)
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be positive and finite, got {temperature}.")
        return temperature, param, param_batch_shape
    if not isinstance(temperature, Tensor):
        raise TypeError(
            "temperature must be a positive Python number or a Tensor, got "
            f"{type(temperature).__name__}."
        )
    if temperature.dtype == torch.bool or temperature.is_complex():
        raise TypeError(f"temperature must be a real tensor, got dtype {temperature.dtype}.")
    try:
        batch_shape = torch.broadcast_shapes(param_batch_shape, temperature.shape)
    except RuntimeError:
        raise ValueError(
            f"temperature of shape {tuple(temperature.shape)} is not broadcastable with the "
            f"batch shape {tuple(param_batch_shape)} of the probs/logits of shape "
            f"{tuple(param.shape)}. "
            "The temperature broadcasts with the batch shape, not with the category "
            "dimension: for logits of shape (B, K) a per-row temperature has shape (B,)."
        ) from None
    dtype = torch.result_type(param, temperature)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    param = param.to(dtype).expand(batch_shape + event_shape)
    temperature = temperature.to(device=param.device, dtype=dtype).expand(batch_shape)
    return temperature, param, batch_shape


def validate_parameters(
    temperature, param: Tensor, is_logits: bool, *, binary: bool, allow_degenerate: bool
):
    """
    Value checks on the parameters, run when validation is enabled. The statistics
    are reduced on the parameters' device and read back in one transfer.

    :param bool binary: ``param`` holds Bernoulli probabilities (each in ``[0, 1]``)
        rather than unnormalised categorical ones.
    :param bool allow_degenerate: probabilities may be 0 (or 1 when ``binary``), as
        the straight-through distributions allow; relaxed densities need them open.
    """
    statistics = {}
    if isinstance(temperature, Tensor) and temperature.numel():
        temperature = temperature.detach()
        statistics["low_temperature"] = temperature.amin()
        statistics["high_temperature"] = temperature.amax()
    param = param.detach()
    if param.numel():
        if is_logits:
            low, high = torch.aminmax(param)
            statistics["scale"] = torch.maximum(low.abs(), high.abs())  # NaN propagates
        else:
            statistics["low"] = param.amin()
            statistics["high"] = param.amax()
            if not binary:
                statistics["low_total"] = param.sum(-1).amin()
    if not statistics:
        return
    values = torch.stack([s.to(torch.float64) for s in statistics.values()]).tolist()
    values = dict(zip(statistics, values))

    low_temperature = values.get("low_temperature", temperature)
    if isinstance(temperature, Tensor) and not (
        low_temperature > 0 and math.isfinite(values.get("high_temperature", 1.0))
    ):
        bad = temperature[~((temperature > 0) & torch.isfinite(temperature))]
        raise ValueError(
            f"temperature must be positive and finite, got values {bad.flatten()[:5].tolist()}."
        )
    if "scale" in values:
        scale = values["scale"]
        if not math.isfinite(scale):
            raise ValueError(
                "logits must be finite (no NaN or ±inf), got values "
                f"{param[~torch.isfinite(param)].flatten()[:5].tolist()}."
            )
        # Gumbel and logistic noise stay below 40 in magnitude in every dtype.
        limit = torch.finfo(compute_dtype(param.dtype)).max / 4
        if (scale + 40) / low_temperature > limit:
            raise ValueError(
                f"temperature {low_temperature:g} is too small for logits of magnitude "
                f"{scale:g} in {param.dtype}: (logits + noise) / temperature overflows. "
                f"Use float64, or a temperature of at least {(scale + 40) / limit:g}."
            )
    if "low" in values:
        low, high = values["low"], values["high"]
        if math.isnan(low) or not math.isfinite(high):
            raise ValueError("probs must be finite, got NaN or infinite entries.")
        if low < 0 or (binary and high > 1):
            bounds = "lie in [0, 1]" if binary else "be non-negative"
            raise ValueError(f"probs must {bounds}, got values in [{low:g}, {high:g}].")
        degenerate = low == 0 or (binary and high == 1)
        if degenerate and not allow_degenerate:
            bounds = "lie strictly inside (0, 1)" if binary else "be positive"
            raise ValueError(
                f"probs must {bounds} for a relaxed distribution, got values in "
                f"[{low:g}, {high:g}]: the relaxed density of a category of probability 0 "
                "is degenerate. Drop the category, or use a straight-through distribution."
            )
        if not binary and values["low_total"] <= 0:
            raise ValueError("probs must have a positive entry in every row, got an all-zero row.")
