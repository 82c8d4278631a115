# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""AutoConcrete: mixture and Bernoulli fits, exact ELBOs, plates, subsampling, errors."""

import itertools
import math

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
    TraceMeanField_ELBO,
    config_enumerate,
)
from pyro.infer.autoguide import AutoNormal, init_to_value
from pyro.optim import Adam, ClippedAdam

from pyro_concrete import RelaxedCategoricalConcreteStraightThrough
from pyro_concrete.infer import AutoConcrete

# ---------------------------------------------------------------------------
# A 1-D Gaussian mixture: 3 components, 300 points, one-hot assignments.
# ---------------------------------------------------------------------------

MIXTURE_LOCS = torch.tensor([-4.0, 0.0, 4.0], dtype=torch.float64)
MIXTURE_STEPS = 500


def mixture_model(data):
    num_components = len(MIXTURE_LOCS)
    with pyro.plate("components", num_components):
        locs = pyro.sample("locs", dist.Normal(0.0, 10.0))
    with pyro.plate("data", len(data)):
        z = pyro.sample("z", dist.OneHotCategorical(torch.ones(num_components) / num_components))
        # locs.unsqueeze(-2) broadcasts over vectorized particles and enumeration.
        pyro.sample("x", dist.Normal((z * locs.unsqueeze(-2)).sum(-1), 1.0), obs=data)


def decaying_adam(lr, num_steps):
    """Adam whose learning rate decays tenfold over the run."""
    return ClippedAdam({"lr": lr, "lrd": 0.1 ** (1 / num_steps)})


@pytest.fixture(scope="module")
def mixture():
    """
    Data, and the TraceEnum_ELBO + AutoNormal fit (assignments enumerated) that
    AutoConcrete is compared with. Module-scoped: it runs before the per-test
    fixture, so it sets its own dtype and seed.
    """
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    num_data = 300
    data = MIXTURE_LOCS[torch.randint(len(MIXTURE_LOCS), (num_data,))] + torch.randn(num_data)
    guide = AutoNormal(poutine.block(mixture_model, hide=["z"]))
    model = config_enumerate(mixture_model)
    svi = SVI(model, guide, decaying_adam(0.2, MIXTURE_STEPS), TraceEnum_ELBO(max_plate_nesting=1))
    for _ in range(MIXTURE_STEPS):
        svi.step(data)
    elbo = enumerated_elbo(guide, data)
    locs = guide.median(data)["locs"].sort().values
    torch.set_default_dtype(default_dtype)
    return data, locs, elbo


def elbo_estimate(elbo_class, model, guide, *args, num_particles=200, num_estimates=5):
    """An ELBO estimate averaged over ``num_estimates`` runs, and its standard error."""
    elbo = elbo_class(num_particles=num_particles, vectorize_particles=True, max_plate_nesting=1)
    estimates = torch.tensor([-elbo.loss(model, guide, *args) for _ in range(num_estimates)])
    return estimates.mean().item(), estimates.std().item() / math.sqrt(num_estimates)


def enumerated_elbo(location_guide, data):
    """The mixture's ELBO with the assignments summed out exactly."""
    return elbo_estimate(TraceEnum_ELBO, config_enumerate(mixture_model), location_guide, data)


