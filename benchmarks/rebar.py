# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
REBAR and RELAX (:class:`~pyro_concrete.infer.TraceREBAR_ELBO`,
:class:`~pyro_concrete.infer.TraceRELAX_ELBO`) against the straight-through
estimators and the score function, on three models:

- **gmm**: Pyro's Gaussian-mixture tutorial (``tutorial/source/gmm.ipynb``) with a
  one-hot assignment used as ``assignment @ locs``, on the tutorial's five points
  (two components) and on 300 points from three unit-variance components at
  :math:`-4, 0, 5`, guided by :class:`~pyro_concrete.infer.AutoConcrete`, started
  from its defaults and ("warm start") from enumeration's solution (its medians, and
  the assignments' posterior given them); scored by the guide's ELBO, its assignment
  accuracy (best relabelling) and its sorted component means, against enumeration
  (``TraceEnum_ELBO``, assignments summed out, ``AutoNormal`` on the rest).
- **vae**: a categorical VAE on the bundled digits, four latents of four categories
  (four sites), MLPs of 128 units; scored on the test images by the exact ELBO and
  the exact :math:`\log p(x)` (256 codes summed), in nats per image.
- **sbn**: a sigmoid belief net on the digits, 64 Bernoulli latents (one site),
  a learned prior, a linear decoder and an MLP encoder; scored on the test images by
  the ELBO and the importance-sampled bound (Burda et al., 1000 samples).

Each model's prior at a discrete site is the straight-through class (the law of
``OneHotCategorical`` / ``Bernoulli``, with the ``log_prob`` REBAR needs). The
estimators differ only in the guide's distribution at the discrete sites and the
ELBO: ``straight_through``, ``gumbel_rao`` (τ = 0.5) and ``reinmax`` (τ = 1) under
``Trace_ELBO``; ``score_function``, the plain discrete law under ``TraceGraph_ELBO``
with a decaying-average baseline; ``rebar`` and ``relax`` with their own ELBOs (the
controls stepped at 0.1 on the mixture, as its other parameters, and at
``--control-lr`` (0.01) on the networks, whose other parameters use 1e-3).

Gradient variance: at eight points of each run, the total variance (summed over
coordinates) of the gradient of the guide's parameters (the encoder; AutoConcrete's
assignment logits), from ``--variance-samples`` evaluations at fixed parameters, for
the run's own estimator and for the score function without baseline at the same
parameters; on the REBAR run also REBAR with its initial controls (η = 1, τ = 0.5).
Times are CPU seconds per step of one thread, the median over the run (variance
measurements excluded); validation is off.

