# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
REBAR and RELAX against the exact gradient of small models, computed by enumerating
their discrete configurations in float64. Each model is replicated independently
along an outer plate, with one copy of every parameter per replicate, so that one
step gives ``NUM_REPLICATES`` independent gradient estimates, one per row.
"""

import itertools
import math

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO, TraceGraph_ELBO
from pyro.optim import Adam

from pyro_concrete import (
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcreteStraightThrough,
)
from pyro_concrete.infer import AutoConcrete, RelaxReparam, TraceREBAR_ELBO, TraceRELAX_ELBO

NUM_REPLICATES = 20000
# Two-sided z-test per gradient coordinate: P(|z| > 4) = 6e-5 under the null, while
# the straight-through estimator's bias reaches |z| > 20 on the same problems.
Z_THRESHOLD = 4.0
LOG_2PI = math.log(2 * math.pi)


def _tensor(values):
    # Module-level constants are built at import, before conftest sets float64.
    return torch.tensor(values, dtype=torch.float64)


def _normal_log_prob(x, loc):
    return -0.5 * (LOG_2PI + (x - loc) ** 2)


def _categorical(logits, kind):
    if kind == "score_function":
        return dist.OneHotCategorical(logits=logits)
    return RelaxedCategoricalConcreteStraightThrough(
        0.5, logits=logits, estimator="straight_through"
    )


def _bernoulli(logits, kind):
    if kind == "score_function":
        return dist.Bernoulli(logits=logits)
    return RelaxedBernoulliConcreteStraightThrough(0.5, logits=logits, estimator="straight_through")


class Problem:
    """
    A model and guide replicated ``num_replicates`` times along the plate
    ``"replicates"``. ``leaves`` maps names to parameters with one copy per
    replicate (leading dimension), the logits of the discrete sites
    (``discrete_logits``) first; ``exact()`` returns the gradient of one
    replicate's ELBO with respect to each, by enumeration.
    """

    def __init__(self, num_replicates):
        self.num_replicates = num_replicates
        self.leaves = {
            name: value.expand((num_replicates,) + value.shape).clone().requires_grad_()
            for name, value in self.parameters().items()
        }
        assert tuple(self.leaves)[: len(self.discrete_logits)] == self.discrete_logits

    def discrete_part(self, estimates):
        """The columns of ``estimates`` that belong to the discrete sites' logits."""
        width = sum(self.leaves[name][0].numel() for name in self.discrete_logits)
        return estimates[:, :width]

    def estimates(self, elbo, kind="straight_through"):
        """Per-replicate ELBO gradients, one row per replicate, one column per coordinate."""
        for leaf in self.leaves.values():
            leaf.grad = None
        if isinstance(elbo, Trace_ELBO):  # its loss_and_grads skips models without Pyro params
            elbo.differentiable_loss(self.model, self.guide, kind).backward()
        else:
            elbo.loss_and_grads(self.model, self.guide, kind)
        return torch.cat([-leaf.grad.reshape(len(leaf), -1) for leaf in self.leaves.values()], -1)

    def exact(self):
        values = {n: v.detach().clone().requires_grad_() for n, v in self.parameters().items()}
        grads = torch.autograd.grad(self.exact_elbo(**values), list(values.values()))
        return torch.cat([grad.flatten() for grad in grads])


class CategoricalProblem(Problem):
    """One categorical site, a Gaussian likelihood of a 4-vector."""

    discrete_logits = ("logits",)

    prior_logits = _tensor([0.2, 0.5, 0.3]).log()
    data = _tensor([1.0, -0.5, 2.0, 0.3])

    def parameters(self):
        return {
            "logits": torch.tensor([0.5, -0.3, 0.1]),
            "locs": torch.tensor(
                [[-1.0, 0.0, 1.0, 0.5], [0.5, -1.0, 2.0, 0.0], [2.0, 1.0, -1.0, 1.0]]
            ),
        }

    def model(self, kind):
        prior = RelaxedCategoricalConcreteStraightThrough(
            1.0, logits=self.prior_logits, estimator="straight_through"
        )
        with pyro.plate("replicates", self.num_replicates):
            z = pyro.sample("z", prior)
            loc = (z.unsqueeze(-1) * self.leaves["locs"]).sum(-2)
            pyro.sample("x", dist.Normal(loc, 1.0).to_event(1), obs=self.data)

    def guide(self, kind):
        with pyro.plate("replicates", self.num_replicates):
            pyro.sample("z", _categorical(self.leaves["logits"], kind))

    def exact_elbo(self, logits, locs):
        log_q = logits.log_softmax(-1)
        log_p = self.prior_logits + _normal_log_prob(self.data, locs).sum(-1)
        return (log_q.exp() * (log_p - log_q)).sum()


