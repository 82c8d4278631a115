# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
A categorical variational autoencoder trained with Pyro's ELBOs.

The model has :math:`N` independent categorical latents of :math:`K` categories
with a uniform prior and a Bernoulli likelihood of the binarised pixels,

.. math::

    z_n \sim \mathrm{OneHotCategorical}(1/K), \qquad
    x \mid z \sim \mathrm{Bernoulli}(\sigma(\mathrm{decoder}(z))),

and the guide :math:`q(z_n \mid x) = \mathrm{OneHotCategorical}(\mathrm{softmax}
(\mathrm{encoder}(x)_n))`. The estimators differ only in the distributions at the
latent site ``"z"``:

- ``relaxed`` (the default): the relaxed ELBO of Maddison et al. [1]: a
  :class:`~pyro_concrete.RelaxedCategoricalConcrete` guide scored by a relaxed
  uniform prior, the decoder fed relaxed samples. As they advise, the prior is
  colder than the guide: 0.4 (their value for 8 categories) against the annealed
  guide temperature, 1 down to 0.5. With equal temperatures the latents went
  unused on the digits (after 100 epochs, a test NLL bound of 25.0 nats, that of
  independent pixels; 19.3 with the colder prior).
- ``straight_through``, ``gumbel_rao``, ``reinmax``: the discrete ELBO, exactly:
  a :class:`~pyro_concrete.RelaxedCategoricalConcreteStraightThrough` guide (exact
  one-hot samples, relaxed gradients [2, 3, 4]) and the same class, uniform, as
  the prior, so the prior term also passes the straight-through gradient.
  ReinMax requires :math:`\tau \ge 1`: its default temperature is 1, and
  annealing never takes it below 1.
- ``score_function``: a ``OneHotCategorical`` guide and prior with
  :class:`~pyro.infer.Trace_ELBO`, the score-function (REINFORCE) baseline of
  Jang et al. [2]. ``Trace_ELBO`` multiplies each image's score by that image's
  own log-ratio (its Rao-Blackwellisation over the ``data`` plate), which for a
  single latent site is all that ``TraceGraph_ELBO`` would add; unlike
  ``TraceGraph_ELBO`` it has a ``differentiable_loss``, which the data-parallel
  pattern needs, and it keeps nothing in Pyro's global param store (whose
  decaying-average baseline is per process and shaped like the batch).

Every estimator is trained on the loss ``Trace_ELBO().differentiable_loss``
with a :class:`torch.optim.Adam` -- Pyro's pattern for PyTorch optimisers and
:class:`~torch.nn.parallel.DistributedDataParallel` -- and every one is evaluated
the same way, on the discrete model (:func:`evaluate`): the negative ELBO with
the categorical posterior, and the importance-sampled bound on the negative
log-likelihood [5].

The temperature follows Jang et al.'s schedule,
:class:`~pyro_concrete.schedules.ExponentialDecay`: from ``temperature``,
multiplied by :math:`\exp(-r N)` every :math:`N` steps, :math:`r = 10^{-4}`,
:math:`N = 500` (from their grid), down to their minimum of 0.5.

Run ``python -m pyro_concrete.examples.vae --help`` for the options; with the
defaults it trains on scikit-learn's bundled 8x8 digits in about a minute on two
CPU cores, prints a table and writes ``metrics.json`` and plots to ``--out``.
Data-parallel training: ``--devices N`` spawns N processes on this machine;
under ``torchrun`` each process joins the launcher's group (several nodes too);
see :mod:`pyro_concrete.examples.training`. ``--checkpoint-every N`` and
``--resume PATH`` checkpoint and resume exactly.

The functions compose for use from Python::

    from pyro_concrete.examples import vae

    config = vae.Config(estimator="gumbel_rao", epochs=50)
    result = vae.train(config)
    print(vae.format_table(result))

**References**

[1] Chris J. Maddison, Andriy Mnih, Yee Whye Teh (2017). The Concrete
    Distribution: A Continuous Relaxation of Discrete Random Variables. ICLR.
[2] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization
    with Gumbel-Softmax. ICLR.