Run ``python benchmarks/rebar.py`` (``--quick`` for a smoke run). It prints markdown
tables and writes them to ``rebar_results.md``, with ``rebar_results.json`` and
``rebar_variance.png`` (gradient variance over training), to ``--out``.
"""

import argparse
import functools
import itertools
import json
import math
import os
import statistics
import time

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.infer import SVI, Trace_ELBO, TraceEnum_ELBO, TraceGraph_ELBO, config_enumerate
from pyro.infer.autoguide import AutoNormal, init_to_median, init_to_value
from pyro.optim import Adam
from pyro.poutine.messenger import Messenger
from torch import nn

from pyro_concrete import (
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcreteStraightThrough,
)
from pyro_concrete.examples.data import load_dataset
from pyro_concrete.infer import AutoConcrete, TraceREBAR_ELBO, TraceRELAX_ELBO

# isort: split
# The model suite beside this script.
from suite import mixture

ESTIMATORS = ("straight_through", "gumbel_rao", "reinmax", "score_function", "rebar", "relax")
TEMPERATURES = {"straight_through": 0.5, "gumbel_rao": 0.5, "reinmax": 1.0}
CONTROL_PREFIXES = ("rebar.", "relax.")
STRAIGHT_THROUGH = (
    RelaxedCategoricalConcreteStraightThrough,
    RelaxedBernoulliConcreteStraightThrough,
)


# Estimators -------------------------------------------------------------------------


def _replace_base(fn, replace):
    if isinstance(fn, torch.distributions.Independent):
        return _replace_base(fn.base_dist, replace).to_event(fn.reinterpreted_batch_ndims)
    return replace(fn)


class Estimator(Messenger):
    """
    Sets the guide's straight-through sites up for ``estimator``: the estimator and
    temperature of a straight-through one; the plain discrete law (no reparameterised
    sample) for the score function, with a decaying-average baseline if
    ``baseline``; unchanged for REBAR and RELAX.
    """

    def __init__(self, estimator, baseline=False):
        super().__init__()
        self.estimator, self.baseline = estimator, baseline

    def _law(self, base):
        if self.estimator == "score_function":
            binary = isinstance(base, RelaxedBernoulliConcreteStraightThrough)
            return (dist.Bernoulli if binary else dist.OneHotCategorical)(logits=base.logits)
        temperature = TEMPERATURES[self.estimator]
        return type(base)(temperature, logits=base.logits, estimator=self.estimator)

    def _pyro_sample(self, msg):
        if msg["is_observed"] or self.estimator in ("rebar", "relax"):
            return
        base = msg["fn"]
        while isinstance(base, torch.distributions.Independent):
            base = base.base_dist
        if isinstance(base, STRAIGHT_THROUGH):
            msg["fn"] = _replace_base(msg["fn"], self._law)
            if self.estimator == "score_function" and self.baseline:
                baseline = {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}
                msg["infer"] = dict(msg["infer"], baseline=baseline)


def estimator_guide(guide, estimator, baseline=False):
    """``guide`` with its discrete sites set up for ``estimator``."""
    return Estimator(estimator, baseline)(guide)


def estimator_elbo(estimator, **kwargs):
    if estimator == "score_function":
        return TraceGraph_ELBO(**kwargs)
    if estimator == "rebar":
        return TraceREBAR_ELBO(**kwargs)
    if estimator == "relax":
        return TraceRELAX_ELBO(**kwargs)
    return Trace_ELBO(**kwargs)


def optimiser(learning_rate, control_learning_rate, **options):
    """Adam, with its own learning rate for REBAR's and RELAX's controls."""

    def per_parameter(name, _):
        rate = control_learning_rate if name.startswith(CONTROL_PREFIXES) else learning_rate
        return dict(options, lr=rate)

    return Adam(per_parameter)


# Gradient variance ------------------------------------------------------------------


def gradient_variance(model, guide, estimator, params, args, num_samples, elbo=None):
    """
    The total variance of the gradient of ``params`` over ``num_samples``
    evaluations at fixed parameters (no baseline for the score function).
    """
    elbo = estimator_elbo(estimator) if elbo is None else elbo
    tuning = getattr(elbo, "variance_objective", None)
    if tuning is not None:
        elbo.variance_objective = False
    guide = estimator_guide(guide, estimator)
    samples = []
    for _ in range(num_samples):
        for p in params:
            p.grad = None
        elbo.loss_and_grads(model, guide, *args)
        samples.append(torch.cat([p.grad.flatten() for p in params]))
    for p in pyro.get_param_store().values():
        p.unconstrained().grad = None
    if tuning is not None:
        elbo.variance_objective = tuning
    return torch.stack(samples).var(0).sum().item()


def initial_rebar():
    """REBAR with its initial controls, which the parameters of the run do not affect."""
    return TraceREBAR_ELBO(prefix="rebar_initial")


class VarianceProbe:
    """Measures the gradient variance at ``num_points`` points of a run of ``num_steps``."""

    def __init__(self, estimator, elbo, num_steps, num_points, num_samples):
        every = max(1, num_steps // num_points)
        self.steps = set(range(0, num_steps, every))
        self.estimator, self.elbo, self.num_samples = estimator, elbo, num_samples
        self.records = []

    def __call__(self, step, model, guide, params, args):
        if step not in self.steps or not self.num_samples:
            return
        with poutine.block():  # measurements add nothing to the run's parameters
            own = gradient_variance(
                model, guide, self.estimator, params, args, self.num_samples, self.elbo
            )
            score = gradient_variance(
                model, guide, "score_function", params, args, self.num_samples
            )
            record = {"step": step, "variance": own, "score_function": score}
            if self.estimator == "rebar":
                record["rebar_initial"] = gradient_variance(
                    model, guide, "rebar", params, args, self.num_samples, initial_rebar()
                )
        self.records.append(record)


def train(svi, batches, num_steps, probe, model, guide, params):
    """Runs SVI, timing each step in CPU seconds and probing the gradient variance."""
    losses, times = [], []
    for step in range(num_steps):
        args = batches(step)
        probe(step, model, guide, params(), args)
        start = time.process_time()
        losses.append(svi.step(*args))
        times.append(time.process_time() - start)
    if not all(math.isfinite(loss) for loss in losses):
        raise FloatingPointError(f"a training loss is not finite: {losses[-5:]}")
    return {
        "seconds_per_step": statistics.median(times[1:] or times),
        "final_loss": statistics.mean(losses[-max(1, num_steps // 10) :]),
        "variance": probe.records,
    }


def controls():
    """The REBAR and RELAX scalars of the parameter store."""
    store = pyro.get_param_store()
    return {
        name: store[name].item()
        for name in store.keys()
        if name.startswith(CONTROL_PREFIXES) and store[name].numel() == 1
    }


# Gaussian mixture -------------------------------------------------------------------


#: Pyro's tutorial model, the assignment straight-through (the law of OneHotCategorical),
#: so that REBAR's relaxed replay can score relaxed values.
gmm_model = functools.partial(
    mixture.model,
    assignment_law=functools.partial(
        RelaxedCategoricalConcreteStraightThrough, 1.0, estimator="straight_through"
    ),
)


def gmm_problems(seed, quick):
    problems = [mixture.tutorial_problem(seed, quick), mixture.synthetic_problem(seed, quick)]
    return {problem.name: (problem.data, problem.labels, problem.locs) for problem in problems}


def gmm_scores(guide, data, labels, truth, num_particles):
    """The guide's ELBO (Trace_ELBO, vectorised particles), accuracy and sorted means."""
    args = (data, len(truth))
    elbo = Trace_ELBO(num_particles=num_particles, vectorize_particles=True, max_plate_nesting=1)
    median = guide.median(*args)
    means = median["locs"].sort().values
    return {
        "elbo": -elbo.loss(gmm_model, guide, *args),
        "accuracy": mixture.accuracy(median["assignment"].argmax(-1), labels, len(truth)),
        "means": means.tolist(),
        "mean_error": (means - truth).abs().max().item(),
    }


