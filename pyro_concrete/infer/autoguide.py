# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import functools
from contextlib import ExitStack
from operator import attrgetter

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.distributions import constraints
from pyro.distributions.torch_distribution import TorchDistribution
from pyro.infer.autoguide import AutoGuide, AutoGuideList, AutoNormal
from pyro.infer.autoguide.initialization import InitMessenger, init_to_median, init_to_sample
from pyro.infer.autoguide.utils import deep_setattr
from pyro.nn.module import PyroModule, PyroParam
from pyro.ops.tensor_utils import periodic_repeat
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample

from pyro_concrete.checks import check_estimator, check_positive_number
from pyro_concrete.infer.reparam import relaxations

__all__ = ["AutoConcrete"]


# The initial logit of a category the prior rules out: finite, as the distributions
# require, and low enough that its probability is exactly 0 in every dtype, so that
# it is never sampled and the exact KL divergence stays finite.
_IMPOSSIBLE_LOGIT = -1e4


def _is_discrete_latent(msg):
    return (
        msg["type"] == "sample"
        and not msg["is_observed"]
        and not site_is_subsample(msg)
        and msg["fn"].support.is_discrete
    )


class _JacobianDelta(TorchDistribution):
    r"""
    ``AutoNormal``'s point mass at a constrained value, whose ``log_density`` is
    the log-Jacobian of the bijection from unconstrained space. It scores values
    exactly as the ``Delta`` it wraps, but it is not a ``Delta``: no KL divergence
    is registered for it, so :class:`~pyro.infer.TraceMeanField_ELBO` falls back
    to :math:`\log p(v) - \log |\det \partial u / \partial v|`, where Pyro's
    ``KL(Delta, p) = -\log p(v)`` would drop the Jacobian.

    :param pyro.distributions.Delta delta: the point mass.
    """

    arg_constraints = {}
    has_rsample = True

    def __init__(self, delta):
        self.delta = delta
        super().__init__(delta.batch_shape, delta.event_shape, validate_args=False)

    @property
    def support(self):
        return self.delta.support

    def expand(self, batch_shape, _instance=None):
        return _JacobianDelta(self.delta.expand(batch_shape))

    def rsample(self, sample_shape=torch.Size()):
        return self.delta.rsample(sample_shape)

    def log_prob(self, value):
        return self.delta.log_prob(value)


class _KeepJacobians(Messenger):
    """Wraps the point masses of an AutoGuide's constrained sites in :class:`_JacobianDelta`."""

    def _pyro_sample(self, msg):
        if isinstance(msg["fn"], dist.Delta) and not msg["infer"].get("is_auxiliary"):
            msg["fn"] = _JacobianDelta(msg["fn"])


def _init_discrete_to_sample(site, fallback):
    """Discrete sites start from a prior sample, the others from ``fallback``."""
    if site["fn"].support.is_discrete:
        return init_to_sample(site)
    return fallback(site)