[3] Max B. Paulus, Chris J. Maddison, Andreas Krause (2021). Rao-Blackwellizing
    the Straight-Through Gumbel-Softmax Gradient Estimator. ICLR.
[4] Liyuan Liu, Chengyu Dong, Xiaodong Liu, Bin Yu, Jianfeng Gao (2023).
    Bridging Discrete and Backpropagation: Straight-Through and Beyond. NeurIPS.
[5] Yuri Burda, Roger Grosse, Ruslan Salakhutdinov (2016). Importance Weighted
    Autoencoders. ICLR.
"""

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pyro
import pyro.distributions as dist
import torch
import torch.distributed
from pyro.infer import Trace_ELBO
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import pyro_concrete
from pyro_concrete import RelaxedCategoricalConcrete, RelaxedCategoricalConcreteStraightThrough
from pyro_concrete.estimators import ESTIMATORS as STRAIGHT_THROUGH_ESTIMATORS
from pyro_concrete.examples import training
from pyro_concrete.examples.data import DATASETS, load_dataset
from pyro_concrete.schedules import ExponentialDecay

__all__ = [
    "CategoricalVAE",
    "Config",
    "ESTIMATORS",
    "MINIMUM_TEMPERATURE",
    "evaluate",
    "format_table",
    "main",
    "parse_args",
    "plot_curves",
    "plot_images",
    "run",
    "train",
    "write_outputs",
]

#: Training estimators, see the module's documentation.
ESTIMATORS = ("relaxed", "straight_through", "gumbel_rao", "reinmax", "score_function")
#: Jang et al.'s floor on the annealed temperature; ReinMax's is 1.
MINIMUM_TEMPERATURE = 0.5
#: Samples per image for the per-epoch (cheap) evaluation.
EPOCH_EVALUATION_SAMPLES = 10
#: Fields of :class:`Config` that may differ between a run and the run it resumes.
RESUMABLE_CHANGES = (
    "data_dir",
    "download",
    "epochs",
    "eval_samples",
    "device",
    "threads",
    "out",
    "checkpoint_every",
    "resume",
    "quiet",
)


class CategoricalVAE(nn.Module):
    r"""
    A VAE with ``num_latents`` categorical latents of ``num_categories``
    categories, a uniform prior, a Bernoulli likelihood, and MLP encoder and
    decoder of one hidden layer. Calling it returns the training loss: the
    negative ELBO estimate of ``estimator``, summed over the batch (its gradient
    is the estimator's). Its parameters are the module's own: Pyro's global param
    store is not used, so the module can be wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`.

    :param int num_pixels: the number of binary pixels of an image.
    :param int num_latents: :math:`N`.
    :param int num_categories: :math:`K`.
    :param int hidden_size: the width of the hidden layers.
    :param str estimator: one of :data:`ESTIMATORS`.
    :param float prior_temperature: the temperature of the relaxed prior of the
        ``relaxed`` estimator; ``None`` for the guide's temperature.
    :param int rao_samples: conditional samples of the ``gumbel_rao`` estimator.
    :param torch.dtype dtype: of the parameters (the default dtype if ``None``).
    """

    def __init__(
        self,
        num_pixels: int,
        num_latents: int,
        num_categories: int,
        hidden_size: int = 256,
        estimator: str = "relaxed",
        prior_temperature: Optional[float] = None,
        rao_samples: int = 10,
        dtype: Optional[torch.dtype] = None,
    ):
        _check_choice("estimator", estimator, ESTIMATORS)
        super().__init__()
        self.num_latents, self.num_categories = num_latents, num_categories
        self.estimator = estimator
        self.prior_temperature = prior_temperature
        self.rao_samples = rao_samples
        code_size = num_latents * num_categories
        self.encoder = _mlp(num_pixels, hidden_size, code_size, dtype)
        self.decoder = _mlp(code_size, hidden_size, num_pixels, dtype)
        self.elbo = Trace_ELBO(max_plate_nesting=1)

    def posterior_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised log-probabilities of :math:`q(z \\mid x)`, shape ``(..., N, K)``."""
        logits = self.encoder(x).unflatten(-1, (self.num_latents, self.num_categories))
        return logits.log_softmax(-1)

    def likelihood(self, z: torch.Tensor) -> dist.Distribution:
        """:math:`p(x \\mid z)` for one-hot (or relaxed) codes ``z`` of shape ``(..., N, K)``."""
        return dist.Bernoulli(logits=self.decoder(z.flatten(-2))).to_event(1)

    def _latent(self, logits, temperature):
        if self.estimator == "relaxed":
            return RelaxedCategoricalConcrete(temperature, logits=logits)
        if self.estimator == "score_function":
            return dist.OneHotCategorical(logits=logits)
        return RelaxedCategoricalConcreteStraightThrough(
            temperature, logits=logits, estimator=self.estimator, rao_samples=self.rao_samples
        )

    def model(self, x: torch.Tensor, temperature: float = 1.0) -> None:
        uniform = x.new_zeros(len(x), self.num_latents, self.num_categories)
        if self.estimator == "relaxed" and self.prior_temperature is not None:
            temperature = self.prior_temperature
        elif self.estimator in STRAIGHT_THROUGH_ESTIMATORS:
            # Only the prior's log_prob is used, and it does not depend on the temperature.
            temperature = 1.0
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", self._latent(uniform, temperature).to_event(1))
            pyro.sample("x", self.likelihood(z), obs=x)

    def guide(self, x: torch.Tensor, temperature: float = 1.0) -> None:
        with pyro.plate("data", len(x)):
            pyro.sample("z", self._latent(self.posterior_logits(x), temperature).to_event(1))

    def forward(self, x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        return self.elbo.differentiable_loss(self.model, self.guide, x, temperature)


def _mlp(in_size, hidden_size, out_size, dtype):
    return nn.Sequential(
        nn.Linear(in_size, hidden_size, dtype=dtype),
        nn.ReLU(),
        nn.Linear(hidden_size, out_size, dtype=dtype),
    )


@torch.no_grad()
def evaluate(
    vae: CategoricalVAE, data: torch.Tensor, num_samples: int = 1000, max_rows: int = 2**16
) -> Tuple[torch.Tensor, torch.Tensor]:
    r"""
    Scores images under the discrete model, whatever the training estimator, with
    :math:`S` samples :math:`z_s \sim q(z \mid x)` categorical:

    - the negative ELBO, :math:`\mathrm{KL}(q \,\|\, p(z)) - \frac1S \sum_s \log p(x \mid z_s)`
      with the exact KL;
    - the importance-sampled bound on the negative log-likelihood [5],

      .. math::

          -\log \frac{1}{S} \sum_s \frac{p(x, z_s)}{q(z_s \mid x)} ,

      whose expectation lies between :math:`-\log p(x)` and the negative ELBO and
      decreases with :math:`S`.

    :param CategoricalVAE vae: the model.
    :param torch.Tensor data: images of shape ``(num_images, num_pixels)``.
    :param int num_samples: :math:`S`.
    :param int max_rows: images are processed in chunks of at most this many
        decoder rows (images times samples), to bound memory.
    :returns: ``(negative_elbo, nll_bound)``, each of shape ``(num_images,)``, in nats.
    """
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}.")
    if not len(data):
        return data.new_zeros(0), data.new_zeros(0)
    log_prior = -vae.num_latents * math.log(vae.num_categories)
    negative_elbos, bounds = [], []
    for x in data.split(max(1, max_rows // num_samples)):
        log_q = vae.posterior_logits(x)
        z = dist.OneHotCategorical(logits=log_q).sample((num_samples,))
        log_likelihood = vae.likelihood(z).log_prob(x)
        log_weights = log_likelihood + log_prior - (z * log_q).sum((-2, -1))
        kl = (log_q.exp() * log_q).sum((-2, -1)) - log_prior
        negative_elbos.append(kl - log_likelihood.mean(0))
        bounds.append(math.log(num_samples) - log_weights.logsumexp(0))
    return torch.cat(negative_elbos), torch.cat(bounds)


@dataclasses.dataclass
class Config:
    """
    Everything a run depends on: the command line's options, one field each, with
    the same defaults (``python -m pyro_concrete.examples.vae --help`` describes
    them). ``prior_temperature=None``, which only the Python API can express,
    gives the relaxed prior the guide's temperature. :meth:`check` raises a
    ``ValueError`` that names a bad field.

    The defaults train in about a minute on two CPU cores: 8 latents of 8
    categories, hidden layers of 256, 300 epochs of batches of 100 with Adam at
    ``1e-3`` (Jang et al.'s batch size and learning rate).
    """

    dataset: str = "digits"
    data_dir: Optional[str] = None
    download: bool = False
    subset: Optional[int] = None
    estimator: str = "relaxed"
    latents: int = 8
    categories: int = 8
    hidden: int = 256
    temperature: float = 1.0
    prior_temperature: Optional[float] = 0.4
    anneal_rate: float = 1e-4
    anneal_every: int = 500
    epochs: int = 300
    batch_size: int = 100
    lr: float = 1e-3
    rao_samples: int = 10
    seed: int = 0
    eval_samples: int = 1000
    device: str = "cpu"
    devices: int = 1
    threads: int = 1
    out: str = "runs/vae"
    checkpoint_every: int = 0
    resume: Optional[str] = None
    quiet: bool = False

    def check(self) -> "Config":
        _check_choice("dataset", self.dataset, DATASETS)
        _check_choice("estimator", self.estimator, ESTIMATORS)
        for name in ("latents", "hidden", "batch_size", "rao_samples"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("categories", self.categories, minimum=2)
        _check_int("anneal_every", self.anneal_every, minimum=1)
        _check_int("epochs", self.epochs, minimum=0)
        _check_int("seed", self.seed, minimum=0)
        _check_int("eval_samples", self.eval_samples, minimum=1)
        _check_int("devices", self.devices, minimum=1)
        _check_int("threads", self.threads, minimum=1)
        _check_int("checkpoint_every", self.checkpoint_every, minimum=0)
        if self.subset is not None:
            _check_int("subset", self.subset, minimum=1)
        positive = {"temperature": self.temperature, "lr": self.lr}
        if self.prior_temperature is not None:
            positive["prior_temperature"] = self.prior_temperature
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
        if not (isinstance(self.anneal_rate, (int, float)) and 0 <= self.anneal_rate < math.inf):
            raise ValueError(
                f"anneal_rate must be a non-negative finite number, got {self.anneal_rate!r}."
            )
        if self.estimator == "reinmax" and self.temperature < 1:
            raise ValueError(
                f"temperature must be at least 1 for estimator 'reinmax' (Liu et al., 2023); "
                f"got {self.temperature!r}."
            )
        return self

    def schedule(self) -> ExponentialDecay:
        """Jang et al.'s annealing from ``temperature``, floored at 0.5 (ReinMax: 1)."""
        floor = 1.0 if self.estimator == "reinmax" else MINIMUM_TEMPERATURE
        return ExponentialDecay(
            initial=self.temperature,
            rate=self.anneal_rate,
            minimum=min(floor, self.temperature),
            every=self.anneal_every,
        )

    def build_model(self, num_pixels: int) -> CategoricalVAE:
        return CategoricalVAE(
            num_pixels,
            self.latents,
            self.categories,
            hidden_size=self.hidden,
            estimator=self.estimator,
            prior_temperature=self.prior_temperature,
            rao_samples=self.rao_samples,
            dtype=torch.float32,
        )

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")


def _check_int(name, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}.")


def _load_data(config: Config, rank: int) -> Tuple[torch.Tensor, torch.Tensor]:
    # Rank 0 first, so that a --download happens once.
    wait = config.download and torch.distributed.is_initialized()
    if wait and rank != 0:
        torch.distributed.barrier()
    train_data, test_data = load_dataset(config.dataset, config.data_dir, config.download)
    if wait and rank == 0:
        torch.distributed.barrier()
    if config.subset is not None:
        train_data, test_data = train_data[: config.subset], test_data[: config.subset]
    return train_data, test_data


def _evaluate_globally(vae, data, num_samples, ctx, seed, *keys):
    """
    The means over all images of :func:`evaluate`, each rank scoring its share of
    ``data``, with noise of its own (seeded from ``keys``) so that evaluating does
    not change the course of training.
    """
    devices = [ctx.device.index] if ctx.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(training.derive_seed(seed, training.EVALUATION_NOISE, ctx.rank, *keys))
        per_image = evaluate(vae, data[ctx.rank :: ctx.world_size], num_samples)
    totals = torch.tensor(
        [float(values.sum()) for values in per_image] + [len(per_image[0])],
        dtype=torch.float64,
        device=ctx.device,
    )
    totals = training.all_reduce_sum(totals)
    return (totals[:-1] / totals[-1]).tolist()


def _checkpoint(path, config, ctx, vae, optimizer, progress):
    rng_states = training.all_gather_objects(training.get_rng_state())
    if ctx.rank == 0:
        state = dict(progress, model=vae.state_dict(), optimizer=optimizer.state_dict())
        state.update(config=config.as_dict(), world_size=ctx.world_size, rng=rng_states)
        training.save_checkpoint(path, state)


def _read_checkpoint(config, world_size):
    """The checkpoint ``config.resume``, checked to belong to this run."""
    path = config.resume
    state = training.load_checkpoint(path, map_location="cpu")
    required = {"config", "world_size", "rng", "model", "optimizer"}
    required.update(("epoch", "step", "history", "elapsed"))
    if not isinstance(state, dict) or not required <= state.keys():
        raise ValueError(f"checkpoint {path!r} is not a checkpoint of this VAE example.")
    saved, current = state["config"], config.as_dict()
    changed = [
        f"{name}={saved.get(name)!r} (now {current[name]!r})"
        for name in current
        if name not in RESUMABLE_CHANGES and saved.get(name) != current[name]
    ]
    if state["world_size"] != world_size:
        changed.append(f"processes={state['world_size']} (now {world_size})")
    if changed:
        raise ValueError(
            f"checkpoint {path!r} belongs to a different run: {', '.join(changed)}. "
            "Resume with the settings it was written with."
        )
    return state


def _resume(config, ctx, vae, optimizer):
    state = _read_checkpoint(config, ctx.world_size)
    vae.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    training.set_rng_state(state["rng"][ctx.rank])
    return {name: state[name] for name in ("epoch", "step", "history", "elapsed")}


def _train_epoch(loss_fn, optimizer, train_data, schedule, config, ctx, epoch, progress):
    """
    One epoch of optimisation; advances ``progress["step"]``.

    :returns: the mean training loss over all ranks, and the last temperature.
    """
    loss_sum, count = torch.zeros((), dtype=torch.float64, device=ctx.device), 0
    temperature = schedule(progress["step"])
    batches = training.shard_batches(
        len(train_data), config.batch_size, config.seed, epoch, ctx.rank, ctx.world_size
    )
    for indices, global_size in batches:
        temperature = schedule(progress["step"])
        loss = loss_fn(train_data[indices], temperature)
        optimizer.zero_grad(set_to_none=True)
        # DDP averages over ranks: this makes the gradient the global batch mean.
        (loss * (ctx.world_size / global_size)).backward()
        optimizer.step()
        loss_sum += loss.detach()
        count += len(indices)
        progress["step"] += 1
    totals = training.all_reduce_sum(torch.stack([loss_sum, loss_sum.new_tensor(count)]))
    loss_sum, count = totals.tolist()
    if not math.isfinite(loss_sum):
        raise FloatingPointError(
            f"the training loss became {loss_sum} in epoch {epoch + 1} "
            f"(estimator {config.estimator!r}); try a smaller --lr."
        )
    return loss_sum / count, temperature


def train(
    config: Config,
    train_data: Optional[torch.Tensor] = None,
    test_data: Optional[torch.Tensor] = None,
) -> Dict[str, Any]:
    """
    Trains and evaluates a :class:`CategoricalVAE`, in this process or -- when a
    :mod:`torch.distributed` process group is initialised -- as one rank of a
    data-parallel run (call it in every process). Seeds every generator from
    ``config.seed`` (and the rank), so a run is reproducible, and sets torch's
    number of CPU threads to ``config.threads``; resumes from ``config.resume``
    and checkpoints every ``config.checkpoint_every`` epochs to
    ``<config.out>/checkpoint.pt``.

    :param Config config: the run.
    :param torch.Tensor train_data: training images (default: ``config.dataset``).
    :param torch.Tensor test_data: test images (default: ``config.dataset``).
    :returns: a dict with ``config``, ``history`` (one dict of global metrics per
        epoch), ``final`` (global metrics of the trained model), ``wall_time``
        (seconds, resumed runs included), ``world_size`` and ``vae`` (the module).
    """
    config.check()
    ctx = training.context(config.device)
    torch.set_num_threads(config.threads)
    if train_data is None or test_data is None:
        train_data, test_data = _load_data(config, ctx.rank)
    smallest = min(config.batch_size, len(train_data), len(test_data))
    if smallest < ctx.world_size:
        raise ValueError(
            f"batch_size ({config.batch_size}) and the numbers of training and test images "
            f"({len(train_data)}, {len(test_data)}) must be at least the number of "
            f"processes ({ctx.world_size})."
        )
    train_data, test_data = train_data.to(ctx.device), test_data.to(ctx.device)
    start = time.perf_counter()

    pyro.set_rng_seed(config.seed)  # the same initial parameters on every rank
    vae = config.build_model(train_data.shape[-1]).to(ctx.device)
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.lr)
    if config.resume:
        progress = _resume(config, ctx, vae, optimizer)
    else:
        pyro.set_rng_seed(training.derive_seed(config.seed, training.TRAINING_NOISE, ctx.rank))
        progress = {"epoch": 0, "step": 0, "history": [], "elapsed": 0.0}
    loss_fn = vae
    if ctx.world_size > 1:
        device_ids = [ctx.device] if ctx.device.type == "cuda" else None
        loss_fn = DistributedDataParallel(vae, device_ids=device_ids)
    schedule = config.schedule()
    checkpoint_path = os.path.join(config.out, "checkpoint.pt")

    bar = _progress_bar(config, ctx, progress["epoch"])
    for epoch in range(progress["epoch"], config.epochs):
        train_loss, temperature = _train_epoch(
            loss_fn, optimizer, train_data, schedule, config, ctx, epoch, progress
        )
        train_nelbo, _ = _evaluate_globally(
            vae, train_data, EPOCH_EVALUATION_SAMPLES, ctx, config.seed, epoch + 1, 0
        )
        test_nelbo, _ = _evaluate_globally(
            vae, test_data, EPOCH_EVALUATION_SAMPLES, ctx, config.seed, epoch + 1, 1
        )
        progress["history"].append(
            {
                "epoch": epoch + 1,
                "step": progress["step"],
                "temperature": None if config.estimator == "score_function" else temperature,
                "train_loss": train_loss,
                "train_negative_elbo": train_nelbo,
                "test_negative_elbo": test_nelbo,
            }
        )
        progress["epoch"] = epoch + 1
        if bar is not None:
            bar.update()
            bar.set_postfix(loss=f"{train_loss:.2f}", test=f"{test_nelbo:.2f}")
        last = epoch + 1 == config.epochs
        if config.checkpoint_every and ((epoch + 1) % config.checkpoint_every == 0 or last):
            elapsed = progress["elapsed"] + time.perf_counter() - start
            _checkpoint(
                checkpoint_path, config, ctx, vae, optimizer, dict(progress, elapsed=elapsed)
            )
    if bar is not None:
        bar.close()

    # Epoch "0": the per-epoch evaluations count from 1. The bound is computed on
    # the test set only: on the training set it would cost more than training.
    train_nelbo, _ = _evaluate_globally(
        vae, train_data, EPOCH_EVALUATION_SAMPLES, ctx, config.seed, 0, 0
    )
    test_nelbo, test_bound = _evaluate_globally(
        vae, test_data, config.eval_samples, ctx, config.seed, 0, 1
    )
    final = {
        "train_negative_elbo": train_nelbo,
        "test_negative_elbo": test_nelbo,
        "test_nll_bound": test_bound,
        "eval_samples": config.eval_samples,
    }
    return {
        "config": config.as_dict(),
        "history": progress["history"],
        "final": final,
        "wall_time": progress["elapsed"] + time.perf_counter() - start,
        "world_size": ctx.world_size,
        "vae": vae,
    }


def _progress_bar(config, ctx, initial):
    if ctx.rank != 0 or config.quiet:
        return None
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, CI).
    return tqdm(total=config.epochs, initial=initial, unit="epoch", disable=None)


def format_table(result: Dict[str, Any]) -> str:
    """The final metrics of :func:`train` as a small text table (nats per image)."""
    final = result["final"]
    label = f"NLL bound (S={final['eval_samples']})"
    width = max(len(label), len("negative ELBO"))
    rows = [
        f"{'':{width}}  {'train':>8}  {'test':>8}",
        f"{'negative ELBO':{width}}  {final['train_negative_elbo']:8.3f}  "
        f"{final['test_negative_elbo']:8.3f}",
        f"{label:{width}}  {'':>8}  {final['test_nll_bound']:8.3f}",
    ]
    config = result["config"]
    rows.append(
        f"estimator {config['estimator']}, {config['latents']}x{config['categories']} latents, "
        f"{config['epochs']} epochs on {config['dataset']}, {result['world_size']} process(es), "
        f"{result['wall_time']:.1f} s"
    )
    return "\n".join(rows)


def plot_curves(history):
    """
    The per-epoch training loss and negative ELBOs (nats per image).

    :rtype: matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    epochs = [row["epoch"] for row in history]
    for key, label in (
        ("train_loss", "training loss"),
        ("train_negative_elbo", "train negative ELBO"),
        ("test_negative_elbo", "test negative ELBO"),
    ):
        axes.plot(epochs, [row[key] for row in history], label=label)
    axes.set_xlabel("epoch")
    axes.set_ylabel("nats per image")
    axes.legend()
    return figure


def plot_images(images: torch.Tensor, title: str, columns: int = 10):
    """
    A grid of square grey-scale images, given flattened with values in [0, 1].

    :rtype: matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    side = math.isqrt(images.shape[-1])
    rows = math.ceil(len(images) / columns)
    figure = Figure(figsize=(columns, rows + 0.4), layout="constrained")
    figure.suptitle(title)
    for index, image in enumerate(images.detach().cpu()):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(image.view(side, side).numpy(), cmap="gray_r", vmin=0, vmax=1)
        axes.set_axis_off()
    return figure


@torch.no_grad()
def write_outputs(result: Dict[str, Any], test_data: torch.Tensor, out: str) -> Dict[str, str]:
    """
    Writes ``metrics.json`` and the plots ``curves.png``, ``reconstructions.png``
    (test images above their reconstructions from the posterior mode) and
    ``samples.png`` (pixel probabilities of codes drawn from the prior) to ``out``.

    :returns: the paths written, by name.
    """
    os.makedirs(out, exist_ok=True)
    vae = result["vae"].eval()
    device = next(vae.parameters()).device
    paths = {
        name: os.path.join(out, name)
        for name in ("metrics.json", "curves.png", "reconstructions.png", "samples.png")
    }
    metrics = {key: value for key, value in result.items() if key != "vae"}
    metrics["versions"] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "pyro_concrete": pyro_concrete.__version__,
        "numpy": np.__version__,
    }
    with open(paths["metrics.json"], "w") as file:
        json.dump(metrics, file, indent=2)
    plot_curves(result["history"]).savefig(paths["curves.png"])

    originals = test_data[:10].to(device)
    log_q = vae.posterior_logits(originals)
    mode = torch.zeros_like(log_q).scatter_(-1, log_q.argmax(-1, keepdim=True), 1)
    reconstructions = vae.likelihood(mode).base_dist.probs
    plot_images(torch.cat([originals, reconstructions]), "test images and reconstructions").savefig(
        paths["reconstructions.png"]
    )
    generator = torch.Generator(device).manual_seed(result["config"]["seed"])
    categories = torch.randint(
        vae.num_categories, (30, vae.num_latents), generator=generator, device=device
    )
    codes = nn.functional.one_hot(categories, vae.num_categories).to(originals.dtype)
    plot_images(vae.likelihood(codes).base_dist.probs, "samples from the prior").savefig(
        paths["samples.png"]
    )
    return paths


def run(config: Config) -> Optional[Dict[str, Any]]:
    """
    :func:`train`, then, on rank 0, the table on stdout and :func:`write_outputs`.

    :returns: the result of :func:`train` on rank 0, else ``None``.
    """
    config.check()
    rank = training.context(config.device).rank
    train_data, test_data = _load_data(config, rank)
    result = train(config, train_data, test_data)
    if rank != 0:
        return None
    paths = write_outputs(result, test_data, config.out)
    if not config.quiet:
        print(format_table(result))
        print(f"metrics and plots written to {os.path.dirname(paths['metrics.json'])}")
    return result


def parse_args(argv=None) -> Config:
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="python -m pyro_concrete.examples.vae",
        description="Train a categorical VAE with Pyro and pyro-concrete.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--dataset", choices=DATASETS, default=defaults.dataset)
    add("--data-dir", help="where MNIST is, or is to be downloaded (None: ./data)")
    add("--download", action="store_true", help="let torchvision download MNIST")
    add("--subset", type=int, help="use only the first N training and N test images")
    add("--estimator", choices=ESTIMATORS, default=defaults.estimator)
    add("--latents", type=int, default=defaults.latents, help="number of categorical latents")
    add("--categories", type=int, default=defaults.categories, help="categories per latent")
    add("--hidden", type=int, default=defaults.hidden, help="width of the hidden layers")
    add("--temperature", type=float, default=defaults.temperature, help="initial temperature")
    add(
        "--prior-temperature",
        type=float,
        default=defaults.prior_temperature,
        help="of the relaxed prior (estimator relaxed; Maddison et al.'s for 8 categories)",
    )
    add(
        "--anneal-rate",
        type=float,
        default=defaults.anneal_rate,
        help="temperature * exp(-rate * step), at least 0.5 (reinmax: 1); 0: fixed",
    )
    add("--anneal-every", type=int, default=defaults.anneal_every, help="steps between updates")
    add("--epochs", type=int, default=defaults.epochs)
    add("--batch-size", type=int, default=defaults.batch_size, help="global, over all processes")
    add("--lr", type=float, default=defaults.lr)
    add("--rao-samples", type=int, default=defaults.rao_samples, help="for gumbel_rao")
    add("--seed", type=int, default=defaults.seed)
    add("--eval-samples", type=int, default=defaults.eval_samples, help="for the NLL bound")
    add("--device", "--accelerator", default=defaults.device, help="cpu, cuda or cuda:N")
    add("--devices", type=int, default=defaults.devices, help="processes to spawn (data-parallel)")
    add(
        "--threads",
        type=int,
        default=defaults.threads,
        help="CPU threads per process (torchrun's default is 1 too)",
    )
    add("--out", default=defaults.out, help="directory for metrics.json, plots, checkpoints")
    add(
        "--checkpoint-every",
        type=int,
        default=defaults.checkpoint_every,
        help="epochs between checkpoints to OUT/checkpoint.pt (0: never)",
    )
    add("--resume", help="checkpoint to resume from")
    add("--quiet", action="store_true", help="no progress bar and no table")
    args = parser.parse_args(argv)
    try:
        return Config(
            **{field.name: getattr(args, field.name) for field in dataclasses.fields(Config)}
        ).check()
    except ValueError as error:
        parser.error(str(error))


def main(argv=None) -> int:
    config = parse_args(argv)
    try:
        if training.launched_by_torchrun():
            if config.devices != 1:
                raise ValueError(
                    "under torchrun, set the number of processes with torchrun's "
                    "--nproc-per-node, not --devices."
                )
            training.init_from_environment(config.device)
            try:
                run(config)
            finally:
                torch.distributed.destroy_process_group()
        elif config.devices > 1:
            # Fail here, not in every process: the device, the data (downloaded
            # once), the checkpoint.
            training.resolve_device(config.device)
            load_dataset(config.dataset, config.data_dir, config.download)
            if config.resume:
                _read_checkpoint(config, config.devices)
            training.spawn(run, config.devices, config.device, args=(config,))
        else:
            run(config)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # Run under the module's own name, so that spawned processes find `run`.
    from pyro_concrete.examples.vae import main as _main

    raise SystemExit(_main())