class BernoulliProblem(Problem):
    """
    Bits ``b_m`` in a plate of 3 and a global bit ``c`` (its prior a torch
    ``Bernoulli``), coupled in the likelihood ``x_m ~ N(w0 b_m + w1 c + w2 b_m c, 0.5)``.
    """

    discrete_logits = ("bits_logits", "global_logits")
    data = _tensor([1.2, -0.3, 2.5])
    prior_probs = _tensor([0.3, 0.6, 0.8])

    def parameters(self):
        return {
            "bits_logits": torch.tensor([0.3, -0.5, 1.0]),
            "global_logits": torch.tensor([-0.2]),
            "weights": torch.tensor([[1.5, -1.0, 2.0]]),
        }

    def model(self, kind):
        w = self.leaves["weights"]
        with pyro.plate("replicates", self.num_replicates, dim=-2):
            c = pyro.sample("c", dist.Bernoulli(self.prior_probs[2]))
            with pyro.plate("items", len(self.data), dim=-1):
                b = pyro.sample(
                    "b",
                    RelaxedBernoulliConcreteStraightThrough(
                        1.0, probs=self.prior_probs[0], estimator="straight_through"
                    ),
                )
                loc = w[..., 0] * b + w[..., 1] * c + w[..., 2] * b * c
                pyro.sample("x", dist.Normal(loc, 0.5), obs=self.data)

    def guide(self, kind):
        with pyro.plate("replicates", self.num_replicates, dim=-2):
            pyro.sample("c", _bernoulli(self.leaves["global_logits"], kind))
            with pyro.plate("items", len(self.data), dim=-1):
                pyro.sample("b", _bernoulli(self.leaves["bits_logits"], kind))

    def exact_elbo(self, bits_logits, global_logits, weights):
        total = 0.0
        p = self.prior_probs
        for config in itertools.product([0.0, 1.0], repeat=len(self.data) + 1):
            *b, c = torch.tensor(config).unbind()
            b = torch.stack(b)
            log_q = torch.distributions.Bernoulli(logits=bits_logits).log_prob(
                b
            ).sum() + torch.distributions.Bernoulli(logits=global_logits[0]).log_prob(c)
            w = weights[0]
            loc = w[0] * b + w[1] * c + w[2] * b * c
            log_p = (
                torch.distributions.Bernoulli(p[0]).log_prob(b).sum()
                + torch.distributions.Bernoulli(p[2]).log_prob(c)
                + torch.distributions.Normal(loc, 0.5).log_prob(self.data).sum()
            )
            total = total + log_q.exp() * (log_p - log_q)
        return total


