# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
The operations of the relaxed categorical distributions, ours against torch's and
Pyro's. Inputs (logits, temperature, distributions, samples to score, weights of
the loss) are built once, outside the timed calls; what each call includes is in
:data:`OPS`. Every distribution gets the same parameters: standard normal logits
and a 0-dim tensor temperature of 0.5 (torch's classes need a tensor).
"""

import functools
from typing import Callable, Dict, NamedTuple, Optional

import torch
import torch.nn.functional as F
from pyro.distributions import RelaxedOneHotCategoricalStraightThrough
from torch.distributions import RelaxedOneHotCategorical

from pyro_concrete import RelaxedCategoricalConcrete, RelaxedCategoricalConcreteStraightThrough

#: ``(batch, categories)`` of the logits.
SHAPES = ((1024, 10), (1024, 100), (256, 1000), (32, 100000))
TEMPERATURE = 0.5

#: What one timed call of each operation does.
OPS = {
    "rsample": "`rsample()` of a distribution built beforehand, under `torch.no_grad`; "
    "`F.gumbel_softmax(logits, tau)`",
    "log_prob": "`log_prob(value)` of a sample drawn beforehand from the same distribution, "
    "default validation (on), under `torch.no_grad`",
    "construct+rsample": "build the distribution with default validation (on), then "
    "`rsample()`, under `torch.no_grad`",
    "rsample fwd+bwd": "build (`validate_args=False`) from logits that require grad, "
    "`rsample()`, `(x * w).sum().backward()`",
    "rsample+log_prob fwd+bwd": "as `rsample fwd+bwd`, with loss "
    "`(x * w).sum() + log_prob(x).sum()`",
    "ST rsample": "straight-through `rsample()` of a distribution built beforehand, under "
    "`torch.no_grad`; `F.gumbel_softmax(logits, tau, hard=True)`",
    "ST fwd+bwd": "build (`validate_args=False`) from logits that require grad, "
    "straight-through `rsample()`, `(x * w).sum().backward()`",
}


class Anchor(NamedTuple):
    function: Callable[[], object]
    #: the most ``ours / anchor`` may be; None where the issue sets no target
    max_ratio: Optional[float]


class Case(NamedTuple):
    op: str
    ours: Callable[[], object]
    anchors: Dict[str, Anchor]
    #: the most ``ours`` may cost in passes of ``x.exp()``; None for no target
    max_exp_passes: Optional[float] = None

    def functions(self):
        """Ours (as ``"ours"``) and the anchors, by name."""
        functions = {"ours": self.ours}
        functions.update({name: anchor.function for name, anchor in self.anchors.items()})
        return functions


def _no_grad(function):
    def call():
        with torch.no_grad():
            return function()

    return call


def cases(shape, dtype, device):
    """The cases for logits of ``shape``, ``dtype`` and ``device``, a list of :class:`Case`."""
    generator = torch.Generator(device=device).manual_seed(0)
    logits = torch.randn(shape, dtype=dtype, device=device, generator=generator)
    weights = torch.randn(shape, dtype=dtype, device=device, generator=generator)
    leaf = logits.clone().requires_grad_()
    temperature = torch.tensor(TEMPERATURE, dtype=dtype, device=device)
    num_categories = shape[-1]

    ours = RelaxedCategoricalConcrete(temperature, logits=logits)
    theirs = RelaxedOneHotCategorical(temperature, logits=logits)
    ours_value, theirs_value = ours.rsample(), theirs.rsample()
    # Pyro's class and F.gumbel_softmax(hard=True) use the plain straight-through
    # estimator; ours is compared with the same one (its default is ReinMax).
    plain_straight_through = functools.partial(
        RelaxedCategoricalConcreteStraightThrough, estimator="straight_through"
    )
    ours_st = plain_straight_through(temperature, logits=logits)
    pyro_st = RelaxedOneHotCategoricalStraightThrough(temperature, logits=logits)

    def backward(loss):
        def call():
            loss().backward()
            leaf.grad = None

        return call

    def sample_loss(cls):
        return backward(
            lambda: (cls(temperature, logits=leaf, validate_args=False).rsample() * weights).sum()
        )

    def sample_log_prob_loss(cls):
        def loss():
            d = cls(temperature, logits=leaf, validate_args=False)
            value = d.rsample()
            return (value * weights).sum() + d.log_prob(value).sum()

        return backward(loss)

    gumbel_softmax = _no_grad(lambda: F.gumbel_softmax(logits, TEMPERATURE))
    hard_gumbel_softmax = _no_grad(lambda: F.gumbel_softmax(logits, TEMPERATURE, hard=True))
    result = [
        Case(
            "rsample",
            _no_grad(ours.rsample),
            {
                "torch": Anchor(_no_grad(theirs.rsample), 1.0),
                "F.gumbel_softmax": Anchor(gumbel_softmax, 0.5),
            },
            max_exp_passes=8.0 if num_categories >= 100 else None,
        ),
        Case(
            "log_prob",
            _no_grad(lambda: ours.log_prob(ours_value)),
            {"torch": Anchor(_no_grad(lambda: theirs.log_prob(theirs_value)), 1.0)},
        ),
        Case(
            "construct+rsample",
            _no_grad(lambda: RelaxedCategoricalConcrete(temperature, logits=logits).rsample()),
            {
                "torch": Anchor(
                    _no_grad(
                        lambda: RelaxedOneHotCategorical(temperature, logits=logits).rsample()
                    ),
                    0.5,
                ),
                "F.gumbel_softmax": Anchor(gumbel_softmax, None),
            },
        ),
        Case(
            "rsample fwd+bwd",
            sample_loss(RelaxedCategoricalConcrete),
            {
                "torch": Anchor(sample_loss(RelaxedOneHotCategorical), 1.0),
                "F.gumbel_softmax": Anchor(
                    backward(lambda: (F.gumbel_softmax(leaf, TEMPERATURE) * weights).sum()), 1.0
                ),
            },
        ),
        Case(
            "rsample+log_prob fwd+bwd",
            sample_log_prob_loss(RelaxedCategoricalConcrete),
            {"torch": Anchor(sample_log_prob_loss(RelaxedOneHotCategorical), 1.0)},
        ),
        Case(
            "ST rsample",
            _no_grad(ours_st.rsample),
            {
                "Pyro": Anchor(_no_grad(pyro_st.rsample), 1.0),
                "F.gumbel_softmax": Anchor(hard_gumbel_softmax, 1.0),
            },
        ),
        Case(
            "ST fwd+bwd",
            sample_loss(plain_straight_through),
            {
                "Pyro": Anchor(sample_loss(RelaxedOneHotCategoricalStraightThrough), 1.0),
                "F.gumbel_softmax": Anchor(
                    backward(
                        lambda: (F.gumbel_softmax(leaf, TEMPERATURE, hard=True) * weights).sum()
                    ),
                    1.0,
                ),
            },
        ),
    ]
    return result


def floors(shape, dtype, device):
    """
    The cost units: one ``x.exp()`` pass over a tensor of ``shape``, under
    ``torch.no_grad``, and one ``torch.rand`` of that shape (the uniform noise
    that every sampler here draws).
    """
    values = torch.randn(shape, dtype=dtype, device=device)
    return {
        "exp": _no_grad(values.exp),
        "rand": lambda: torch.rand(shape, dtype=dtype, device=device),
    }
