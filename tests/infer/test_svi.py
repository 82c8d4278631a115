# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""The family in Pyro inference: ELBOs, AutoGuides, JIT, Predictive, conditioning."""

import math
import warnings

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import (
    SVI,
    JitTrace_ELBO,
    JitTraceMeanField_ELBO,
    Predictive,
    Trace_ELBO,
    TraceEnum_ELBO,
    TraceGraph_ELBO,
    TraceMeanField_ELBO,
    config_enumerate,
)
from pyro.infer.autoguide import AutoNormal
from pyro.optim import Adam

PRIOR = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
LOCS = torch.tensor([-2.0, 0.0, 1.0, 3.0], dtype=torch.float64)
DATA = torch.tensor([0.8, 1.3, 0.4], dtype=torch.float64)


def mixture_model(prior_class=None):
    """One 4-category latent; three points from Normal(loc[z], 1)."""
    prior = dist.OneHotCategorical(PRIOR) if prior_class is None else prior_class(1.0, probs=PRIOR)
    z = pyro.sample("z", prior)
    loc = (z * LOCS).sum(-1)
    with pyro.plate("data", 3):
        pyro.sample("x", dist.Normal(loc, 1.0), obs=DATA)


def straight_through_guide(temperature=0.2):
    logits = pyro.param("logits", torch.zeros(4))
    pyro.sample(
        "z",
        dist.RelaxedCategoricalConcreteStraightThrough(
            temperature, logits=logits, estimator="straight_through"
        ),
    )


def exact_log_joint():
    """log p(z = k, data) for each k, by enumeration."""
    return PRIOR.log() + torch.stack([dist.Normal(loc, 1.0).log_prob(DATA).sum() for loc in LOCS])


def test_trace_elbo_is_unbiased_for_the_discrete_elbo():
    """
    A straight-through guide against a OneHotCategorical prior: Trace_ELBO's loss
    estimates the discrete ELBO (computed by enumeration) without bias.
    30 independent estimates of 2000 particles; agreement within 4.5 standard errors.
    """
    logits = torch.tensor([0.3, -0.2, 1.0, 0.1])
    pyro.param("logits", logits)
    q = logits.softmax(-1)
    exact_elbo = (q * (exact_log_joint() - q.log())).sum()
    elbo = Trace_ELBO(num_particles=2000, vectorize_particles=True, max_plate_nesting=1)
    estimates = torch.tensor([-elbo.loss(mixture_model, straight_through_guide) for _ in range(30)])
    standard_error = estimates.std() / math.sqrt(len(estimates))
    assert abs(estimates.mean() - exact_elbo) < 4.5 * standard_error
    assert standard_error < 0.05


@pytest.mark.parametrize(
    "elbo_class, prior_class",
    [
        (Trace_ELBO, dist.RelaxedCategoricalConcreteStraightThrough),
        (TraceMeanField_ELBO, dist.RelaxedCategoricalConcreteStraightThrough),
        (TraceMeanField_ELBO, None),
    ],
    ids=["Trace_ELBO", "TraceMeanField_ELBO", "TraceMeanField_ELBO-OneHotCategorical"],
)
def test_straight_through_guide_learns_posterior(elbo_class, prior_class):
    """
    The guide's categorical distribution reaches total variation < 0.1 from the
    exact posterior (measured 0.006 to 0.044 over seeds at temperature 0.2;
    straight-through gradients are biased, more so at high temperature). Under
    Trace_ELBO the prior is our straight-through class: OneHotCategorical's
    log_prob passes no gradient to its value, so that term would be lost.
    """
    posterior = exact_log_joint().softmax(-1)
    elbo = elbo_class(num_particles=100, vectorize_particles=True, max_plate_nesting=1)
    svi = SVI(lambda: mixture_model(prior_class), straight_through_guide, Adam({"lr": 0.05}), elbo)
    for _ in range(500):
        svi.step()
    q = pyro.param("logits").detach().softmax(-1)
    assert 0.5 * (q - posterior).abs().sum() < 0.1