class MixedProblem(Problem):
    r"""
    A continuous global :math:`\mu \sim N(0, 1)` (guide :math:`N(m, s)`), a global site
    ``y`` of two categorical variables (``to_event(1)``) and local categorical ``z_m``
    in a plate of 2: :math:`x_m \sim N(z_m \cdot l + y_0 \cdot a + y_1 \cdot c + \mu, 1)`.
    The expectation over :math:`\mu` is in closed form.
    """

    discrete_logits = ("y_logits", "z_logits")
    data = _tensor([2.0, -1.0])
    a = _tensor([0.0, 1.0, -1.0])
    c = _tensor([0.5, -0.5, 1.5])
    y_prior_logits = _tensor([[0.0, 0.5, -0.5], [0.3, 0.0, 0.0]])
    z_prior_logits = _tensor([0.0, -1.0, 0.5])

    def parameters(self):
        return {
            "y_logits": torch.tensor([[[0.2, -0.4, 0.3], [-0.5, 0.1, 0.6]]]),
            "z_logits": torch.tensor([[0.3, 0.0, -0.6], [1.0, -0.5, 0.2]]),
            "loc": torch.tensor([0.4]),
            "log_scale": torch.tensor([-0.7]),
            "locs": torch.tensor([[-1.0, 0.5, 2.0]]),
        }

    def model(self, kind):
        y_prior = RelaxedCategoricalConcreteStraightThrough(
            1.0, logits=self.y_prior_logits, estimator="straight_through"
        )
        z_prior = RelaxedCategoricalConcreteStraightThrough(
            1.0, logits=self.z_prior_logits, estimator="straight_through"
        )
        with pyro.plate("replicates", self.num_replicates, dim=-2):
            mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
            y = pyro.sample("y", y_prior.to_event(1))
            with pyro.plate("data", len(self.data), dim=-1):
                z = pyro.sample("z", z_prior)
                loc = (z * self.leaves["locs"]).sum(-1) + y[..., 0, :] @ self.a
                loc = loc + y[..., 1, :] @ self.c + mu
                pyro.sample("x", dist.Normal(loc, 1.0), obs=self.data)

    def guide(self, kind):
        leaves = self.leaves
        with pyro.plate("replicates", self.num_replicates, dim=-2):
            pyro.sample("mu", dist.Normal(leaves["loc"], leaves["log_scale"].exp()))
            pyro.sample("y", _categorical(leaves["y_logits"], kind).to_event(1))
            with pyro.plate("data", len(self.data), dim=-1):
                pyro.sample("z", _categorical(leaves["z_logits"], kind))

    def exact_elbo(self, y_logits, z_logits, loc, log_scale, locs):
        log_qy, log_qz = y_logits[0].log_softmax(-1), z_logits.log_softmax(-1)
        log_py, log_pz = self.y_prior_logits.log_softmax(-1), self.z_prior_logits.log_softmax(-1)
        m, s2 = loc[0], (2 * log_scale[0]).exp()
        # E log N(mu; 0, 1) plus the entropy of N(m, s): the log(2 pi) terms cancel.
        total = 0.5 - 0.5 * (m**2 + s2) + log_scale[0]
        for y0, y1, *zs in itertools.product(range(3), repeat=2 + len(self.data)):
            log_q = log_qy[0, y0] + log_qy[1, y1] + sum(log_qz[m_, k] for m_, k in enumerate(zs))
            log_p = log_py[0, y0] + log_py[1, y1] + sum(log_pz[k] for k in zs)
            mean = locs[0, list(zs)] + self.a[y0] + self.c[y1] + m
            log_p = log_p + (_normal_log_prob(self.data, mean) - 0.5 * s2).sum()
            total = total + log_q.exp() * (log_p - log_q)
        return total


class ScoreFunctionSiteProblem(CategoricalProblem):
    """``CategoricalProblem`` and a plain ``Bernoulli`` latent ``w``, which has no relaxation."""

    discrete_logits = ("w_logits", "logits")

    def parameters(self):
        return dict(w_logits=_tensor(0.3), **super().parameters())

    def model(self, kind):
        prior = RelaxedCategoricalConcreteStraightThrough(
            1.0, logits=self.prior_logits, estimator="straight_through"
        )
        with pyro.plate("replicates", self.num_replicates):
            z = pyro.sample("z", prior)
            w = pyro.sample("w", dist.Bernoulli(0.4))
            loc = (z.unsqueeze(-1) * self.leaves["locs"]).sum(-2) + 1.5 * w.unsqueeze(-1)
            pyro.sample("x", dist.Normal(loc, 1.0).to_event(1), obs=self.data)

    def guide(self, kind):
        with pyro.plate("replicates", self.num_replicates):
            pyro.sample("z", _categorical(self.leaves["logits"], kind))
            pyro.sample("w", dist.Bernoulli(logits=self.leaves["w_logits"]))

    def exact_elbo(self, w_logits, logits, locs):
        log_qz, log_qw = (
            logits.log_softmax(-1),
            torch.stack([0 * w_logits, w_logits]).log_softmax(-1),
        )
        log_pw = _tensor([0.6, 0.4]).log()
        total = 0.0
        for w in range(2):
            log_p = self.prior_logits + _normal_log_prob(self.data, locs + 1.5 * w).sum(-1)
            log_p = log_p + log_pw[w] - log_qw[w]
            total = total + log_qw[w].exp() * (log_qz.exp() * (log_p - log_qz)).sum()
        return total


PROBLEMS = [CategoricalProblem, BernoulliProblem, MixedProblem]


def z_scores(estimates, exact):
    """``|mean - exact| / standard error``; a coordinate without variance must be exact."""
    standard_error = estimates.std(0) / math.sqrt(len(estimates))
    error = (estimates.mean(0) - exact).abs()
    without_variance = error.where(error == 0, math.inf)
    return torch.where(standard_error > 0, error / standard_error, without_variance)


def assert_unbiased(estimates, exact):
    z = z_scores(estimates, exact)
    assert z.max() < Z_THRESHOLD, f"z-scores {z.tolist()}"