def gmm_enumeration(data, labels, truth, num_steps, num_particles):
    """
    The exact reference: assignments summed out, AutoNormal on the rest. Also
    returns its solution as a warm start for AutoConcrete: the medians and the
    log-posterior of each assignment given them.
    """
    args = (data, len(truth))
    guide = AutoNormal(poutine.block(gmm_model, hide=["assignment"]), init_loc_fn=init_to_median)
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    svi = SVI(config_enumerate(gmm_model), guide, optimiser(0.1, 0.0, betas=(0.8, 0.99)), elbo)
    start = time.process_time()
    for _ in range(num_steps):
        svi.step(*args)
    seconds = (time.process_time() - start) / num_steps
    median = {name: value.detach().clone() for name, value in guide.median(*args).items()}
    posterior = median["weights"].log() + dist.Normal(median["locs"], median["scale"]).log_prob(
        data.unsqueeze(-1)
    )
    enum = TraceEnum_ELBO(
        num_particles=num_particles, vectorize_particles=True, max_plate_nesting=1
    )
    means = median["locs"].sort().values
    scores = {
        "seconds_per_step": seconds,
        "elbo (assignments summed out)": -enum.loss(config_enumerate(gmm_model), guide, *args),
        "accuracy": mixture.accuracy(posterior.argmax(-1), labels, len(truth)),
        "means": means.tolist(),
        "mean_error": (means - truth).abs().max().item(),
    }
    return scores, (median, posterior.log_softmax(-1))


def autoconcrete(data, num_components, warm_start=None):
    """
    AutoConcrete with its defaults, or started from ``warm_start`` (medians of the
    continuous sites, assignment logits).
    """
    if warm_start is None:
        guide = AutoConcrete(gmm_model)
        guide(data, num_components)
        return guide
    median, logits = warm_start
    values = {name: value.clone() for name, value in median.items()}
    guide = AutoConcrete(gmm_model, init_loc_fn=init_to_value(values=values))
    guide(data, num_components)
    with torch.no_grad():
        guide.logits.assignment.unconstrained().copy_(logits)
    return guide