def test_relaxed_elbo_trains_at_low_temperature():
    """Relaxed guide and prior, temperature 0.1, K = 10, float32: no NaN, and it learns."""
    num_categories = 10
    target = torch.arange(num_categories, dtype=torch.float32)

    def model():
        z = pyro.sample(
            "z", dist.RelaxedCategoricalConcrete(0.1, logits=torch.zeros(num_categories))
        )
        pyro.sample("x", dist.Normal((z * target).sum(-1), 0.3), obs=torch.tensor(7.0))

    def guide():
        logits = pyro.param("logits", torch.zeros(num_categories, dtype=torch.float32))
        pyro.sample("z", dist.RelaxedCategoricalConcrete(0.1, logits=logits))

    svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO())
    losses = [svi.step() for _ in range(300)]
    assert all(math.isfinite(loss) for loss in losses)
    assert torch.isfinite(pyro.param("logits")).all()
    assert sum(losses[-50:]) < sum(losses[:50])


def relaxed_sites_model():
    z = pyro.sample(
        "z", dist.RelaxedCategoricalConcrete(0.5, logits=torch.tensor([0.5, 0.0, -0.5]))
    )
    y = pyro.sample("y", dist.ExpRelaxedCategoricalConcrete(0.7, logits=torch.zeros(3)))
    b = pyro.sample("b", dist.RelaxedBernoulliConcrete(0.4, probs=torch.tensor(0.3)))
    pyro.sample("x", dist.Normal(z[0] + y.exp()[1] + b, 0.5), obs=torch.tensor(1.2))


def test_autonormal_on_relaxed_sites():
    guide = AutoNormal(relaxed_sites_model)
    svi = SVI(relaxed_sites_model, guide, Adam({"lr": 0.02}), Trace_ELBO())
    losses = [svi.step() for _ in range(200)]
    assert all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-20:]) < sum(losses[:20])


def test_trace_mean_field_agrees_with_trace_elbo_under_autonormal():
    """
    With AutoNormal the KL term is the Delta rule registered for our
    distributions, which keeps the bijection's log-Jacobian: with the same
    random numbers both ELBOs give the same loss (Pyro's generic rule would not).
    """
    guide = AutoNormal(relaxed_sites_model)
    guide()  # initialise the parameters
    for seed in range(3):
        pyro.set_rng_seed(seed)
        trace_loss = Trace_ELBO().loss(relaxed_sites_model, guide)
        pyro.set_rng_seed(seed)
        mean_field_loss = TraceMeanField_ELBO().loss(relaxed_sites_model, guide)
        assert math.isclose(trace_loss, mean_field_loss, rel_tol=1e-10)


def relaxed_model():
    z = pyro.sample("z", dist.RelaxedCategoricalConcrete(0.5, logits=torch.zeros(3)))
    pyro.sample("x", dist.Normal(z[..., 0], 0.5), obs=torch.tensor(0.8))


def relaxed_guide():
    logits = pyro.param("logits", torch.zeros(3))
    pyro.sample("z", dist.RelaxedCategoricalConcrete(0.5, logits=logits))


MODELS = {
    "straight-through": (mixture_model, straight_through_guide),
    "relaxed": (relaxed_model, relaxed_guide),
}
ELBOS = [Trace_ELBO, TraceGraph_ELBO, TraceMeanField_ELBO, JitTrace_ELBO, JitTraceMeanField_ELBO]


