# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
torch's ``TestJit`` (``test/distributions/test_distributions.py``) run over our
cases: a traced function gives eager values on new parameters and data
(``check_trace=True`` for densities), and its samples come from nondeterministic
nodes. Also what ``tests/test_tracing.py`` leaves out: ``torch.compile`` of a
distribution built from a temperature tensor, vmap over parameters with
validation on and with ``randomness="same"``, and ``torch.func.grad`` in the
temperature -- each held to what torch's relaxed classes do.
"""

import pytest
import torch

from tests.conformance.cases import (
    BERNOULLI,
    CASES,
    CLASSES,
    STRAIGHT_THROUGH,
    cases_of,
    fixed_logits,
    parametrize_cases,
    parametrize_classes,
)


def _split(params):
    """Tensor parameters (the traced inputs, detached) and the constants."""
    names = [name for name, value in params.items() if isinstance(value, torch.Tensor)]
    values = tuple(params[name].detach() for name in names)
    constants = {name: value for name, value in params.items() if name not in names}
    return names, values, constants


def _perturbed(case, names, values):
    """New parameters in the same domains (zero probabilities stay zero)."""
    new = []
    for name, value in zip(names, values):
        noise = 0.3 * torch.randn(value.shape)
        if name == "logits":
            new.append(value + noise)
        elif name == "probs" and case.dist_class in BERNOULLI:
            new.append((value.logit() + noise).sigmoid())
        else:
            new.append(value * noise.exp())
    return tuple(new)


@pytest.mark.parametrize("method", ["sample", "rsample"])
@parametrize_cases(CASES)
def test_jit_sample(case, method):
    names, values, constants = _split(case.make_params())

    def f(*values):
        return getattr(case.dist_class(**dict(zip(names, values)), **constants), method)()

    traced = torch.jit.trace(f, values, check_trace=False)
    with torch.random.fork_rng():
        expected = f(*values)
    torch.testing.assert_close(traced(*values), expected)
    assert any(node.isNondeterministic() for node in traced.graph.nodes())


@parametrize_cases(CASES)
def test_jit_log_prob(case):
    names, values, constants = _split(case.make_params())

    def f(value, *values):
        return case.dist_class(**dict(zip(names, values)), **constants).log_prob(value)

    traced = torch.jit.trace(f, (case.make().sample(),) + values)
    values = _perturbed(case, names, values)
    value = case.dist_class(**dict(zip(names, values)), **constants).sample()
    torch.testing.assert_close(traced(value, *values), f(value, *values))


@parametrize_cases(cases_of(*STRAIGHT_THROUGH))
def test_jit_discrete_methods(case):
    """torch's test_enumerate_support, test_mean, test_variance, test_entropy, in one trace."""
    names, values, constants = _split(case.make_params())

    def f(*values):
        d = case.dist_class(**dict(zip(names, values)), **constants)
        return d.enumerate_support(), d.mean, d.variance, d.entropy(), d.mode

    traced = torch.jit.trace(f, values)
    values = _perturbed(case, names, values)
    torch.testing.assert_close(traced(*values), f(*values), equal_nan=True)


# ---------------------------------------------------------------------------
# torch.compile (tests/test_tracing.py compiles with Python-number temperatures),
# torch.func
# ---------------------------------------------------------------------------


def _inputs(dist_class, batch=4, num_categories=3):
    """Temperatures and logits of a batch of distributions."""
    temperature = torch.linspace(0.4, 1.6, batch)
    logits = fixed_logits(batch) if dist_class in BERNOULLI else fixed_logits(batch, num_categories)
    return temperature, logits


def _make(dist_class, temperature, logits, validate_args, **kwargs):
    return dist_class(temperature, logits=logits, validate_args=validate_args, **kwargs)


@parametrize_classes(CLASSES)
def test_compile_with_tensor_temperature(dist_class):
    """rsample (fixed seed) and log_prob of a distribution built inside, on two inputs."""

    def f(temperature, logits, value):
        d = _make(dist_class, temperature, logits, False)
        return d.rsample((2,)), d.log_prob(value)

    # aot_eager: dynamo and AOT autograd, without inductor's code generation.
    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    for shift in (0.0, 0.5):
        temperature, logits = _inputs(dist_class)
        temperature, logits = temperature + shift, logits - shift
        value = _make(dist_class, temperature, logits, True).sample((2,))
        torch.manual_seed(1)
        expected = f(temperature, logits, value)
        torch.manual_seed(1)
        torch.testing.assert_close(compiled(temperature, logits, value), expected)


@parametrize_classes(CLASSES)
def test_vmap_over_parameters_with_validation(dist_class):
    """vmap over distributions (temperature, logits) and values, validation on."""
    temperature, logits = _inputs(dist_class)
    batched = _make(dist_class, temperature, logits, True)
    value = batched.sample()

    def f(value, temperature, logits):
        return _make(dist_class, temperature, logits, True).log_prob(value)

    actual = torch.func.vmap(f)(value, temperature, logits)
    torch.testing.assert_close(actual, batched.log_prob(value))


@parametrize_classes(CLASSES)
def test_vmap_rsample_same_randomness(dist_class):
    """With randomness='same' every example sees the noise of an unbatched draw."""
    temperature, logits = _inputs(dist_class)

    def f(temperature, logits):
        return _make(dist_class, temperature, logits, False).rsample()

    torch.manual_seed(2)
    actual = torch.func.vmap(f, randomness="same")(temperature, logits)
    for i in range(len(temperature)):
        torch.manual_seed(2)
        torch.testing.assert_close(actual[i], f(temperature[i], logits[i]))


@parametrize_classes(CLASSES)
def test_func_grad_in_temperature(dist_class):
    """torch.func.grad in the temperature, of log_prob and of a pathwise loss, equals autograd's."""
    temperature, logits = _inputs(dist_class)
    temperature = temperature[1]
    # ReinMax, the straight-through default, passes the temperature no gradient.
    kwargs = {"estimator": "straight_through"} if dist_class in STRAIGHT_THROUGH else {}
    value = _make(dist_class, temperature, logits, True, **kwargs).sample()
    weights = torch.randn(value.shape)

    def log_prob(temperature):
        return _make(dist_class, temperature, logits, True, **kwargs).log_prob(value).sum()

    def pathwise(temperature):
        torch.manual_seed(3)
        return (_make(dist_class, temperature, logits, True, **kwargs).rsample() * weights).sum()

    for loss in (log_prob, pathwise):
        leaf = temperature.clone().requires_grad_()
        output = loss(leaf)
        # A straight-through log_prob does not depend on the temperature.
        expected = torch.autograd.grad(output, [leaf])[0] if output.requires_grad else 0 * leaf
        torch.testing.assert_close(torch.func.grad(loss)(temperature), expected)
