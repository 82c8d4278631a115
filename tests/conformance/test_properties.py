# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
Property-based tests (hypothesis) of "finite and right, or a clear error" over
random temperatures (1e-3..1e3, a Python number or a tensor), logits (scale up
to 1e4, with -inf entries for the straight-through classes), probabilities,
batch shapes, dtypes and up to 1000 categories:

- construction raises a ``ValueError``/``TypeError`` naming the argument exactly
  when the arguments are invalid (a temperature that does not broadcast,
  probabilities a relaxed class cannot take), and succeeds otherwise;
- ``rsample`` is finite, of the parameters' dtype, and in the support;
- ``log_prob`` of the sample is finite and equals a float64 reference at the
  point the sample carries: the closed-form density for the relaxed classes, the
  log-probability of the drawn category for the straight-through ones;
- gradients in the parameters and the temperature are never NaN, and finite in
  float32 and float64 where the true gradient is representable (a gradient in a
  probability of 1e-42 is about 1e42; a half-precision gradient can exceed 65504).

**Tolerance.** The library computes in float32 (half-precision inputs) or
float64. A log-density is a sum of terms; rounding each costs at most a few
units in the last place of its magnitude, so the error is bounded by
``C * eps * S``, with ``S`` the sum of the magnitudes of the terms of the
closed form (computed in float64 from the reference point) and ``eps`` the
compute dtype's. ``C = 16`` is 9 times the largest ratio error / (eps * S)
measured over 10000 random examples of these strategies (1.7, in float64).
Half-precision results add the rounding of the result itself (``eps`` of the
result dtype times its magnitude), and saturate at the dtype's largest number
when the density is not representable.

