# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
Bias and variance of gradient estimators against the exact gradient.

The problem: a categorical variable
:math:`D \sim \mathrm{OneHotCategorical}(\mathrm{softmax}\,\theta)` with
:math:`K` categories and the objective :math:`\mathbb{E}[f(D)]`,
:math:`f(D) = \lVert D - t \rVert^2`, whose exact gradient
:math:`\sum_k \nabla_\theta \pi_k\, f(e_k)` is computed by enumeration. Each
estimator's per-sample gradients give its bias :math:`\lVert \mathbb{E}\hat g - g \rVert`
and its standard deviation :math:`\sqrt{\mathrm{tr}\,\mathrm{Cov}\,\hat g}`, relative
to :math:`\lVert g \rVert`.

Run ``python -m pyro_concrete.examples.gradient_estimators`` for the table; the
``gradient_estimators`` tutorial plots it.
"""

import argparse

import torch

from pyro_concrete import RelaxedCategoricalConcrete, RelaxedCategoricalConcreteStraightThrough

#: Estimators compared: the relaxed objective's pathwise gradient, the three
#: straight-through estimators, and the unbiased score-function baseline.
ESTIMATORS = ("relaxed", "straight_through", "gumbel_rao", "reinmax", "score_function")
TEMPERATURES = (0.1, 0.3, 0.5, 1.0, 2.0, 5.0)


def problem(num_categories=5, seed=0):
    """Logits and the target ``t`` of the test problem."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_categories, generator=generator, dtype=torch.float64)
    # A target far from uniform, so that f differs across categories.
    target = (
        torch.randn(num_categories, generator=generator, dtype=torch.float64).mul(2).softmax(-1)
    )
    return logits, target


def objective(value, target):
    return ((value - target) ** 2).sum(-1)


def exact_gradient(logits, target):
    """The gradient of E[f(D)] by enumeration of the K categories."""
    logits = logits.detach().requires_grad_()
    values = objective(torch.eye(len(logits), dtype=logits.dtype), target)
    (gradient,) = torch.autograd.grad((logits.softmax(-1) * values).sum(), [logits])
    return gradient


def per_sample_gradients(estimator, logits, target, temperature, num_samples, rao_samples=10):
    """``num_samples`` independent gradient estimates, one per row."""
    leaves = logits.detach().expand(num_samples, -1).clone().requires_grad_()
    if estimator == "relaxed":
        value = RelaxedCategoricalConcrete(temperature, logits=leaves).rsample()
        surrogate = objective(value, target)
    elif estimator == "score_function":
        d = torch.distributions.OneHotCategorical(logits=leaves)
        value = d.sample()
        surrogate = objective(value, target) * d.log_prob(value)
    else:
        d = RelaxedCategoricalConcreteStraightThrough(
            temperature, logits=leaves, estimator=estimator, rao_samples=rao_samples
        )
        surrogate = objective(d.rsample(), target)
    (gradients,) = torch.autograd.grad(surrogate.sum(), [leaves])
    return gradients


def bias_and_std(
    estimator, temperature, num_samples=20000, num_categories=5, seed=0, rao_samples=10
):
    """
    Relative bias and standard deviation of one estimator at one temperature,
    with the Monte Carlo standard error of the bias.

    :returns: a dict with ``bias``, ``bias_error`` and ``std``, each divided by
        the norm of the exact gradient.
    """
    logits, target = problem(num_categories, seed)
    exact = exact_gradient(logits, target)
    gradients = per_sample_gradients(
        estimator, logits, target, temperature, num_samples, rao_samples
    )
    norm = exact.norm()
    mean = gradients.mean(0)
    variance = gradients.var(0).sum()
    return {
        "bias": float((mean - exact).norm() / norm),
        "bias_error": float((variance / num_samples).sqrt() / norm),
        "std": float(variance.sqrt() / norm),
    }


def table(temperatures=TEMPERATURES, estimators=ESTIMATORS, num_samples=20000, seed=0):
    """
    Rows ``(estimator, temperature, bias, bias_error, std)``, ReinMax only at
    temperatures of at least 1.
    """
    torch.manual_seed(seed)
    rows = []
    for estimator in estimators:
        for temperature in temperatures:
            if estimator == "reinmax" and temperature < 1:
                continue
            result = bias_and_std(estimator, temperature, num_samples=num_samples, seed=seed)
            rows.append(
                (estimator, temperature, result["bias"], result["bias_error"], result["std"])
            )
    return rows


def markdown(rows):
    lines = [
        "| estimator | temperature | relative bias | (± s.e.) | relative std |",
        "|---|---|---|---|---|",
    ]
    for estimator, temperature, bias, error, std in rows:
        lines.append(f"| {estimator} | {temperature:g} | {bias:.3f} | {error:.3f} | {std:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--num-samples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logits, target = problem(seed=args.seed)
    print(
        f"K = {len(logits)}, exact gradient norm {float(exact_gradient(logits, target).norm()):.4f}"
    )
    print(markdown(table(num_samples=args.num_samples, seed=args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
