# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

from pyro.distributions.torch_distribution import ExpandedDistribution, MaskedDistribution
from pyro.infer.reparam.reparam import Reparam
from torch.distributions import Categorical, Independent, OneHotCategorical, constraints

from pyro_concrete.distributions import (
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
from pyro_concrete.distributions.base import ConcreteBase
from pyro_concrete.estimators import check_estimator

__all__ = ["RelaxReparam"]

_WRAPPERS = (Independent, MaskedDistribution, ExpandedDistribution)

# The discrete laws that have a Concrete relaxation, by support:
# (support, straight-through class, relaxed class).
_RELAXATIONS = (
    (constraints.one_hot, RelaxedCategoricalConcreteStraightThrough, RelaxedCategoricalConcrete),
    (constraints.boolean, RelaxedBernoulliConcreteStraightThrough, RelaxedBernoulliConcrete),
)


def base_distribution(fn):
    """``fn`` without its ``Independent``, masking and expanding wrappers."""
    while isinstance(fn, _WRAPPERS):
        fn = fn.base_dist
    return fn


def _rewrap(fn, base):
    """``base`` wrapped in the ``Independent``, masking and expanding wrappers of ``fn``."""
    if isinstance(fn, Independent):
        return _rewrap(fn.base_dist, base).to_event(fn.reinterpreted_batch_ndims)
    if isinstance(fn, MaskedDistribution):
        return _rewrap(fn.base_dist, base).mask(fn._mask)
    if isinstance(fn, ExpandedDistribution):
        return _rewrap(fn.base_dist, base).expand(fn.batch_shape)
    return base


def relaxations(name, fn, caller):
    """
    The base distribution of the discrete site ``name`` and its straight-through
    and relaxed Concrete classes. Raises a ``ValueError`` that explains why for a
    site without a Concrete relaxation.

    :param str caller: the class asking, named in the error.
    """
    base = base_distribution(fn)
    for support, straight_through, relaxed in _RELAXATIONS:
        if base.support is support:
            return base, straight_through, relaxed
    if isinstance(base, Categorical):
        raise ValueError(
            f"{caller} cannot relax sample site {name!r}: it is a Categorical variable, whose "
            "value is an integer index. An index has no gradient, so no relaxation can "
            "pass one to the model code that uses it. Write the site as a one-hot variable, "
            f"pyro.sample({name!r}, dist.OneHotCategorical(probs)), and use its value "
            "differentiably (z @ locs rather than locs[z]); or enumerate it with "
            "TraceEnum_ELBO and hide it from the guide."
        )
    kind = "discrete" if base.support.is_discrete else "continuous"
    raise ValueError(
        f"{caller} relaxes OneHotCategorical and Bernoulli sample sites; site {name!r} is a "
        f"{kind} {type(base).__name__} variable."
    )


def _given_parameter(base):
    """
    ``{"probs": tensor}`` where ``base`` holds probabilities (zeros stay exact
    zeros, which straight-through distributions allow), else ``{"logits": tensor}``.
    """
    if isinstance(base, ConcreteBase):
        probs = base.__dict__.get("_given_probs")
    else:
        holder = base._categorical if isinstance(base, OneHotCategorical) else base
        probs = holder.__dict__.get("probs")
    return {"logits": base.logits} if probs is None else {"probs": probs}


class RelaxReparam(Reparam):
    r"""
    Replaces a discrete latent site of a model -- ``OneHotCategorical`` or
    ``Bernoulli``, possibly inside ``Independent``, ``mask`` or ``expand`` -- by its
    Concrete relaxation with the same probabilities, for training with SVI. Use it
    with :func:`~pyro.poutine.reparam`::

        relax = RelaxReparam(0.5)
        model = poutine.reparam(model, config={"z": relax})
        # or every discrete site:
        model = poutine.reparam(
            model, config=lambda msg: relax if msg["fn"].support.is_discrete else None
        )

    The two modes mean different things.

    ``straight_through=True`` (default): **the model is unchanged, only its
    gradients change.** The site becomes
    :class:`~pyro_concrete.RelaxedCategoricalConcreteStraightThrough` (or
    :class:`~pyro_concrete.RelaxedBernoulliConcreteStraightThrough`): the same law,
    the same one-hot (or 0/1) values, the same ``log_prob`` values, so every ELBO is
    the discrete model's ELBO. What changes is that ``log_prob`` is differentiable in
    the value: under :class:`~pyro.infer.Trace_ELBO` the prior term
    :math:`\log p(z) = \sum_k z_k \log \pi_k` passes the straight-through gradient
    to a guide's sample, which ``OneHotCategorical.log_prob`` drops (``Bernoulli``
    keeps it already). A value the model samples itself carries a straight-through
    gradient at ``temperature``.

    ``straight_through=False``: **the latent becomes a continuous variable** on the
    simplex (or the unit interval), distributed as
    :class:`~pyro_concrete.RelaxedCategoricalConcrete` (or
    :class:`~pyro_concrete.RelaxedBernoulliConcrete`). The model's code downstream
    receives points of the simplex instead of one-hot vectors -- a mixture
    likelihood ``Normal(z @ locs, 1)`` becomes a Normal about a convex combination
    of the locations -- so SVI optimises the ELBO of this relaxed model, which is
    not a bound on the discrete model's evidence. It approaches
    the discrete model as the temperature goes to 0, where gradients become
    noisier. Guide it with a continuous guide or a relaxed one; to predict with the
    discrete model, round its samples to the vertex of their largest coordinate. An
    initial value proposed for the discrete site is dropped, so that the relaxed
    site is initialised as a continuous one. Pyro shows a site to the enclosing
    initialisation before it reaches the reparametrizer, and ``AutoNormal``'s
    default ``init_to_feasible`` rejects discrete sites: use
    :class:`~pyro_concrete.infer.AutoConcrete` (which gives relaxed sites
    ``AutoNormal``'s treatment), or ``AutoNormal(..., init_loc_fn=init_to_sample)``.

    Observed sites are left unchanged: their log-likelihood is already exact and an
    observation receives no gradient. A ``Categorical`` site (an integer index, which
    has no gradient) or any other site is a ``ValueError``.

    **Coming from Pyro's GumbelSoftmaxReparam or AutoReparam.** Pyro's
    :class:`~pyro.infer.reparam.softmax.GumbelSoftmaxReparam`, which
    :class:`~pyro.infer.reparam.strategies.AutoReparam` applies, starts from a
    site the model already wrote as torch's ``RelaxedOneHotCategorical``, and
    rewrites it as uniform noise pushed through a softmax. It recognises that class
    only: it leaves ``OneHotCategorical`` and ``Bernoulli`` sites discrete (SVI then
    needs enumeration or a score-function gradient) and does not recognise this
    package's distributions. ``RelaxReparam`` replaces it, starting from the
    discrete model: write each discrete site as the discrete variable it is,
    ``OneHotCategorical`` used differentiably (``z @ locs``), and choose what SVI
    sees -- ``RelaxReparam(temperature, straight_through=False)`` for the relaxed
    model that a ``RelaxedOneHotCategorical`` site expressed (this package's
    Concrete distribution, whose log-density stays finite where torch's is NaN),
    or ``RelaxReparam(temperature)`` to keep the discrete model exactly. Keep
    AutoReparam's other rules by choosing per site::

        from pyro.infer.reparam import AutoReparam

        relax, auto = RelaxReparam(1.0, estimator="reinmax"), AutoReparam()

        def config(msg):
            if msg["fn"].support.is_discrete and not msg["is_observed"]:
                return relax  # OneHotCategorical and Bernoulli latents
            return auto(msg)  # e.g. LocScaleReparam for Normal latents

        model = poutine.reparam(model, config=config)
        guide = AutoConcrete(model)

    :param temperature: temperature :math:`\tau > 0` of the relaxation: that of the
        relaxed variable, or that of the straight-through gradient of values the
        model samples itself.
    :type temperature: float or torch.Tensor
    :param bool straight_through: keep the discrete law (``True``) or relax it
        (``False``).
    :param str estimator: the straight-through gradient estimator, one of
        ``"straight_through"`` (default here, as the temperature is the caller's
        choice), ``"gumbel_rao"`` and ``"reinmax"`` (the default of the
        straight-through distributions and ``AutoConcrete``, for temperature 1).
    :param int rao_samples: conditional noise draws for ``"gumbel_rao"``.
    """

    def __init__(
        self, temperature, straight_through=True, *, estimator="straight_through", rao_samples=10
    ):
        check_estimator(estimator, rao_samples)
        self.temperature = temperature
        self.straight_through = straight_through
        self.estimator = estimator
        self.rao_samples = rao_samples

    def apply(self, msg):
        if msg["is_observed"]:
            return {"fn": msg["fn"], "value": msg["value"], "is_observed": True}
        fn = msg["fn"]
        base, straight_through, relaxed = relaxations(msg["name"], fn, type(self).__name__)
        params = _given_parameter(base)
        if self.straight_through:
            new_base = straight_through(
                self.temperature,
                **params,
                estimator=self.estimator,
                rao_samples=self.rao_samples,
                validate_args=base._validate_args,
            )
            value = msg["value"]
        else:
            new_base = relaxed(self.temperature, **params, validate_args=base._validate_args)
            value = None
        return {"fn": _rewrap(fn, new_base), "value": value, "is_observed": False}