@pytest.mark.parametrize(
    "estimator, temperature, elbo_class",
    [
        ("straight_through", 0.3, Trace_ELBO),
        ("gumbel_rao", 0.3, TraceMeanField_ELBO),
        ("reinmax", 1.0, TraceMeanField_ELBO),
    ],
)
def test_mixture_recovers_means_and_elbo(mixture, estimator, temperature, elbo_class):
    """
    SVI with AutoConcrete recovers the component means to 0.3, and to 0.25 from the
    enumerated fit's. Measured in this setting over data seeds 0-5 and the three
    estimators: 0.06-0.36 from the truth (0.06-0.10 on seed 0; on seed 1 the data
    alone put the maximum-likelihood means 0.23 away) and 0.03-0.21 from the
    enumerated fit.

    ELBOs. With L_enum(q) the ELBO of a location guide q with the assignments
    summed out: for all locations, E_q(z)[log p(x, z | locs) - log q(z)] <=
    log p(x | locs) (Jensen), so AutoConcrete's ELBO is at most L_enum of its own
    location guide, which is at most the optimum L_enum* of the enumerated fit, up
    to that fit's optimisation error (bound 0.5 nats; L_enum* - L_enum(q) measured
    -0.2 to 1.7), and close to it: AutoConcrete's location guide is nearly as good
    for enumeration as enumeration's own (bound 5 nats). Straight-through gradients
    keep the assignments less confident than the posterior, which costs ELBO:
    L_enum* - ELBO measured 42-53 nats for straight-through, 23-32 for Gumbel-Rao,
    13-23 for ReinMax (of about 760); the bound is 0.25 nats per point (75), where
    assignments that ignore the data would cost thousands.
    """
    data, enumerated_locs, (optimal_elbo, optimal_error) = mixture
    guide = AutoConcrete(mixture_model, temperature=temperature, estimator=estimator)
    svi = SVI(mixture_model, guide, decaying_adam(0.2, MIXTURE_STEPS), elbo_class())
    for _ in range(MIXTURE_STEPS):
        svi.step(data)

    locs = guide.median(data)["locs"].sort().values
    assert (locs - MIXTURE_LOCS).abs().max() < 0.3
    assert (locs - enumerated_locs).abs().max() < 0.25

    concrete_elbo, concrete_error = elbo_estimate(TraceMeanField_ELBO, mixture_model, guide, data)
    same_locs_elbo, same_locs_error = enumerated_elbo(poutine.block(guide, hide=["z"]), data)
    assert concrete_elbo <= same_locs_elbo + 4 * math.hypot(concrete_error, same_locs_error)
    assert same_locs_elbo <= optimal_elbo + 0.5 + 4 * math.hypot(same_locs_error, optimal_error)
    assert same_locs_elbo > optimal_elbo - 5.0
    assert optimal_elbo - concrete_elbo < 0.25 * len(data)


# ---------------------------------------------------------------------------
# A Bernoulli latent model: its rate against the exact posterior (quadrature).
# ---------------------------------------------------------------------------


def bernoulli_model(data):
    rate = pyro.sample("rate", dist.Beta(1.0, 1.0))
    with pyro.plate("data", len(data)):
        b = pyro.sample("b", dist.Bernoulli(rate))
        pyro.sample("x", dist.Normal(3.0 * b, 1.0), obs=data)


def exact_posterior_mean_rate(data):
    """E[rate | data] by quadrature on a grid of 20001 points of (0, 1)."""
    rate = torch.linspace(0, 1, 20003)[1:-1].unsqueeze(-1)
    likelihood = torch.stack(
        [dist.Normal(0.0, 1.0).log_prob(data), dist.Normal(3.0, 1.0).log_prob(data)]
    )
    log_joint = torch.logaddexp((1 - rate).log() + likelihood[0], rate.log() + likelihood[1]).sum(
        -1
    )
    weights = log_joint.softmax(0)
    return (weights * rate.squeeze(-1)).sum().item()


def test_bernoulli_rate():
    """
    500 points, rate 0.3. AutoConcrete's median rate is within 0.04 of the exact
    posterior mean (posterior sd 0.02) and 0.05 of the truth. Measured over data
    seeds 0-4, 500 steps with the defaults (ReinMax at temperature 1): within 0.013
    of the posterior mean either side (straight-through at temperature 0.5:
    0.004-0.031, always above it -- a guide less confident than the posterior,
    which pulls the rate towards 1/2).
    """
    num_data, true_rate = 500, 0.3
    data = 3.0 * dist.Bernoulli(true_rate).sample((num_data,)) + torch.randn(num_data)
    guide = AutoConcrete(bernoulli_model)
    num_steps = 500
    svi = SVI(bernoulli_model, guide, decaying_adam(0.3, num_steps), TraceMeanField_ELBO())
    for _ in range(num_steps):
        svi.step(data)
    rate = guide.median(data)["rate"].item()
    assert abs(rate - exact_posterior_mean_rate(data)) < 0.04
    assert abs(rate - true_rate) < 0.05


