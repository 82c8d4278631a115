# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
What the models of the suite share: the methods compared, the score-function
baseline, training loops that time their steps, ELBO estimates, and the record
of a run.
"""

import math
import time
from typing import Callable, Dict, List, NamedTuple, Optional

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.infer import SVI, TraceEnum_ELBO, TraceGraph_ELBO, config_enumerate
from pyro.optim import Adam
from pyro.poutine.messenger import Messenger

from pyro_concrete import (
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcreteStraightThrough,
)


class Method(NamedTuple):
    """A gradient estimator of the discrete sites and its temperature."""

    estimator: str
    temperature: Optional[float] = None

    @property
    def label(self) -> str:
        if self.temperature is None:
            return self.estimator
        return f"{self.estimator} τ={self.temperature:g}"

    @property
    def is_score_function(self) -> bool:
        return self.estimator == "score_function"


#: The methods every model is trained with: the three straight-through estimators
#: over temperatures (ReinMax's paper requires τ >= 1), and the score-function
#: estimator of TraceGraph_ELBO, which has no temperature.
METHODS = (
    Method("straight_through", 0.3),
    Method("straight_through", 0.5),
    Method("straight_through", 1.0),
    Method("gumbel_rao", 0.3),
    Method("gumbel_rao", 0.5),
    Method("gumbel_rao", 1.0),
    Method("reinmax", 1.0),
    Method("reinmax", 2.0),
    Method("score_function"),
)
QUICK_METHODS = (
    Method("straight_through", 0.5),
    Method("gumbel_rao", 0.5),
    Method("reinmax", 1.0),
    Method("score_function"),
)
#: The methods that have a temperature and a straight-through gradient.
STRAIGHT_THROUGH_ESTIMATORS = ("straight_through", "gumbel_rao", "reinmax")


def _discrete_law(fn):
    """
    The plain discrete distribution with the law of a straight-through ``fn``
    (possibly inside ``Independent``), or ``None`` for any other distribution.
    """
    if isinstance(fn, torch.distributions.Independent):
        base = _discrete_law(fn.base_dist)
        return None if base is None else base.to_event(fn.reinterpreted_batch_ndims)
    if isinstance(fn, RelaxedCategoricalConcreteStraightThrough):
        return dist.OneHotCategorical(logits=fn.logits)
    if isinstance(fn, RelaxedBernoulliConcreteStraightThrough):
        return dist.Bernoulli(logits=fn.logits)
    return None


class ScoreFunction(Messenger):
    """
    Turns a guide with straight-through sites into the score-function baseline:
    each latent straight-through site is sampled from its plain discrete law
    (``OneHotCategorical`` or ``Bernoulli``, same logits), which has no
    reparameterised sample, so :class:`~pyro.infer.TraceGraph_ELBO` gives it a
    score-function gradient, Rao-Blackwellised along plates, with a decaying
    average baseline.
    """

    def _pyro_sample(self, msg):
        law = None if msg["is_observed"] else _discrete_law(msg["fn"])
        if law is not None:
            msg["fn"] = law
            baseline = {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}
            msg["infer"] = dict(msg["infer"], baseline=baseline)


def score_function_guide(guide: Callable) -> Callable:
    """``guide`` with its straight-through sites sampled for the score-function estimator."""

    def wrapped(*args, **kwargs):
        with ScoreFunction():
            return guide(*args, **kwargs)

    return wrapped


class Fit(NamedTuple):
    """The losses of a training run and its wall time per step."""

    losses: List[float]
    seconds_per_step: float

    @property
    def final_loss(self) -> float:
        """The mean training loss over the last tenth of the run (at least one step)."""
        tail = self.losses[-max(1, len(self.losses) // 10) :]
        return sum(tail) / len(tail)


def train(step: Callable[[], float], num_steps: int = None, seconds: float = None) -> Fit:
    """
    Calls ``step`` ``num_steps`` times, or until ``seconds`` have passed (the
    equal-time budget of the intractable models). Time is this process's CPU
    time: with one thread it is the wall time of an idle machine, and it does
    not count the time other programs take on a shared one.
    """
    if (num_steps is None) == (seconds is None):
        raise ValueError("give exactly one of num_steps and seconds")
    losses = []
    start = time.process_time()
    while True:
        losses.append(step())
        elapsed = time.process_time() - start
        if (num_steps is not None and len(losses) >= num_steps) or (
            seconds is not None and elapsed >= seconds
        ):
            break
    if not all(math.isfinite(loss) for loss in losses):
        raise FloatingPointError(f"a training loss is not finite: {losses[-5:]}")
    return Fit(losses, elapsed / len(losses))


def svi_step(model, guide, optim, elbo, *args) -> Callable[[], float]:
    """One SVI step of ``model`` and ``guide`` on ``args``, as a function."""
    svi = SVI(model, guide, optim, elbo)
    return lambda: svi.step(*args)


def elbo_estimate(elbo, model, guide, *args, num_estimates: int = 5) -> Dict[str, float]:
    """
    The mean of ``num_estimates`` ELBO estimates (``-elbo.loss``, with the
    particles ``elbo`` was made with) and its standard error.
    """
    # Not under torch.no_grad(): straight-through samples drawn without a gradient
    # are scored as not reparameterised (TraceMeanField_ELBO then refuses them).
    estimates = torch.tensor([-elbo.loss(model, guide, *args) for _ in range(num_estimates)])
    return {
        "elbo": estimates.mean().item(),
        "elbo_error": estimates.std().item() / math.sqrt(num_estimates),
    }


def enumerated_marginals(model, guide, names, *args) -> Dict[str, dist.Distribution]:
    """
    The posterior marginals of the discrete sites ``names`` of ``model``, summed
    out by enumeration, with the continuous sites fixed at ``guide``'s medians.
    """
    conditioned = poutine.condition(config_enumerate(model), data=guide.median(*args))
    marginals = TraceEnum_ELBO(max_plate_nesting=1).compute_marginals(
        conditioned, lambda *args: None, *args
    )
    return {name: marginals[name] for name in names}


def autoconcrete_options(method: Optional[Method]) -> Dict:
    """
    AutoConcrete's keyword arguments for ``method``: none (its defaults) for
    ``None`` and for the score function, which does not use them.
    """
    if method is None or method.is_score_function:
        return {}
    return {"estimator": method.estimator, "temperature": method.temperature}


def training(guide, method: Optional[Method], elbo_class, name: Optional[str] = None):
    """
    The guide, ELBO and ELBO's name that train with ``method``: ``elbo_class()``
    (named ``name``, by default its class's name) for the straight-through
    estimators and for ``method=None``, ``TraceGraph_ELBO`` for the score function.
    """
    if method is not None and method.is_score_function:
        return score_function_guide(guide), TraceGraph_ELBO(), "TraceGraph_ELBO"
    return guide, elbo_class(), name or elbo_class.__name__


def minibatch_step(model, guide, elbo, images: torch.Tensor, batch_size: int, *args):
    """One SVI step on a random minibatch of ``images``, as a function; its loss per image."""
    svi = SVI(model, guide, Adam({"lr": 1e-3}), elbo)

    def step():
        batch = images[torch.randint(len(images), (batch_size,))]
        return svi.step(batch, *args) / batch_size

    return step


def reset(seed: int) -> None:
    """A fresh parameter store and random state for a run."""
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)


def record(case: str, method: Optional[Method], seed: int, fit: Optional[Fit], **metrics) -> Dict:
    """One row of the results: the run, its time per step, and its metrics."""
    row = {
        "model": case,
        "estimator": "exact" if method is None else method.estimator,
        "temperature": None if method is None else method.temperature,
        "seed": seed,
    }
    if fit is not None:
        row.update(steps=len(fit.losses), ms_per_step=1000 * fit.seconds_per_step)
    row.update(metrics)
    return row