@pytest.mark.parametrize("elbo_class", ELBOS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", list(MODELS))
def test_valid_models(elbo_class, name):
    """In the manner of Pyro's test_valid_models: a few steps, finite loss, no warning."""
    model, guide = MODELS[name]
    options = {"ignore_jit_warnings": True} if "Jit" in elbo_class.__name__ else {}
    svi = SVI(model, guide, Adam({"lr": 0.01}), elbo_class(max_plate_nesting=1, **options))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # torch.jit.trace is deprecated: a DeprecationWarning to torch 2.13, a FutureWarning on.
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", "`torch.jit.trace` is deprecated", category)
        losses = [svi.step() for _ in range(3)]
    assert all(math.isfinite(loss) for loss in losses)


@pytest.mark.parametrize("name", list(MODELS))
def test_jit_matches_trace_elbo(name):
    """Loss and gradients of the compiled graph equal Trace_ELBO's, seed for seed."""
    model, guide = MODELS[name]
    jit_elbo = JitTrace_ELBO(max_plate_nesting=1, ignore_jit_warnings=True)
    jit_elbo.loss_and_grads(model, guide)  # traces (and draws more than eager mode does)
    results = []
    for elbo in (jit_elbo, Trace_ELBO(max_plate_nesting=1)):
        params = [p.unconstrained() for p in pyro.get_param_store().values()]
        for param in params:
            param.grad = None
        pyro.set_rng_seed(1)
        loss = elbo.loss_and_grads(model, guide)
        results.append((loss, [param.grad.clone() for param in params]))
    (jit_loss, jit_grads), (loss, grads) = results
    assert math.isclose(jit_loss, loss, rel_tol=1e-6)
    for jit_grad, grad in zip(jit_grads, grads):
        torch.testing.assert_close(jit_grad, grad)


def test_enumerating_a_straight_through_site():
    """Its law is exactly categorical, so TraceEnum_ELBO may sum it out."""

    @config_enumerate
    def model():
        mixture_model(dist.RelaxedCategoricalConcreteStraightThrough)

    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(model, lambda: None)
    torch.testing.assert_close(torch.tensor(-loss), exact_log_joint().logsumexp(-1))


def test_enumerating_a_straight_through_site_in_the_guide():
    """
    TraceEnum_ELBO weights the guide's enumerated values by their probabilities
    through the score-function part: the ELBO is the exact discrete ELBO.
    """
    logits = torch.tensor([0.3, -0.2, 1.0, 0.1])

    def guide():
        q_logits = pyro.param("logits", logits)
        q = dist.RelaxedCategoricalConcreteStraightThrough(
            0.5, logits=q_logits, estimator="straight_through"
        )
        pyro.sample("z", q, infer={"enumerate": "parallel"})

    q = logits.softmax(-1)
    exact_elbo = (q * (exact_log_joint() - q.log())).sum()
    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(mixture_model, guide)
    torch.testing.assert_close(torch.tensor(-loss), exact_elbo)


@pytest.mark.parametrize("name", list(MODELS))
def test_predictive(name):
    model, guide = MODELS[name]
    guide()
    samples = Predictive(model, guide=guide, num_samples=50, return_sites=["z", "x"])()
    assert samples["z"].squeeze(-2).shape == (50, 4 if name == "straight-through" else 3)
    assert torch.isfinite(samples["z"]).all()
    if name == "straight-through":
        assert ((samples["z"] == 0) | (samples["z"] == 1)).all()


def test_condition():
    value = dist.RelaxedCategoricalConcrete(0.05, logits=torch.randn(3).float() * 10).sample()
    conditioned = poutine.condition(relaxed_model, data={"z": value})
    trace = poutine.trace(conditioned).get_trace()
    trace.compute_log_prob()
    site = trace.nodes["z"]
    assert site["is_observed"] and site["value"] is value
    prior = dist.RelaxedCategoricalConcrete(0.5, logits=torch.zeros(3))
    torch.testing.assert_close(site["log_prob"], prior.log_prob(value))
    assert torch.isfinite(site["log_prob"])


@pytest.mark.parametrize("no_gradients", [torch.no_grad, torch.inference_mode])
def test_mean_field_loss_without_gradients(no_gradients):
    """A straight-through guide's sample drawn without gradients is still reparameterised."""

    def model():
        pyro.sample("z", dist.OneHotCategorical(logits=torch.zeros(3)))

    def guide():
        logits = torch.tensor([0.5, -1.0, 0.0])
        pyro.sample(
            "z",
            dist.RelaxedCategoricalConcreteStraightThrough(
                1.0, logits=logits, estimator="straight_through"
            ),
        )

    with no_gradients():
        loss = TraceMeanField_ELBO().loss(model, guide)
    q = torch.tensor([0.5, -1.0, 0.0]).softmax(-1)
    expected_kl = (q * (q.log() + math.log(3))).sum()
    assert loss == pytest.approx(expected_kl.item())