# ---------------------------------------------------------------------------
# Exact ELBO: a categorical and a vector of bits, enumerated.
# ---------------------------------------------------------------------------

CATEGORY_PROBS = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
CATEGORY_LOCS = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
BIT_PROBS = torch.tensor([0.2, 0.7], dtype=torch.float64)
SMALL_DATA = torch.tensor([0.3, 2.4], dtype=torch.float64)


def small_model():
    z = pyro.sample("z", dist.OneHotCategorical(CATEGORY_PROBS))
    with pyro.plate("items", 2):
        b = pyro.sample("b", dist.Bernoulli(BIT_PROBS).to_event(1))
        pyro.sample("x", dist.Normal((z * CATEGORY_LOCS).sum(-1) + b.sum(-1), 1.0), obs=SMALL_DATA)


def exact_small_elbo(z_logits, b_logits):
    """The ELBO of a mean-field guide, by summing over all 3 * 2**4 configurations."""
    log_q_z = z_logits.log_softmax(-1)
    elbo = 0.0
    for k in range(3):
        for bits in itertools.product([0.0, 1.0], repeat=4):
            b = torch.tensor(bits).reshape(2, 2)
            log_q = log_q_z[k] + dist.Bernoulli(logits=b_logits).log_prob(b).sum()
            log_p = (
                CATEGORY_PROBS[k].log()
                + dist.Bernoulli(BIT_PROBS).log_prob(b).sum()
                + dist.Normal(CATEGORY_LOCS[k] + b.sum(-1), 1.0).log_prob(SMALL_DATA).sum()
            )
            elbo = elbo + log_q.exp() * (log_p - log_q)
    return elbo.item()


def set_logits(guide, name, value):
    with torch.no_grad():
        getattr(guide.logits, name).copy_(value)


@pytest.mark.parametrize("elbo_class", [Trace_ELBO, TraceMeanField_ELBO])
def test_elbo_is_unbiased_for_the_discrete_elbo(elbo_class):
    """
    With logits set away from the prior, the ELBO estimates average to the exact
    discrete ELBO: 20 estimates of 500 particles agree within 4.5 standard errors.
    """
    guide = AutoConcrete(small_model)
    guide()
    z_logits, b_logits = torch.tensor([0.4, -1.0, 1.5]), torch.tensor([[1.0, -2.0], [0.3, 0.0]])
    set_logits(guide, "z", z_logits)
    set_logits(guide, "b", b_logits)
    estimate, standard_error = elbo_estimate(
        elbo_class, small_model, guide, num_particles=500, num_estimates=20
    )
    assert abs(estimate - exact_small_elbo(z_logits, b_logits)) < 4.5 * standard_error
    assert standard_error < 0.05


@pytest.mark.parametrize(
    "elbo_class, jit_class",
    [(Trace_ELBO, JitTrace_ELBO), (TraceMeanField_ELBO, JitTraceMeanField_ELBO)],
)
def test_jit_elbo_matches(elbo_class, jit_class):
    """The JIT-compiled ELBOs give the same loss with the same random numbers."""
    guide = AutoConcrete(small_model)
    guide()
    jit_elbo = jit_class()
    for seed in range(3):
        pyro.set_rng_seed(seed)
        expected = elbo_class().loss(small_model, guide)
        pyro.set_rng_seed(seed)
        assert jit_elbo.loss(small_model, guide) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------
# Shapes under plates, medians, Predictive, initialisation.
# ---------------------------------------------------------------------------