The relaxed categorical sample's point is found without private API:
``ExpRelaxedCategoricalConcrete`` with the same seed draws the same noise and
returns its log coordinates (checked by
:func:`test_exp_relaxed_sample_is_log_of_relaxed_sample`); a binary value
carrying its logit is made with the public ``UnclippedSigmoidTransform``.
The examples are derandomised, so CI sees the same ones on every run.
"""

import math
import warnings

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyro_concrete import (
    ExpRelaxedCategoricalConcrete,
    RelaxedBernoulliConcrete,
    RelaxedCategoricalConcrete,
)
from pyro_concrete.estimators import ESTIMATORS
from pyro_concrete.transforms import UnclippedSigmoidTransform
from tests.conformance.cases import (
    CATEGORICAL,
    CLASSES,
    RELAXED,
    STRAIGHT_THROUGH,
    reference_log_prob,
)

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
HALF = (torch.float16, torch.bfloat16)
#: Rounding-error constant of the tolerance (see the module docstring).
C = 16.0

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _compute_dtype(dtype):
    return torch.float32 if dtype in HALF else dtype


def _log_uniform(draw, low, high):
    return 10 ** draw(st.floats(math.log10(low), math.log10(high)))


@st.composite
def arguments(draw):
    """A class and arguments for it, with whether they are invalid (and which one)."""
    dist_class = draw(st.sampled_from(CLASSES))
    dtype = draw(st.sampled_from(DTYPES))
    categorical = dist_class in CATEGORICAL
    num_categories = draw(st.sampled_from([2, 3, 7, 50, 1000])) if categorical else None
    batch_shapes = [(), (3,)] if num_categories == 1000 else [(), (1,), (3,), (2, 3)]
    batch_shape = torch.Size(draw(st.sampled_from(batch_shapes)))
    param_shape = batch_shape + ((num_categories,) if categorical else ())
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    scale = _log_uniform(draw, 1e-2, 1e4)
    logits = torch.randn(param_shape, generator=generator, dtype=torch.float64) * scale
    logits = logits.clamp(-6e4, 6e4)  # finite in float16
    if dist_class in STRAIGHT_THROUGH and draw(st.booleans()):
        masked = torch.rand(param_shape, generator=generator) < 0.3
        if categorical:
            masked[..., 0] = False  # a possible category in every row
        # Probability 0 (and 1 for bits): the masking trick.
        logits = torch.where(masked, logits.sign() * math.inf, logits)
        if categorical:
            logits = logits.clamp(max=6e4)
    use_probs = draw(st.booleans())
    if use_probs:
        param = logits.softmax(-1) if categorical else logits.sigmoid()
    else:
        param = logits
    param = param.to(dtype).requires_grad_()
    kwargs = {"probs" if use_probs else "logits": param}

    invalid = None
    if use_probs and dist_class in RELAXED:
        degenerate = (param == 0) | (param == 1) if not categorical else param == 0
        if degenerate.any():
            invalid = "probs"
    temperature = _log_uniform(draw, 1e-3, 1e3)
    kind = draw(st.sampled_from(["number", "scalar", "batch", "bad-shape"]))
    temperature_dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    if kind == "scalar":
        temperature = torch.tensor(temperature, dtype=temperature_dtype)
    elif kind == "batch" or (kind == "bad-shape" and batch_shape.numel() < 2):
        spread = (0.5 * torch.randn(batch_shape, generator=generator, dtype=torch.float64)).exp()
        temperature = (temperature * spread).clamp(1e-3, 1e3).to(temperature_dtype)
    elif kind == "bad-shape":
        temperature = torch.full((batch_shape[-1] + 1,), temperature, dtype=temperature_dtype)
        invalid = "temperature"
    if dist_class in STRAIGHT_THROUGH:
        kwargs["estimator"] = draw(st.sampled_from(ESTIMATORS))
    # ReinMax passes no gradient to the temperature: a learnable one is an error there.
    if isinstance(temperature, torch.Tensor) and kwargs.get("estimator") != "reinmax":
        temperature.requires_grad_()
    kwargs["temperature"] = temperature
    seed = draw(st.integers(0, 2**31 - 1))
    return dist_class, kwargs, invalid, seed


def _construct(dist_class, kwargs):
    with warnings.catch_warnings():
        # ReinMax at a temperature below 1 warns that it uses max(temperature, 1).
        warnings.filterwarnings("ignore", message="estimator='reinmax'", category=UserWarning)
        return dist_class(**kwargs)


def _float64_params(kwargs):
    return {
        name: value.detach().double() if isinstance(value, torch.Tensor) else value
        for name, value in kwargs.items()
        if name in ("temperature", "probs", "logits")
    }


def _relaxed_reference_point(kwargs, seed, sample_shape):
    """The log coordinates the sample was computed from, in the compute dtype."""
    dtype = (kwargs.get("probs") if kwargs.get("probs") is not None else kwargs["logits"]).dtype
    params = {
        name: value.detach().to(_compute_dtype(dtype))
        if name != "temperature" and isinstance(value, torch.Tensor)
        else value
        for name, value in kwargs.items()
    }
    torch.manual_seed(seed)
    return ExpRelaxedCategoricalConcrete(**params).rsample(sample_shape).detach()


def _magnitude(params, log_x):
    """S of the module docstring: the magnitudes of the terms of the closed form."""
    theta = params["logits"] if params.get("logits") is not None else params["probs"].log()
    temperature = torch.as_tensor(params["temperature"]).double().unsqueeze(-1)
    scores = (theta - temperature * log_x).abs()
    num_categories = theta.shape[-1]
    return (
        math.lgamma(num_categories)
        + (num_categories - 1) * temperature.squeeze(-1).log().abs()
        + (scores + (temperature + 1) * log_x.abs()).sum(-1)
        + num_categories * scores.amax(-1)
    )


def _assert_close_to_reference(actual, reference, magnitude, dtype):
    finfo = torch.finfo(dtype)
    saturated = reference.abs() > finfo.max
    expected = torch.where(saturated, reference.sign() * finfo.max, reference)
    tolerance = C * torch.finfo(_compute_dtype(dtype)).eps * magnitude + finfo.eps * reference.abs()
    error = (actual.double() - expected).abs()
    assert (error <= tolerance).all(), (error.max(), tolerance.min())


@SETTINGS
@given(arguments())
def test_finite_and_right_or_a_clear_error(args):
    dist_class, kwargs, invalid, seed = args
    if invalid:
        try:
            _construct(dist_class, kwargs)
        except (ValueError, TypeError) as e:
            assert invalid in str(e), str(e)
            return
        raise AssertionError(f"{invalid} is invalid, yet {dist_class.__name__} was made")
    d = _construct(dist_class, kwargs)
    dtype = d.dtype
    torch.manual_seed(seed)
    x = d.rsample((2,))
    assert x.dtype == dtype
    assert torch.isfinite(x).all()
    assert d.support.check(x).all()
    log_prob = d.log_prob(x)
    assert log_prob.dtype == dtype
    assert torch.isfinite(log_prob).all()

    params = _float64_params(kwargs)
    if dist_class in STRAIGHT_THROUGH:
        reference = reference_log_prob(dist_class, params, x)
        # log-probabilities are differences of logits: rounding scales with their size.
        param = params.get("logits", params.get("probs"))
        scale = param.masked_fill(~param.isfinite(), 0).abs()
        scale = scale.amax(-1) if dist_class in CATEGORICAL else scale
        magnitude = reference.abs() + scale + 1
        _assert_close_to_reference(log_prob, reference, magnitude, dtype)
    elif dist_class in CATEGORICAL:
        log_x = _relaxed_reference_point(kwargs, seed, (2,)).double()
        reference = reference_log_prob(ExpRelaxedCategoricalConcrete, params, log_x)
        if dist_class is RelaxedCategoricalConcrete:
            reference = reference - log_x.sum(-1)
        _assert_close_to_reference(log_prob, reference, _magnitude(params, log_x), dtype)

    _assert_gradients_finite(kwargs, x, log_prob)


def _assert_gradients_finite(kwargs, x, log_prob):
    """
    Never NaN. Finite in float32 and float64, except where the true gradient is
    not representable: a gradient in ``probs`` is the gradient in the logits
    divided by the probability, beyond the dtype's range for tiny ones.
    """
    names = [n for n, v in kwargs.items() if isinstance(v, torch.Tensor) and v.requires_grad]
    weights = torch.randn(x.shape, dtype=torch.float64)
    loss = (x.double() * weights).sum() + log_prob.double().sum()
    grads = torch.autograd.grad(loss, [kwargs[n] for n in names], allow_unused=True)
    for name, grad in zip(names, grads):
        if grad is None:
            continue
        assert not grad.isnan().any(), name
        if grad.dtype in HALF:
            continue
        representable = torch.ones_like(grad, dtype=torch.bool)
        if name == "probs":
            representable = kwargs["probs"].detach() > 1e6 / torch.finfo(grad.dtype).max
        assert torch.isfinite(grad[representable]).all(), name


@st.composite
def binary_arguments(draw):
    dtype = draw(st.sampled_from(DTYPES))
    batch_shape = draw(st.sampled_from([(), (3,), (2, 3)]))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    logits = torch.randn(batch_shape, generator=generator, dtype=torch.float64)
    logits = logits * _log_uniform(draw, 1e-2, 1e4)
    temperature = _log_uniform(draw, 1e-3, 1e3)
    uniform = torch.rand((2,) + batch_shape, generator=generator, dtype=torch.float64)
    noise = uniform.logit()
    return dtype, logits, temperature, (logits + noise) / temperature


@SETTINGS
@given(binary_arguments())
def test_binary_density_at_carried_logit(args):
    """
    A value carrying its logit (made as a sample is) is scored at that logit,
    also where sigmoid(logit) rounds to 0 or 1 in its dtype.
    """
    dtype, logits, temperature, logit = args
    logit = logit.to(dtype)
    if not torch.isfinite(logit).all():
        logit = logit.clamp(torch.finfo(dtype).min, torch.finfo(dtype).max)
    x = UnclippedSigmoidTransform()(logit)
    d = RelaxedBernoulliConcrete(temperature, logits=logits.to(dtype))
    log_prob = d.log_prob(x)
    assert torch.isfinite(log_prob).all()
    params = {"temperature": temperature, "logits": logits.to(dtype).double()}
    l64 = logit.double()
    # The closed form in logit space: x = sigmoid(l), log x = -softplus(-l).
    a = params["logits"] - temperature * l64
    softplus = torch.nn.functional.softplus
    reference = math.log(temperature) + a - 2 * softplus(a) + softplus(l64) + softplus(-l64)
    magnitude = (
        (params["logits"].abs() + temperature * l64.abs() + 3 * a.abs() + 2 * l64.abs())
        + abs(math.log(temperature))
        + 3
    )
    _assert_close_to_reference(log_prob, reference, magnitude, dtype)


def test_exp_relaxed_sample_is_log_of_relaxed_sample():
    """The same seed gives y = log x: how the reference point is found above."""
    for dtype in DTYPES:
        logits = torch.randn(4, 6).to(dtype)
        torch.manual_seed(4)
        x = RelaxedCategoricalConcrete(0.3, logits=logits).rsample()
        torch.manual_seed(4)
        y = ExpRelaxedCategoricalConcrete(0.3, logits=logits.to(_compute_dtype(dtype))).rsample()
        assert y.dtype == _compute_dtype(dtype)
        assert torch.equal(y.exp().to(dtype), x)