class AutoConcrete(AutoGuide):
    r"""
    An automatic guide for models with discrete latent variables: a straight-through
    Concrete distribution with learnable logits for each ``OneHotCategorical`` and
    ``Bernoulli`` site, and :class:`~pyro.infer.autoguide.AutoNormal` for the
    continuous sites. No enumeration, and a cost linear in the number of discrete
    sites::

        guide = AutoConcrete(model)
        svi = SVI(model, guide, Adam({"lr": 0.05}), TraceMeanField_ELBO())

    Each discrete site gets
    :class:`~pyro_concrete.RelaxedCategoricalConcreteStraightThrough` (or
    :class:`~pyro_concrete.RelaxedBernoulliConcreteStraightThrough`) with logits of
    the site's full shape, ``guide.logits.<site>``: a site inside plates is local, with
    one set of logits per plate element, subsampled by
    ``pyro.plate(..., subsample_size=...)`` as ``AutoNormal`` subsamples its local
    parameters. The logits start at the prior's, evaluated at the initial values of
    the continuous sites. Samples are exact one-hot vectors (or 0/1 values),
    distributed as ``OneHotCategorical(softmax(logits))``; their gradient is that of
    the Concrete relaxation at ``temperature``, so the model must use them
    differentiably -- ``z @ locs``, not ``locs[z.argmax(-1)]``. The continuous sites'
    guide is ``guide.normal``, an ``AutoNormal`` of the model with the discrete sites
    hidden: ``TraceEnum_ELBO`` can use it to compare with enumeration.
    :meth:`median` returns the mode of each discrete site; :meth:`quantiles` leaves
    them out.

    The ELBO is the discrete model's, for a mean-field guide trained by biased
    (straight-through) gradients. **The defaults** -- ReinMax at temperature 1,
    continuous sites initialised at their prior medians -- were chosen on a suite of
    models (``benchmarks/suite``, :doc:`/defaults`). ReinMax is exact to second
    order, so its gradient is unbiased when the log-likelihood is quadratic in the
    one-hot value, as a Gaussian whose mean selects ``z @ locs`` is; plain
    straight-through is biased towards assignments less confident than the
    posterior, which a mixture pays for by merging components and inflating its
    scale (:doc:`/defaults` gives the measurements).
    Prior medians differ from one exchangeable component to the next, where
    ``init_to_feasible`` would start every component at the same value, a tie
    that sampled gradients do not break. A mean-field guide cannot express discrete
    latents that are coupled a posteriori (a hidden Markov chain, features that
    explain each other away): enumerate those when it is affordable.

    **The prior term.** Under :class:`~pyro.infer.Trace_ELBO`,
    ``OneHotCategorical.log_prob`` passes no gradient to the guide's sample, so the
    logits miss the gradient of :math:`\log \pi_z` (``Bernoulli.log_prob`` keeps it).
    It vanishes for a uniform prior only; otherwise the fit goes wrong. Restore it
    with :class:`~pyro_concrete.infer.RelaxReparam` (``straight_through=True``
    leaves the model's law unchanged), or use
    :class:`~pyro.infer.TraceMeanField_ELBO`, whose categorical KL divergence is
    exact (on a mixture with weights 0.6, 0.3, 0.1 it reaches a worse optimum of the
    same ELBO; the mixture tutorial compares the three).

    **Constrained continuous sites** (``LogNormal``, ``Dirichlet``, ``HalfCauchy``,
    ...) keep their log-Jacobian under ``TraceMeanField_ELBO``: the point mass of
    each continuous site is scored with it, where Pyro's ``KL(Delta, p)``, used for
    ``AutoNormal``, drops it. Both ELBOs estimate the same bound.

    A ``Categorical`` site -- an integer index, which has no gradient -- is a
    ``ValueError``: write it as ``OneHotCategorical``. A site relaxed by
    ``RelaxReparam(straight_through=False)`` is continuous and goes to ``AutoNormal``.
    ``temperature`` may be changed between steps, e.g. annealed with
    :mod:`pyro_concrete.schedules` (``guide.temperature = schedule(step)``); the JIT
    ELBOs compile it in at their first step.

    :param callable model: a Pyro model.
    :param float temperature: temperature :math:`\tau > 0` of the straight-through
        gradient of the discrete sites (default 1).
    :param str estimator: the gradient estimator of the discrete sites, one of
        ``"reinmax"`` (default; second-order accurate, for :math:`\tau \ge 1`),
        ``"straight_through"`` and ``"gumbel_rao"`` (the same mean as
        straight-through, less variance).
    :param int rao_samples: conditional noise draws for ``"gumbel_rao"``.
    :param callable init_loc_fn: initialisation of the continuous sites, see
        :mod:`pyro.infer.autoguide.initialization` (default
        :func:`~pyro.infer.autoguide.initialization.init_to_median`, as
        ``AutoDelta``'s). Discrete sites start from a prior sample.
    :param float init_scale: initial scale of the continuous sites' Normal guides
        (in unconstrained space).
    :param callable create_plates: an optional function with the model's
        ``*args, **kwargs`` that returns a :class:`pyro.plate` or an iterable of
        plates, e.g. for data subsampling; other plates are created as usual.

    **References**

    [1] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization
        with Gumbel-Softmax. ICLR.
    [2] Chris J. Maddison, Andriy Mnih, Yee Whye Teh (2017). The Concrete
        Distribution: A Continuous Relaxation of Discrete Random Variables. ICLR.
    """

    def __init__(
        self,
        model,
        *,
        temperature=1.0,
        estimator="reinmax",
        rao_samples=10,
        init_loc_fn=init_to_median,
        init_scale=0.1,
        create_plates=None,
    ):
        init_loc_fn = functools.partial(_init_discrete_to_sample, fallback=init_loc_fn)
        super().__init__(InitMessenger(init_loc_fn)(model), create_plates=create_plates)
        self.estimator = estimator
        self.rao_samples = rao_samples
        self.temperature = temperature  # checks the three
        self.normal = AutoNormal(
            poutine.block(model, hide_fn=_is_discrete_latent),
            init_loc_fn=init_loc_fn,
            init_scale=init_scale,
        )

    @property
    def temperature(self) -> float:
        """The temperature of the discrete sites' straight-through gradients."""
        return self._temperature

    @temperature.setter
    def temperature(self, value):
        value = check_positive_number("temperature", value)
        check_estimator(self.estimator, self.rao_samples, value)
        self._temperature = value

    # The continuous part checks its prototype against ours, as AutoGuideList's parts do.
    _check_prototype = AutoGuideList._check_prototype

    def _setup_prototype(self, *args, **kwargs):
        super()._setup_prototype(*args, **kwargs)
        self._discrete_sites = {}
        self.logits = PyroModule()
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            if not site["fn"].support.is_discrete:
                continue
            base, straight_through, _ = relaxations(name, site["fn"], type(self).__name__)
            event_dim = site["fn"].event_dim
            logits = base.logits.detach().expand(site["value"].shape).clamp_min(_IMPOSSIBLE_LOGIT)
            for frame in site["cond_indep_stack"]:
                full_size = frame.full_size or frame.size
                if full_size != frame.size:
                    logits = periodic_repeat(logits, full_size, frame.dim - event_dim)
            deep_setattr(
                self.logits,
                name,
                PyroParam(logits.contiguous(), constraints.real, event_dim),
            )
            self._discrete_sites[name] = straight_through, event_dim - len(base.event_shape)

    def _posterior(self, name):
        """The straight-through guide distribution of the discrete site ``name``."""
        straight_through, reinterpreted = self._discrete_sites[name]
        posterior = straight_through(
            self.temperature,
            logits=attrgetter(name)(self.logits),
            estimator=self.estimator,
            rao_samples=self.rao_samples,
        )
        return posterior.to_event(reinterpreted)

    def forward(self, *args, **kwargs):
        """
        An automatic guide with the same ``*args, **kwargs`` as the base ``model``.

        :return: A dict mapping sample site name to sampled value.
        :rtype: dict
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        with _KeepJacobians():
            result = self.normal(*args, **kwargs)
        for name in self._discrete_sites:
            with ExitStack() as stack:
                for frame in self.prototype_trace.nodes[name]["cond_indep_stack"]:
                    stack.enter_context(plates[frame.name])
                result[name] = pyro.sample(name, self._posterior(name))
        return result

    @torch.no_grad()
    def median(self, *args, **kwargs):
        """
        The posterior median of each continuous site and the posterior mode of each
        discrete site.

        :return: A dict mapping sample site name to value.
        :rtype: dict
        """
        result = self.normal.median(*args, **kwargs)
        for name in self._discrete_sites:
            result[name] = self._posterior(name).mode
        return result

    @torch.no_grad()
    def quantiles(self, quantiles, *args, **kwargs):
        """
        Posterior quantiles of each continuous site, see
        :meth:`pyro.infer.autoguide.AutoNormal.quantiles`. Discrete sites have no
        quantiles (one-hot values are not ordered) and are left out.

        :param quantiles: a list of quantiles between 0 and 1.
        :type quantiles: torch.Tensor or list
        :return: A dict mapping sample site name to a tensor of quantile values.
        :rtype: dict
        """
        return self.normal.quantiles(quantiles, *args, **kwargs)