def plated_model():
    flag = pyro.sample("flag", dist.Bernoulli(0.4))
    scale = pyro.sample("scale", dist.LogNormal(0.0, 1.0))
    with pyro.plate("cols", 3, dim=-1):
        bits = pyro.sample("bits", dist.Bernoulli(torch.tensor([0.3, 0.6])).to_event(1))
        with pyro.plate("rows", 4, dim=-2):
            z = pyro.sample("z", dist.OneHotCategorical(torch.ones(5) / 5))
            loc = flag + (z * torch.arange(5.0)).sum(-1) + bits.sum(-1)
            pyro.sample("x", dist.Normal(loc, scale), obs=torch.zeros(4, 3))


PLATED_SHAPES = {
    "flag": (torch.Size(), torch.Size()),
    "bits": (torch.Size([3]), torch.Size([2])),
    "z": (torch.Size([4, 3]), torch.Size([5])),
}


def test_shapes_under_plates():
    guide = AutoConcrete(plated_model)
    trace = poutine.trace(guide).get_trace()
    for name, (batch_shape, event_shape) in PLATED_SHAPES.items():
        site = trace.nodes[name]
        assert (site["fn"].batch_shape, site["fn"].event_shape) == (batch_shape, event_shape)
        assert getattr(guide.logits, name).shape == batch_shape + event_shape
        assert site["value"].shape == batch_shape + event_shape
        assert ((site["value"] == 0) | (site["value"] == 1)).all()
    assert (trace.nodes["z"]["value"].sum(-1) == 1).all()
    assert trace.nodes["scale"]["value"].shape == torch.Size()
    assert set(pyro.get_param_store()) == {
        "AutoConcrete.logits.flag",
        "AutoConcrete.logits.bits",
        "AutoConcrete.logits.z",
        "AutoConcrete.normal.locs.scale",
        "AutoConcrete.normal.scales.scale",
    }


def test_median_is_the_mode():
    guide = AutoConcrete(plated_model)
    guide()
    z_logits = torch.randn(4, 3, 5)
    bits_logits = torch.randn(3, 2)
    set_logits(guide, "z", z_logits)
    set_logits(guide, "bits", bits_logits)
    set_logits(guide, "flag", torch.tensor(-0.1))
    median = guide.median()
    expected_z = torch.nn.functional.one_hot(z_logits.argmax(-1), 5).to(median["z"].dtype)
    assert torch.equal(median["z"], expected_z)
    assert torch.equal(median["bits"], (bits_logits > 0).to(median["bits"].dtype))
    assert median["flag"].item() == 0.0
    assert median["scale"].shape == torch.Size()
    assert set(guide.quantiles([0.25, 0.75])) == {"scale"}


@pytest.mark.parametrize("parallel", [False, True])
def test_predictive_shapes(parallel):
    """Pyro's shapes: plate dimensions kept, sites outside plates padded with ones."""
    guide = AutoConcrete(plated_model)
    samples = Predictive(plated_model, guide=guide, num_samples=7, parallel=parallel)()
    assert {name: value.shape for name, value in samples.items()} == {
        "flag": (7, 1, 1),
        "scale": (7, 1, 1),
        "bits": (7, 1, 3, 2),
        "z": (7, 4, 3, 5),
        "x": (7, 4, 3),
    }
    assert (samples["z"].sum(-1) == 1).all()