def total_variance(estimates):
    return float(estimates.var(0).sum())


def tune_controls(problem, elbo, num_steps, learning_rate=0.05):
    """Steps only the estimator's own parameters: the problem's leaves are not Pyro's."""
    svi = SVI(problem.model, problem.guide, Adam({"lr": learning_rate}), elbo)
    for _ in range(num_steps):
        svi.step("straight_through")
    elbo.variance_objective = False


@pytest.mark.parametrize("problem_class", PROBLEMS)
def test_rebar_unbiased(problem_class):
    problem = problem_class(NUM_REPLICATES)
    assert_unbiased(problem.estimates(TraceREBAR_ELBO()), problem.exact())


def test_other_discrete_sites_get_the_score_function():
    problem = ScoreFunctionSiteProblem(NUM_REPLICATES)
    assert_unbiased(problem.estimates(TraceREBAR_ELBO()), problem.exact())


@pytest.mark.parametrize("problem_class", PROBLEMS)
def test_straight_through_is_detected_as_biased(problem_class):
    # The power of the z-test: it rejects the straight-through gradient on the same problems.
    problem = problem_class(NUM_REPLICATES)
    assert z_scores(problem.estimates(Trace_ELBO()), problem.exact()).max() > 2 * Z_THRESHOLD


@pytest.mark.parametrize("elbo_class", [TraceREBAR_ELBO, TraceRELAX_ELBO])
def test_scale_and_mask(elbo_class):
    # Scaled sites scale the gradient; a masked replicate has none (as under Trace_ELBO).
    problem = MixedProblem(NUM_REPLICATES)
    keep = torch.arange(NUM_REPLICATES) % 2 == 0
    model, guide = problem.model, problem.guide
    problem.model = poutine.mask(poutine.scale(model, scale=3.0), mask=keep.unsqueeze(-1))
    problem.guide = poutine.mask(poutine.scale(guide, scale=3.0), mask=keep.unsqueeze(-1))
    estimates = problem.estimates(elbo_class())
    assert (estimates[~keep] == 0).all()
    assert_unbiased(estimates[keep], 3 * problem.exact())