def gmm_run(estimator, problem, num_steps, args, warm_start=None):
    """AutoConcrete trained by ``estimator`` with the tutorial's optimiser."""
    data, labels, truth = problem
    model_args = (data, len(truth))
    guide = autoconcrete(*model_args, warm_start)
    elbo = estimator_elbo(estimator)
    training_guide = estimator_guide(guide, estimator, baseline=True)
    # The tutorial's optimiser; the controls at the same rate.
    optim = optimiser(0.1, 0.1, betas=(0.8, 0.99))
    svi = SVI(gmm_model, training_guide, optim, elbo)
    probe = VarianceProbe(estimator, elbo, num_steps, args.variance_points, args.variance_samples)

    def params():
        return [guide.logits.assignment.unconstrained()]

    fit = train(svi, lambda step: model_args, num_steps, probe, gmm_model, guide, params)
    scores = gmm_scores(guide, data, labels, truth, args.evaluation_particles)
    return dict(fit, **scores, controls=controls())


# Categorical VAE and sigmoid belief net -----------------------------------------------


def _mlp(sizes, activation):
    layers = []
    for size_in, size_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(size_in, size_out), activation()]
    return nn.Sequential(*layers[:-1])


class CategoricalVAE(nn.Module):
    """Four categorical latents of four categories, one site each, uniform prior."""

    num_latents, num_categories = 4, 4

    def __init__(self, num_pixels=64, hidden_size=128):
        super().__init__()
        code_size = self.num_latents * self.num_categories
        self.encoder = _mlp((num_pixels, hidden_size, code_size), nn.ReLU)
        self.decoder = _mlp((code_size, hidden_size, num_pixels), nn.ReLU)

    def posterior_logits(self, x):
        logits = self.encoder(x).unflatten(-1, (self.num_latents, self.num_categories))
        return logits.log_softmax(-1)

    def model(self, x):
        pyro.module("vae", self)
        prior = RelaxedCategoricalConcreteStraightThrough(
            1.0, logits=x.new_zeros(self.num_categories), estimator="straight_through"
        )
        with pyro.plate("data", len(x)):
            z = torch.cat([pyro.sample(f"z_{i}", prior) for i in range(self.num_latents)], -1)
            pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)

    def guide(self, x):
        pyro.module("vae", self)
        logits = self.posterior_logits(x)
        with pyro.plate("data", len(x)):
            for i in range(self.num_latents):
                pyro.sample(
                    f"z_{i}",
                    RelaxedCategoricalConcreteStraightThrough(
                        1.0, logits=logits[:, i], estimator="straight_through"
                    ),
                )

    @torch.no_grad()
    def scores(self, x):
        """Exact test ELBO and log p(x) per image, summed over the 256 codes."""
        codes = torch.tensor(
            list(itertools.product(range(self.num_categories), repeat=self.num_latents))
        )
        one_hot = nn.functional.one_hot(codes, self.num_categories).to(x.dtype)
        likelihood = dist.Bernoulli(logits=self.decoder(one_hot.flatten(-2))).to_event(1)
        log_likelihood = likelihood.log_prob(x.unsqueeze(-2))
        log_prior = -self.num_latents * math.log(self.num_categories)
        log_q = (one_hot * self.posterior_logits(x).unsqueeze(-3)).sum((-2, -1))
        elbo = (log_q.exp() * (log_likelihood + log_prior - log_q)).sum(-1)
        log_evidence = (log_likelihood + log_prior).logsumexp(-1)
        return {"elbo": elbo.mean().item(), "log_likelihood": log_evidence.mean().item()}