def test_logits_start_at_the_prior():
    """
    The logits start at the prior's logits, evaluated at the initial values of the
    continuous sites (here the mixture weights); a category of prior probability
    0 keeps probability 0, and the exact KL stays finite.
    """
    weights = torch.tensor([0.2, 0.3, 0.5])

    def model():
        w = pyro.sample("w", dist.Dirichlet(torch.ones(3)))
        with pyro.plate("data", 2):
            pyro.sample("z", dist.OneHotCategorical(w))
            pyro.sample(
                "y",
                RelaxedCategoricalConcreteStraightThrough(
                    1.0, probs=torch.tensor([0.5, 0.5, 0.0]), estimator="straight_through"
                ),
            )
            pyro.sample("b", dist.Bernoulli(0.8))

    guide = AutoConcrete(model, init_loc_fn=init_to_value(values={"w": weights}))
    guide()
    assert torch.allclose(guide.logits.z, weights.log().expand(2, 3))
    assert torch.allclose(guide.logits.b, torch.tensor(0.8).logit().expand(2))
    assert torch.allclose(guide.logits.y[..., :2], torch.tensor(0.5).log())
    assert (guide.logits.y[..., 2] < -1000).all()
    assert guide._posterior("y").probs[..., 2].eq(0).all()
    loss = TraceMeanField_ELBO(num_particles=10, vectorize_particles=True).loss(model, guide)
    assert math.isfinite(loss)


# ---------------------------------------------------------------------------
# Constrained continuous sites: TraceMeanField_ELBO keeps their Jacobian.
# ---------------------------------------------------------------------------

CONSTRAINED_FAMILIES = {
    "LogNormal": lambda: dist.LogNormal(0.0, 1.0),
    "HalfCauchy": lambda: dist.HalfCauchy(1.0),
    "Gamma": lambda: dist.Gamma(2.0, 3.0),
    "Beta": lambda: dist.Beta(2.0, 5.0),
    "Uniform": lambda: dist.Uniform(-1.0, 2.0),
    "Dirichlet": lambda: dist.Dirichlet(torch.tensor([1.0, 2.0, 3.0])),
    "LKJCholesky": lambda: dist.LKJCholesky(3, 2.0),
    "plated LogNormal": lambda: dist.LogNormal(0.0, 1.0).expand([2]),
}


def constrained_model(family):
    """A constrained continuous site ``c`` and a categorical ``z`` per item, both observed."""

    def model():
        prior = CONSTRAINED_FAMILIES[family]()
        items = pyro.plate("items", 2)
        if prior.batch_shape:
            with items:
                c = pyro.sample("c", prior)
        else:
            c = pyro.sample("c", prior)
            c = c.reshape(c.shape[: c.dim() - prior.event_dim] + (-1,)).sum(-1)
        with items:
            z = pyro.sample("z", dist.OneHotCategorical(CATEGORY_PROBS))
            loc = (z * CATEGORY_LOCS).sum(-1) + c
            pyro.sample("x", dist.Normal(loc, 1.0), obs=SMALL_DATA)

    return model


def trained_like_guide(model, seed):
    """An AutoConcrete guide whose continuous part is moved away from its initial values."""
    guide = AutoConcrete(model)
    guide()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in guide.normal.named_parameters():
            noise = torch.randn(value.shape, generator=generator)
            value.add_(0.5 * noise if "locs" in name else 0.3 * noise.clamp(-1, 1))
    return guide


def paired_losses(model, guide, seed, num_particles):
    """Trace_ELBO's and TraceMeanField_ELBO's losses on the same random numbers."""
    losses = []
    for elbo_class in (Trace_ELBO, TraceMeanField_ELBO):
        pyro.set_rng_seed(seed)
        elbo = elbo_class(
            num_particles=num_particles, vectorize_particles=True, max_plate_nesting=1
        )
        losses.append(elbo.loss(model, guide))
    return losses