def test_particles_average_the_estimates():
    problem = CategoricalProblem(NUM_REPLICATES // 2)
    estimates = problem.estimates(TraceREBAR_ELBO(num_particles=2))
    assert_unbiased(estimates, problem.exact())


# Total variance of the discrete sites' gradients relative to the score function's
# (TraceGraph_ELBO, no baselines), measured with these seeds:
#                    REBAR initially   REBAR tuned   RELAX tuned   (50 steps)
#   categorical          0.27             0.11          0.08
#   Bernoulli            0.49             0.27          0.15
#   mixed                0.28             0.17          0.15
# The assertions leave a margin for the estimates' own noise (20000 rows).
@pytest.mark.parametrize("elbo_class", [TraceREBAR_ELBO, TraceRELAX_ELBO])
@pytest.mark.parametrize("problem_class", PROBLEMS)
def test_tuned_controls_reduce_variance_and_stay_unbiased(problem_class, elbo_class):
    problem = problem_class(NUM_REPLICATES)
    score_function = total_variance(
        problem.discrete_part(problem.estimates(TraceGraph_ELBO(), "score_function"))
    )
    initial = problem.discrete_part(problem.estimates(TraceREBAR_ELBO()))
    initial = total_variance(initial) / score_function
    assert initial < 0.6
    elbo = elbo_class()
    tune_controls(problem_class(2000), elbo, num_steps=50)
    if elbo_class is TraceRELAX_ELBO:  # the networks have left their initial zero
        outputs = [v for name, v in pyro.get_param_store().items() if name.endswith("2.weight")]
        assert len(outputs) == len(problem.discrete_logits)
        assert all(v.abs().sum() > 0 for v in outputs)
    estimates = problem.estimates(elbo)
    tuned = total_variance(problem.discrete_part(estimates)) / score_function
    assert tuned < 0.8 * initial
    assert_unbiased(estimates, problem.exact())


def second_moment(problem, elbo, seed):
    """The variance objective of one step, ``sum(g ** 2)`` over the discrete logits."""
    pyro.set_rng_seed(seed)
    return float(problem.discrete_part(problem.estimates(elbo)).pow(2).sum())


@pytest.mark.parametrize("elbo_class", [TraceREBAR_ELBO, TraceRELAX_ELBO])
def test_variance_objective_gradient_matches_finite_differences(elbo_class):
    # With common random numbers the one-step objective is a smooth function of the
    # controls: the gradient accumulated into them must be its derivative.
    problem = MixedProblem(50)
    elbo = elbo_class()
    second_moment(problem, elbo, seed=0)  # creates the parameters (RELAX: the networks)
    store = pyro.get_param_store()
    controls = {name: store.get_param(name).unconstrained() for name in store.keys()}
    for leaf in controls.values():
        leaf.grad = None
    second_moment(problem, elbo, seed=1)
    accumulated = {name: leaf.grad.flatten()[0].item() for name, leaf in controls.items()}
    elbo.variance_objective = False
    step = 1e-5
    for name, leaf in controls.items():
        values = []
        for sign in (1, -1):
            with torch.no_grad():
                leaf.view(-1)[0] += sign * step
            values.append(second_moment(problem, elbo, seed=1))
            with torch.no_grad():
                leaf.view(-1)[0] -= sign * step
        finite_difference = (values[0] - values[1]) / (2 * step)
        assert accumulated[name] == pytest.approx(finite_difference, rel=1e-4, abs=1e-6), name


@pytest.mark.parametrize("elbo_class", [TraceREBAR_ELBO, TraceRELAX_ELBO])
@pytest.mark.parametrize("problem_class", PROBLEMS)
def test_loss_equals_trace_elbo(problem_class, elbo_class):
    problem = problem_class(10)
    guide_trace = poutine.trace(problem.guide).get_trace("straight_through")
    guide = poutine.replay(problem.guide, trace=guide_trace)
    expected = Trace_ELBO().loss(problem.model, guide, "straight_through")
    assert elbo_class().loss(problem.model, guide, "straight_through") == pytest.approx(
        expected, rel=1e-12
    )
    assert elbo_class().loss_and_grads(problem.model, guide, "straight_through") == (
        pytest.approx(expected, rel=1e-12)
    )


def mixture(prior, subsample_size=None, calls=None):
    """A mixture of three unit Gaussians; ``calls`` collects the data subsamples it sees."""
    data = torch.tensor([-3.0, -2.5, 0.1, 0.3, 4.0, 4.4])

    def model():
        locs = pyro.param("locs", torch.tensor([-1.0, 0.0, 1.0]))
        with pyro.plate("data", len(data), subsample_size=subsample_size) as index:
            if calls is not None:
                calls.append(index)
            z = pyro.sample("z", prior)
            pyro.sample("x", dist.Normal(z @ locs, 1.0), obs=data[index])

    return model


def local_guide(subsample_size=None):
    def guide():
        logits = pyro.param("logits", torch.zeros(6, 3))
        with pyro.plate("data", 6, subsample_size=subsample_size) as index:
            pyro.sample(
                "z",
                RelaxedCategoricalConcreteStraightThrough(
                    0.5, logits=logits[index], estimator="straight_through"
                ),
            )

    return guide


def uniform():
    return RelaxedCategoricalConcreteStraightThrough(
        1.0, logits=torch.zeros(3), estimator="straight_through"
    )


@pytest.mark.parametrize("elbo_class", [TraceREBAR_ELBO, TraceRELAX_ELBO])
def test_relaxed_evaluations_see_the_same_subsample(elbo_class):
    calls = []
    elbo_class().loss_and_grads(mixture(uniform(), 3, calls), local_guide(3))
    assert len(calls) == 3  # at b, at sigma(z), at sigma(z~)
    assert all(torch.equal(index, calls[0]) for index in calls)


@pytest.mark.parametrize("elbo_class", [TraceREBAR_ELBO, TraceRELAX_ELBO])
def test_svi_with_autoconcrete_and_particles(elbo_class):
    model = mixture(uniform(), subsample_size=4)
    elbo = elbo_class(num_particles=3, vectorize_particles=True, max_plate_nesting=1)
    svi = SVI(model, AutoConcrete(model), Adam({"lr": 0.05}), elbo)
    losses = [svi.step() for _ in range(10)]
    assert all(math.isfinite(loss) for loss in losses)
    store = pyro.get_param_store()
    prefix = elbo.prefix
    for name in (f"{prefix}.eta.z", f"{prefix}.temperature.z"):
        assert name in store
    # The optimiser has moved the controls away from their initial values.
    assert store[f"{prefix}.eta.z"].item() != 1.0
    assert store[f"{prefix}.temperature.z"].item() != pytest.approx(0.5, abs=1e-6)


def test_relax_reparam_gives_the_model_a_linear_prior():
    model = poutine.reparam(
        mixture(dist.OneHotCategorical(logits=torch.zeros(3))), config={"z": RelaxReparam(1.0)}
    )
    assert math.isfinite(TraceREBAR_ELBO().loss_and_grads(model, local_guide()))


@pytest.mark.parametrize(
    "prior, match",
    [
        (dist.OneHotCategorical, "OneHotCategorical.log_prob reads the index of its largest"),
        (dist.Categorical, "Categorical.log_prob reads an integer index"),
        (dist.Dirichlet, "Dirichlet.log_prob is not known to be linear"),
    ],
)
def test_model_distribution_without_linear_log_prob_is_an_error(prior, match):
    with pytest.raises(ValueError, match=match):
        TraceREBAR_ELBO().loss_and_grads(mixture(prior(torch.ones(3) / 3)), local_guide())


def test_zero_prior_probability_is_an_error():
    prior = RelaxedCategoricalConcreteStraightThrough(
        1.0, probs=torch.tensor([0.5, 0.5, 0.0]), estimator="straight_through"
    )
    with pytest.raises(ValueError, match="not finite at relaxed values"):
        TraceREBAR_ELBO().loss_and_grads(mixture(prior), local_guide())


def test_zero_guide_probability_is_an_error():
    def guide():
        probs = torch.tensor([0.5, 0.5, 0.0]).requires_grad_()
        with pyro.plate("data", 6):
            pyro.sample(
                "z",
                RelaxedCategoricalConcreteStraightThrough(
                    0.5, probs=probs, estimator="straight_through"
                ),
            )

    with pytest.raises(ValueError, match="needs finite logits at site 'z'"):
        TraceREBAR_ELBO().loss_and_grads(mixture(uniform()), guide)


def dependent_guides():
    def continuous_after_discrete():  # the semi-supervised M2 guide's shape
        y = pyro.sample(
            "y",
            RelaxedCategoricalConcreteStraightThrough(
                0.5, logits=torch.zeros(3), estimator="straight_through"
            ),
        )
        pyro.sample("w", dist.Normal(y @ pyro.param("w_locs", torch.zeros(3)), 1.0))

    def discrete_after_discrete():
        y = pyro.sample(
            "y",
            RelaxedCategoricalConcreteStraightThrough(
                0.5, logits=torch.zeros(3), estimator="straight_through"
            ),
        )
        logits = pyro.param("w_logits", torch.zeros(3)) + y
        pyro.sample(
            "w",
            RelaxedCategoricalConcreteStraightThrough(
                0.5, logits=logits, estimator="straight_through"
            ),
        )

    return [continuous_after_discrete, discrete_after_discrete]


@pytest.mark.parametrize("guide", dependent_guides())
def test_guide_depending_on_a_straight_through_value_is_an_error(guide):
    def model():
        y = pyro.sample(
            "y",
            RelaxedCategoricalConcreteStraightThrough(
                1.0, logits=torch.zeros(3), estimator="straight_through"
            ),
        )
        if guide.__name__ == "continuous_after_discrete":
            w = pyro.sample("w", dist.Normal(0.0, 1.0))
        else:
            w = pyro.sample(
                "w",
                RelaxedCategoricalConcreteStraightThrough(
                    1.0, logits=y, estimator="straight_through"
                ),
            )
            w = w.sum()
        pyro.sample("x", dist.Normal(w, 1.0), obs=torch.tensor(0.5))

    with pytest.raises(ValueError, match="depends on the value of the straight-through site 'y'"):
        TraceREBAR_ELBO().loss_and_grads(model, guide)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "temperature must be a positive finite number"),
        ({"temperature": math.inf}, "temperature must be a positive finite number"),
        ({"temperature": "1"}, "temperature must be a positive finite number"),
        ({"eta": math.nan}, "eta must be a finite number"),
        ({"prefix": ""}, "prefix must be a non-empty string"),
    ],
)
@pytest.mark.parametrize("elbo_class", [TraceREBAR_ELBO, TraceRELAX_ELBO])
def test_bad_arguments(elbo_class, kwargs, match):
    with pytest.raises(ValueError, match=match):
        elbo_class(**kwargs)


@pytest.mark.parametrize("hidden_size", [0, 2.5, True])
def test_bad_hidden_size(hidden_size):
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        TraceRELAX_ELBO(hidden_size=hidden_size)
