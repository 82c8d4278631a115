# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Every class gives eager mode's values under ``torch.jit.trace``,
``torch.compile`` and ``torch.func`` (or the documented fallback, never a baked
example's values), and Pyro's ``JitTrace_ELBO`` equals ``Trace_ELBO`` on every
batch.
"""

import pyro
import pyro.distributions as dist
import pytest
import torch
import torch._inductor.config
from pyro.infer import JitTrace_ELBO, Trace_ELBO

from pyro_concrete import (
    ExpRelaxedCategoricalConcrete,
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
from tests.common import ignore_reinmax_temperature_warning

pytestmark = ignore_reinmax_temperature_warning

CLASSES = [
    RelaxedCategoricalConcrete,
    ExpRelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
]
BERNOULLI = (RelaxedBernoulliConcrete, RelaxedBernoulliConcreteStraightThrough)


def _logits(dist_class, scale=3.0, dtype=torch.float32):
    shape = (32,) if dist_class in BERNOULLI else (32, 20)
    return (torch.randn(shape, dtype=torch.float64) * scale).to(dtype)


@pytest.mark.parametrize("dist_class", CLASSES, ids=lambda c: c.__name__)
def test_jit_trace_log_prob_bakes_no_example(dist_class):
    """
    At temperature 0.1 float32 coordinates underflow, where a sample's own
    coordinates and the fallback differ: the traced function must score a new
    input by the fallback (what eager mode gives a hint-free copy), not by the
    example's coordinates, and must pass the trace checker.
    """
    d = dist_class(0.1, logits=_logits(dist_class))
    example, new = d.rsample(), d.rsample()
    d.log_prob(example)  # lazy parameters are computed once, outside the trace
    traced = torch.jit.trace(d.log_prob, (example,), check_trace=True)
    assert torch.equal(traced(new), d.log_prob(new.detach().clone()))
    assert torch.equal(traced(example), d.log_prob(example.detach().clone()))


@pytest.mark.parametrize("dist_class", CLASSES, ids=lambda c: c.__name__)
def test_jit_trace_rsample_and_log_prob_of_parameters(dist_class):
    """A traced function of the parameters draws and scores as eager mode does, seed for seed."""
    logits = _logits(dist_class, scale=1.0)

    def draw_and_score(logits):
        d = dist_class(0.5, logits=logits, validate_args=False)
        x = d.rsample()
        return x, d.log_prob(x)

    torch.manual_seed(3)
    traced = torch.jit.trace(draw_and_score, (logits,), check_trace=False)
    torch.manual_seed(4)
    x, log_prob = traced(logits)
    torch.manual_seed(4)
    eager_x, eager_log_prob = draw_and_score(logits)
    assert torch.equal(x, eager_x)
    torch.testing.assert_close(log_prob, eager_log_prob)


@pytest.mark.parametrize("dist_class", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("fullgraph", [False, True])
def test_compile_log_prob(dist_class, fullgraph):
    d = dist_class(0.5, logits=_logits(dist_class, scale=1.0), validate_args=True)
    compiled = torch.compile(d.log_prob, fullgraph=fullgraph)
    for _ in range(2):
        x = d.rsample()
        torch.testing.assert_close(compiled(x), d.log_prob(x))
    with pytest.raises((ValueError, RuntimeError), match="support"):
        compiled(d.rsample() * 2 + 0.5)


@pytest.mark.parametrize("dist_class", CLASSES, ids=lambda c: c.__name__)
def test_compile_rsample_and_log_prob(dist_class):
    logits = _logits(dist_class, scale=1.0)

    def draw_and_score(logits):
        d = dist_class(0.3, logits=logits, validate_args=False)
        x = d.rsample()
        return x, d.log_prob(x)

    compiled = torch.compile(draw_and_score, fullgraph=True)
    torch.manual_seed(5)
    with torch._inductor.config.patch(fallback_random=True):  # eager's random numbers
        x, log_prob = compiled(logits)
    torch.manual_seed(5)
    eager_x, eager_log_prob = draw_and_score(logits)
    torch.testing.assert_close(x, eager_x)
    torch.testing.assert_close(log_prob, eager_log_prob, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dist_class", CLASSES, ids=lambda c: c.__name__)
def test_vmap_log_prob(dist_class):
    """vmap's slices carry no hint: they are scored by the fallback, as hint-free copies are."""
    d = dist_class(0.5, logits=_logits(dist_class, scale=1.0))
    values = d.rsample((6,))
    expected = d.log_prob(values.detach().clone())
    torch.testing.assert_close(torch.func.vmap(d.log_prob)(values), expected)


@pytest.mark.parametrize("dist_class", CLASSES, ids=lambda c: c.__name__)
def test_vmap_over_parameters(dist_class):
    """
    Distributions built inside vmap (validation off, as torch's need) sample and
    score; in float64 the hint-free score outside agrees to rounding.
    """
    logits = _logits(dist_class, scale=1.0, dtype=torch.float64)

    def draw_and_score(logits):
        d = dist_class(0.5, logits=logits, validate_args=False)
        x = d.rsample()
        return x, d.log_prob(x)

    x, log_prob = torch.func.vmap(draw_and_score, randomness="different")(logits)
    d = dist_class(0.5, logits=logits)
    assert bool(d.support.check(x).all())
    torch.testing.assert_close(log_prob, d.log_prob(x.clone()))


@pytest.mark.parametrize("dist_class", CLASSES, ids=lambda c: c.__name__)
def test_func_grad_equals_autograd(dist_class):
    logits = _logits(dist_class, scale=1.0, dtype=torch.float64)
    weights = torch.randn(logits.shape[-1:] if dist_class not in BERNOULLI else ())

    def loss(logits):
        d = dist_class(torch.tensor(0.7, dtype=torch.float64), logits=logits)
        x = d.rsample()
        return (x * weights).sum() + d.log_prob(x).sum()

    torch.manual_seed(6)
    grad = torch.func.grad(loss)(logits)
    torch.manual_seed(6)
    leaf = logits.clone().requires_grad_()
    (expected,) = torch.autograd.grad(loss(leaf), [leaf])
    torch.testing.assert_close(grad, expected)


def _mixture_model(data, locs):
    pyro.sample(
        "z",
        RelaxedCategoricalConcreteStraightThrough(
            1.0, logits=torch.zeros(3), estimator="straight_through"
        ),
    )
    with pyro.plate("data", len(data)):
        pyro.sample("x", RelaxedCategoricalConcrete(0.5, logits=locs), obs=data)


def _elbo_per_batch(elbo, batches, guide):
    pyro.clear_param_store()
    # JitTrace_ELBO runs the model once more on its first call (draws that eager
    # mode does not make): compile it before the seeded comparisons.
    elbo.loss_and_grads(_mixture_model, guide, batches[0], torch.zeros(len(batches[0]), 4))
    pyro.param("guide_logits").unconstrained().grad = None
    results = []
    for batch in batches:
        pyro.set_rng_seed(7)
        locs = torch.zeros(len(batch), 4)
        loss = elbo.loss_and_grads(_mixture_model, guide, batch, locs)
        grad = pyro.param("guide_logits").unconstrained().grad.clone()
        pyro.param("guide_logits").unconstrained().grad.zero_()
        results.append((loss, grad))
    return results


def _guide(data, locs):
    logits = pyro.param("guide_logits", torch.zeros(3))
    pyro.sample(
        "z",
        RelaxedCategoricalConcreteStraightThrough(1.0, logits=logits, estimator="straight_through"),
    )


def test_jit_trace_elbo_equals_trace_elbo_on_every_batch():
    """Observations drawn from our family: the first batch's values are not reused."""
    sampler = RelaxedCategoricalConcrete(0.5, logits=torch.randn(4))
    batches = [sampler.sample((8,)) for _ in range(3)]
    jit = _elbo_per_batch(JitTrace_ELBO(), batches, _guide)
    eager = _elbo_per_batch(Trace_ELBO(), batches, _guide)
    assert len({round(loss, 6) for loss, _ in eager}) == 3
    for (jit_loss, jit_grad), (loss, grad) in zip(jit, eager):
        assert jit_loss == pytest.approx(loss, rel=1e-6)
        torch.testing.assert_close(jit_grad, grad)


def _underflowing_guide(data, scale):
    logits = pyro.param("guide_logits", torch.tensor([0.0, 1.0, -1.0]))
    probs = torch.softmax(logits * scale, -1)
    pyro.sample(
        "z",
        RelaxedCategoricalConcreteStraightThrough(1.0, probs=probs, estimator="straight_through"),
    )


def _underflow_model(data, scale):
    z = pyro.sample("z", dist.OneHotCategorical(logits=torch.zeros(3)))
    pyro.sample("x", dist.Normal(z @ torch.tensor([-1.0, 1.0, 3.0]), 1.0), obs=data)


def test_jit_trace_elbo_when_probabilities_underflow_on_a_later_batch():
    """The zero-probability case is not a branch frozen at trace time."""
    results = {}
    data = torch.tensor(0.5)
    for elbo in (JitTrace_ELBO(), Trace_ELBO()):
        pyro.clear_param_store()
        elbo.loss_and_grads(_underflow_model, _underflowing_guide, data, torch.tensor(1.0))
        pyro.param("guide_logits").unconstrained().grad = None
        results[type(elbo).__name__] = []
        for scale in (torch.tensor(1.0), torch.tensor(1000.0)):  # the second has exact zeros
            pyro.set_rng_seed(8)
            loss = elbo.loss_and_grads(
                _underflow_model, _underflowing_guide, torch.tensor(0.5), scale
            )
            grad = pyro.param("guide_logits").unconstrained().grad.clone()
            pyro.param("guide_logits").unconstrained().grad.zero_()
            results[type(elbo).__name__].append((loss, grad))
    for (jit_loss, jit_grad), (loss, grad) in zip(results["JitTrace_ELBO"], results["Trace_ELBO"]):
        assert torch.isfinite(torch.tensor(jit_loss)) and torch.isfinite(jit_grad).all()
        assert jit_loss == pytest.approx(loss, rel=1e-6)
        torch.testing.assert_close(jit_grad, grad)