class SigmoidBeliefNet(nn.Module):
    """64 Bernoulli latents with a learned prior, a linear decoder, an MLP encoder."""

    def __init__(self, num_pixels=64, num_latents=64, hidden_size=128):
        super().__init__()
        self.prior_logits = nn.Parameter(torch.zeros(num_latents))
        self.decoder = nn.Linear(num_latents, num_pixels)
        self.encoder = _mlp((num_pixels, hidden_size, num_latents), nn.Tanh)

    def model(self, x):
        pyro.module("sbn", self)
        prior = RelaxedBernoulliConcreteStraightThrough(
            1.0, logits=self.prior_logits, estimator="straight_through"
        )
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", prior.to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)

    def guide(self, x):
        pyro.module("sbn", self)
        posterior = RelaxedBernoulliConcreteStraightThrough(
            1.0, logits=self.encoder(x), estimator="straight_through"
        )
        with pyro.plate("data", len(x)):
            pyro.sample("z", posterior.to_event(1))

    @torch.no_grad()
    def scores(self, x, num_samples=1000, chunk=50):
        """Test ELBO and importance-sampled bound per image."""
        elbos, bounds = [], []
        prior = dist.Bernoulli(logits=self.prior_logits).to_event(1)
        for images in x.split(chunk):
            posterior = dist.Bernoulli(logits=self.encoder(images)).to_event(1)
            z = posterior.sample((num_samples,))
            log_likelihood = dist.Bernoulli(logits=self.decoder(z)).to_event(1).log_prob(images)
            log_weights = log_likelihood + prior.log_prob(z) - posterior.log_prob(z)
            elbos.append(log_weights.mean(0))
            bounds.append(log_weights.logsumexp(0) - math.log(num_samples))
        return {
            "elbo": torch.cat(elbos).mean().item(),
            "is_bound": torch.cat(bounds).mean().item(),
        }


def network_run(network_class, estimator, data, num_steps, args):
    """Trains ``network_class`` on minibatches of 100 digits with Adam (1e-3)."""
    train_images, test_images = data
    net = network_class()
    elbo = estimator_elbo(estimator)
    training_guide = estimator_guide(net.guide, estimator, baseline=True)
    svi = SVI(net.model, training_guide, optimiser(1e-3, args.control_lr), elbo)
    probe = VarianceProbe(estimator, elbo, num_steps, args.variance_points, args.variance_samples)
    generator = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(train_images), generator=generator)
    batch_size = args.batch_size

    def batch(step):
        start = (step * batch_size) % (len(order) - batch_size + 1)
        return (train_images[order[start : start + batch_size]],)

    def params():
        return list(net.encoder.parameters())

    fit = train(svi, batch, num_steps, probe, net.model, net.guide, params)
    return dict(fit, **net.scores(test_images), controls=controls())


# Driver -------------------------------------------------------------------------------


def run_gmm(args, results):
    """Each seed: enumeration, then every estimator from AutoConcrete's defaults and warm."""
    for seed in range(args.gmm_seeds):
        for name, problem in gmm_problems(0, args.quick).items():
            num_steps = args.gmm_steps if "synthetic" in name else min(args.gmm_steps, 500)
            pyro.set_rng_seed(seed)
            pyro.clear_param_store()
            scores, warm_start = gmm_enumeration(*problem, num_steps, args.evaluation_particles)
            results.append(dict(model=name, estimator="enumeration", seed=seed, **scores))
            for estimator, start in itertools.product(args.estimators, ("default", "warm")):
                pyro.set_rng_seed(seed)
                pyro.clear_param_store()
                run = gmm_run(
                    estimator, problem, num_steps, args, warm_start if start == "warm" else None
                )
                model = name if start == "default" else f"{name}, warm start"
                results.append(dict(model=model, estimator=estimator, seed=seed, **run))
                _progress(results[-1])


def run_networks(args, results):
    train_images, test_images = load_dataset("digits", dtype=torch.get_default_dtype())
    if args.quick:
        train_images, test_images = train_images[:200], test_images[:20]
    models = {
        "categorical VAE (4 x 4)": CategoricalVAE,
        "sigmoid belief net (64 bits)": SigmoidBeliefNet,
    }
    for name, network_class in models.items():
        for estimator in args.estimators:
            pyro.set_rng_seed(args.seed)
            pyro.clear_param_store()
            run = network_run(
                network_class, estimator, (train_images, test_images), args.network_steps, args
            )
            results.append(dict(model=name, estimator=estimator, seed=args.seed, **run))
            _progress(results[-1])