@pytest.mark.parametrize("family", list(CONSTRAINED_FAMILIES))
def test_mean_field_elbo_keeps_the_jacobian(family):
    """
    With the assignments' guide at their prior, the exact KL of TraceMeanField_ELBO
    and the Monte Carlo term of Trace_ELBO are both exactly 0, so the two losses
    agree to rounding on the same random numbers -- which they do only if the
    constrained site's log-Jacobian is kept (Pyro's ``KL(Delta, p)`` drops it: for a
    LogNormal site, the log of the sampled value).
    """
    model = constrained_model(family)
    guide = trained_like_guide(model, seed=1)
    set_logits(guide, "z", CATEGORY_PROBS.log().expand(2, 3))
    for seed in range(3):
        trace_loss, mean_field_loss = paired_losses(model, guide, seed, num_particles=50)
        assert mean_field_loss == pytest.approx(trace_loss, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("family", list(CONSTRAINED_FAMILIES))
def test_mean_field_elbo_matches_trace_elbo_in_expectation(family):
    """
    Assignments' logits away from the prior: the ELBOs now differ sample by sample
    (exact KL against a Monte Carlo term) but agree in expectation. Paired on the
    same random numbers, where the continuous sites' terms cancel, 20 differences of
    500-particle estimates average to 0 within 4.5 standard errors (a standard error
    of 0.011-0.014 nats; without the Jacobian the mean difference is 0.08-3.3 nats).
    """
    model = constrained_model(family)
    guide = trained_like_guide(model, seed=2)
    set_logits(guide, "z", torch.tensor([[0.4, -1.0, 1.5], [2.0, 0.0, -0.5]]))
    pairs = [paired_losses(model, guide, seed, num_particles=500) for seed in range(20)]
    differences = torch.tensor([mean_field - trace for trace, mean_field in pairs])
    standard_error = differences.std().item() / math.sqrt(len(differences))
    assert abs(differences.mean().item()) < 4.5 * standard_error


def test_other_guides_keep_pyros_rule():
    """
    Nothing changes for Pyro's own guides: ``KL(Delta, p)`` still drops the
    log-density, and AutoNormal's losses under the two ELBOs still differ, by the
    dropped term: minus the log-Jacobian of its sample, ``log scale`` (about 1 nat
    here, from an initial ``loc`` of 1 and scale 0.1).
    """

    def model():
        pyro.sample("scale", dist.LogNormal(0.0, 1.0))

    value, log_density = torch.tensor(2.0), torch.tensor(-0.7)
    delta = dist.Delta(value, log_density=log_density)
    assert torch.equal(
        torch.distributions.kl_divergence(delta, dist.LogNormal(0.0, 1.0)),
        -dist.LogNormal(0.0, 1.0).log_prob(value),
    )
    guide = AutoNormal(model, init_loc_fn=init_to_value(values={"scale": torch.tensor(math.e)}))
    pyro.set_rng_seed(0)
    trace_loss = Trace_ELBO().loss(model, guide)
    pyro.set_rng_seed(0)
    mean_field_loss = TraceMeanField_ELBO().loss(model, guide)
    pyro.set_rng_seed(0)
    log_scale = guide()["scale"].log().item()
    assert mean_field_loss - trace_loss == pytest.approx(log_scale, rel=1e-10)
    assert abs(log_scale - 1.0) < 0.5


# ---------------------------------------------------------------------------
# Subsampling.
# ---------------------------------------------------------------------------


def subsampled_model(data, subsample_size=None):
    with pyro.plate("data", len(data), subsample_size=subsample_size) as index:
        z = pyro.sample("z", dist.OneHotCategorical(torch.ones(2) / 2))
        loc = (z * torch.tensor([-3.0, 3.0])).sum(-1)
        pyro.sample("x", dist.Normal(loc, 1.0), obs=data[index])


def test_subsampling_updates_the_subsample_only():
    data = torch.randn(50)
    index = torch.tensor([3, 17, 4, 40, 22])
    guide = AutoConcrete(
        subsampled_model,
        create_plates=lambda data, subsample_size: pyro.plate("data", len(data), subsample=index),
    )
    trace = poutine.trace(guide).get_trace(data, len(index))
    assert trace.nodes["z"]["value"].shape == (5, 2)
    assert guide.logits.z.shape == (50, 2)
    assert torch.allclose(guide.logits.z, torch.tensor(0.5).log())
    loss = Trace_ELBO().differentiable_loss(subsampled_model, guide, data, len(index))
    loss.backward()
    touched = guide.logits.z.grad.abs().sum(-1) > 0
    assert torch.equal(touched.nonzero().squeeze(-1), index.sort().values)


def test_subsampled_local_logits_learn_the_assignments():
    """
    100 points, subsamples of 20: after 400 steps (80 updates of each point's
    logits) the guide's mode is the posterior mode -- the side of 0 a point lies
    on -- for at least 97 points (measured: 99 for each of seeds 0-4).
    """
    data = torch.cat([torch.randn(50) - 3, torch.randn(50) + 3])
    guide = AutoConcrete(subsampled_model)
    svi = SVI(subsampled_model, guide, Adam({"lr": 0.1}), TraceMeanField_ELBO())
    for _ in range(400):
        svi.step(data, 20)
    mode = guide.median(data)["z"].argmax(-1)
    assert (mode == (data > 0).long()).sum() >= 97


# ---------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------


def test_categorical_site_is_an_error():
    def model():
        pyro.sample("k", dist.Categorical(torch.ones(3) / 3))

    with pytest.raises(ValueError, match="'k'.*integer index.*no gradient.*OneHotCategorical"):
        AutoConcrete(model)()


def test_other_discrete_site_is_an_error():
    def model():
        pyro.sample("n", dist.Poisson(3.0))

    with pytest.raises(ValueError, match="OneHotCategorical and Bernoulli.*'n'.*Poisson"):
        AutoConcrete(model)()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "temperature must be a positive finite number"),
        ({"temperature": math.nan}, "temperature must be a positive finite number"),
        ({"estimator": "score_function"}, "estimator must be one of"),
        ({"rao_samples": 0}, "rao_samples"),
        ({"init_scale": -1.0}, "init_scale"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AutoConcrete(small_model, **kwargs)


def test_temperature_of_the_wrong_type():
    with pytest.raises(TypeError, match="temperature must be a real number"):
        AutoConcrete(small_model, temperature=torch.tensor(0.5))


def test_reinmax_below_one_warns_at_the_callers_line():
    with pytest.warns(UserWarning, match="reinmax.*max\\(temperature, 1\\) = 1") as caught:
        guide = AutoConcrete(small_model, temperature=0.5)
    # Past torch's Module.__setattr__ and the guide's own code, to this file.
    assert {record.filename for record in caught} == {__file__}
    with pytest.warns(UserWarning, match="reinmax") as caught:
        guide.temperature = 0.7
    assert {record.filename for record in caught} == {__file__}


def test_temperature_can_be_changed():
    guide = AutoConcrete(small_model)
    guide()
    guide.temperature = 2.0
    assert poutine.trace(guide).get_trace().nodes["z"]["fn"].temperature.eq(2.0).all()
    with pytest.raises(ValueError, match="temperature"):
        guide.temperature = -1.0


# ---------------------------------------------------------------------------
# CUDA.
# ---------------------------------------------------------------------------


@pytest.mark.cuda
def test_cuda():
    data = MIXTURE_LOCS.cuda()[torch.randint(3, (300,), device="cuda")]
    data = data + torch.randn(300, device="cuda")

    def model(data):
        with pyro.plate("components", 3):
            locs = pyro.sample("locs", dist.Normal(data.new_zeros(()), 10.0))
        with pyro.plate("data", len(data)):
            z = pyro.sample("z", dist.OneHotCategorical(data.new_ones(3) / 3))
            pyro.sample("x", dist.Normal((z * locs).sum(-1), 1.0), obs=data)

    guide = AutoConcrete(model, estimator="gumbel_rao")
    svi = SVI(model, guide, Adam({"lr": 0.1}), TraceMeanField_ELBO())
    losses = [svi.step(data) for _ in range(20)]
    assert all(math.isfinite(loss) for loss in losses)
    assert guide.logits.z.is_cuda and guide.median(data)["z"].is_cuda