def _progress(result):
    scores = {
        key: round(value, 3)
        for key, value in result.items()
        if isinstance(value, float) and key != "final_loss"
    }
    print(
        f"{result['model']} / {result['estimator']} (seed {result['seed']}): {scores}", flush=True
    )


def variance_ratio(result):
    """The median over the run's probe points of its gradient variance over the score function's."""
    ratios = [r["variance"] / r["score_function"] for r in result["variance"]]
    return statistics.median(ratios) if ratios else math.nan


def markdown(results):
    columns = {
        "elbo": "ELBO",
        "elbo (assignments summed out)": "ELBO (z summed)",
        "log_likelihood": "log p(x)",
        "is_bound": "IS bound",
        "accuracy": "accuracy",
        "means": "means",
    }
    lines = []
    for model in dict.fromkeys(r["model"] for r in results):
        rows = [r for r in results if r["model"] == model]
        reference = [r["seconds_per_step"] for r in rows if r["estimator"] == "straight_through"]
        present = [key for key in columns if any(key in r for r in rows)]
        header = ["estimator", "seed"] + [columns[k] for k in present]
        header += ["ms/step", "× Trace_ELBO", "variance / SF"]
        lines += [f"\n**{model}**\n", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        for r in rows:
            cells = [r["estimator"], str(r["seed"])]
            for key in present:
                value = r.get(key, "")
                if isinstance(value, list):
                    value = ", ".join(f"{v:+.2f}" for v in value)
                elif isinstance(value, float):
                    value = f"{value:.3f}" if key == "accuracy" else f"{value:.2f}"
                cells.append(str(value))
            relative = (
                r["seconds_per_step"] / statistics.median(reference) if reference else math.nan
            )
            ratio = variance_ratio(r) if "variance" in r else math.nan
            cells += [f"{1000 * r['seconds_per_step']:.1f}", f"{relative:.2f}", f"{ratio:.3g}"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in dict.fromkeys(r["model"] for r in results) if "tutorial" not in m]
    figure, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4), squeeze=False)
    for axis, model in zip(axes[0], models):
        for r in results:
            if r["model"] != model or r["seed"] != 0 or not r.get("variance"):
                continue
            steps = [p["step"] for p in r["variance"]]
            axis.semilogy(steps, [p["variance"] for p in r["variance"]], label=r["estimator"])
            if r["estimator"] == "rebar":
                for key, style, label in (
                    ("score_function", "--", "score function (REBAR's parameters)"),
                    ("rebar_initial", ":", "REBAR, initial η and τ"),
                ):
                    values = [p[key] for p in r["variance"]]
                    axis.semilogy(steps, values, style, color="0.4", label=label)
        axis.set_title(model)
        axis.set_xlabel("training step")
        axis.set_ylabel("gradient variance (guide parameters)")
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few steps")
    parser.add_argument("--models", default="gmm,networks")
    parser.add_argument("--estimators", default=",".join(ESTIMATORS))
    parser.add_argument("--gmm-steps", type=int, default=1500)
    parser.add_argument("--gmm-seeds", type=int, default=3)
    parser.add_argument("--network-steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--control-lr", type=float, default=0.01)
    parser.add_argument("--variance-points", type=int, default=8)
    parser.add_argument("--variance-samples", type=int, default=32)
    parser.add_argument("--evaluation-particles", type=int, default=500)
    parser.add_argument("--out", default="benchmarks")
    args = parser.parse_args(argv)
    args.estimators = args.estimators.split(",")
    if args.quick:
        args.gmm_steps, args.gmm_seeds, args.network_steps = 10, 1, 10
        args.batch_size, args.variance_points, args.variance_samples = 20, 2, 3
        args.evaluation_particles = 10
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    pyro.enable_validation(False)
    results = []
    models = args.models.split(",")
    if "gmm" in models:
        run_gmm(args, results)
    if "networks" in models:
        run_networks(args, results)
    table = markdown(results)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "rebar_results.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out, "rebar_results.json"), "w") as f:
        json.dump({"arguments": vars(args), "results": results}, f, indent=1)
    plot(results, os.path.join(args.out, "rebar_variance.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
