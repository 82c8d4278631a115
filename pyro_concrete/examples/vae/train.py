# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Training the categorical VAE: the settings of a run (:class:`Config`) and the
loop (:func:`train`), in one process or as one rank of a data-parallel run
(:mod:`~pyro_concrete.examples.vae.distributed`), with checkpoints
(:mod:`~pyro_concrete.examples.vae.checkpoint`).

The temperature follows Jang et al.'s schedule,
:class:`~pyro_concrete.schedules.ExponentialDecay`: from ``temperature``,
multiplied by :math:`\\exp(-r N)` every :math:`N` steps, :math:`r = 10^{-4}`,
:math:`N = 500` (from their grid), down to their minimum of 0.5.
"""

import dataclasses
import math
import os
import time
from typing import Any, Dict, List, Optional, Tuple

import pyro
import torch
import torch.distributed
from torch.nn.parallel import DistributedDataParallel

from pyro_concrete.examples.data import DATASETS, load_dataset
from pyro_concrete.examples.vae import checkpoint, distributed, report
from pyro_concrete.examples.vae.model import (
    ESTIMATORS,
    CategoricalVAE,
    evaluate,
    independent_pixels_nll,
)
from pyro_concrete.schedules import ExponentialDecay

__all__ = ["Config", "MINIMUM_TEMPERATURE", "RESUMABLE_CHANGES", "run", "train"]

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
    "progress_every",
    "timeout",
)


@dataclasses.dataclass
class Config:
    """
    Everything a run depends on: the command line's options, one field each, with
    the same defaults (``python -m pyro_concrete.examples.vae --help`` describes
    them). ``prior_temperature=None``, which only the Python API can express,
    gives the relaxed prior the guide's temperature. ``timeout`` applies where
    the example creates the process group (the command line); from Python, pass
    it to :func:`~pyro_concrete.examples.vae.distributed.spawn`. :meth:`check`
    raises a ``ValueError`` that names a bad field.

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
    timeout: float = distributed.DEFAULT_TIMEOUT
    out: str = "runs/vae"
    checkpoint_every: int = 0
    resume: Optional[str] = None
    progress_every: int = 10
    quiet: bool = False

    def check(self) -> "Config":
        _check_choice("dataset", self.dataset, DATASETS)
        _check_choice("estimator", self.estimator, ESTIMATORS)
        minimums = dict(latents=1, hidden=1, batch_size=1, rao_samples=1, categories=2)
        minimums.update(anneal_every=1, epochs=0, seed=0, eval_samples=1, devices=1)
        minimums.update(threads=1, checkpoint_every=0, progress_every=1)
        if self.subset is not None:
            minimums["subset"] = 1
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}.")
        positive = dict(temperature=self.temperature, lr=self.lr, timeout=self.timeout)
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

    def differences(self, saved: Dict[str, Any]) -> List[str]:
        """
        The settings of ``saved`` (another run's :meth:`as_dict`) that differ from
        this run's, as ``"name=saved (now current)"``, except
        :data:`RESUMABLE_CHANGES`.
        """
        current = self.as_dict()
        return [
            f"{name}={saved.get(name)!r} (now {current[name]!r})"
            for name in current
            if name not in RESUMABLE_CHANGES and saved.get(name) != current[name]
        ]


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")


def train(
    config: Config,
    train_data: Optional[torch.Tensor] = None,
    test_data: Optional[torch.Tensor] = None,
) -> Dict[str, Any]:
    """
    Trains and evaluates a :class:`~pyro_concrete.examples.vae.model.CategoricalVAE`, in
    this process or -- when a :mod:`torch.distributed` process group is
    initialised -- as one rank of a data-parallel run (call it in every process).
    Seeds every generator from ``config.seed`` (and the rank), so a run is
    reproducible, and sets torch's number of CPU threads to ``config.threads``;
    resumes from ``config.resume`` and checkpoints every ``config.checkpoint_every``
    epochs to ``<config.out>/checkpoint.pt``.

    :param Config config: the run.
    :param torch.Tensor train_data: training images (default: ``config.dataset``).
    :param torch.Tensor test_data: test images (default: ``config.dataset``).
    :returns: a dict with ``config``, ``history`` (one dict of global metrics per
        epoch), ``final`` (global metrics of the trained model, and the test NLL
        of independent pixels, the plateau of a model that uses no code),
        ``wall_time`` (seconds, resumed runs included), ``world_size`` and ``vae``
        (the module).
    :raises ValueError: for a bad setting or checkpoint, naming it.
    :raises ~pyro_concrete.examples.vae.distributed.StalledWorkerError: if this
        process waited longer than the process group's timeout for the others.
    """
    config.check()
    ctx = distributed.context(config.device)
    torch.set_num_threads(config.threads)
    with distributed.stalls_are_errors():
        if train_data is None or test_data is None:
            train_data, test_data = _load_data(config, ctx.rank)
        _check_sizes(config, ctx, train_data, test_data)
        train_data, test_data = train_data.to(ctx.device), test_data.to(ctx.device)
        start = time.perf_counter()
        vae, optimizer, progress = _start(config, ctx, train_data.shape[-1])
        _train_epochs(config, ctx, vae, optimizer, progress, (train_data, test_data), start)
        final = _final_metrics(config, ctx, vae, train_data, test_data)
    return {
        "config": config.as_dict(),
        "history": progress["history"],
        "final": final,
        "wall_time": progress["elapsed"] + time.perf_counter() - start,
        "world_size": ctx.world_size,
        "vae": vae,
    }


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


def _check_sizes(config, ctx, train_data, test_data):
    if min(config.batch_size, len(train_data), len(test_data)) < ctx.world_size:
        raise ValueError(
            f"batch_size ({config.batch_size}) and the numbers of training and test images "
            f"({len(train_data)}, {len(test_data)}) must be at least the number of "
            f"processes ({ctx.world_size})."
        )


def _start(config, ctx, num_pixels):
    """The model, its optimiser and the progress: new, or restored from ``config.resume``."""
    pyro.set_rng_seed(config.seed)  # the same initial parameters on every rank
    vae = config.build_model(num_pixels).to(ctx.device)
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.lr)
    if config.resume:
        state = checkpoint.read_run(config, ctx.world_size)
        progress = checkpoint.restore_run(state, config.resume, vae, optimizer, ctx.rank)
    else:
        seed = distributed.derive_seed(config.seed, distributed.TRAINING_NOISE, ctx.rank)
        pyro.set_rng_seed(seed)
        progress = {"epoch": 0, "step": 0, "history": [], "elapsed": 0.0}
    return vae, optimizer, progress


def _train_epochs(config, ctx, vae, optimizer, progress, data, start):
    """Trains from ``progress["epoch"]`` to ``config.epochs``, advancing ``progress``."""
    loss_fn = vae
    if ctx.world_size > 1:
        device_ids = [ctx.device] if ctx.device.type == "cuda" else None
        loss_fn = DistributedDataParallel(vae, device_ids=device_ids)
    schedule = config.schedule()
    checkpoint_path = os.path.join(config.out, "checkpoint.pt")
    progress_report = report.Progress(config, ctx.rank, progress["epoch"])
    try:
        for epoch in range(progress["epoch"], config.epochs):
            train_loss, temperature = _train_epoch(
                loss_fn, optimizer, data[0], schedule, config, ctx, epoch, progress
            )
            row = {
                "epoch": epoch + 1,
                "step": progress["step"],
                "temperature": None if config.estimator == "score_function" else temperature,
                "train_loss": train_loss,
            }
            for split, name in enumerate(("train_negative_elbo", "test_negative_elbo")):
                row[name], _ = _evaluate_globally(
                    vae, data[split], EPOCH_EVALUATION_SAMPLES, ctx, config.seed, epoch + 1, split
                )
            progress["history"].append(row)
            progress["epoch"] = epoch + 1
            progress_report.update(row)
            last = epoch + 1 == config.epochs
            if config.checkpoint_every and ((epoch + 1) % config.checkpoint_every == 0 or last):
                elapsed = progress["elapsed"] + time.perf_counter() - start
                state = dict(progress, elapsed=elapsed)
                checkpoint.save_run(checkpoint_path, config, ctx, vae, optimizer, state)
    finally:
        progress_report.close()


def _train_epoch(loss_fn, optimizer, train_data, schedule, config, ctx, epoch, progress):
    """
    One epoch of optimisation; advances ``progress["step"]``.

    :returns: the mean training loss over all ranks, and the last temperature.
    """
    loss_sum, count = torch.zeros((), dtype=torch.float64, device=ctx.device), 0
    temperature = schedule(progress["step"])
    batches = distributed.shard_batches(
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
    totals = distributed.all_reduce_sum(torch.stack([loss_sum, loss_sum.new_tensor(count)]))
    loss_sum, count = totals.tolist()
    if not math.isfinite(loss_sum):
        raise FloatingPointError(
            f"the training loss became {loss_sum} in epoch {epoch + 1} "
            f"(estimator {config.estimator!r}); try a smaller --lr."
        )
    return loss_sum / count, temperature


def _evaluate_globally(vae, data, num_samples, ctx, seed, *keys):
    """
    The means over all images of :func:`~pyro_concrete.examples.vae.model.evaluate`, each
    rank scoring its share of ``data``, with noise of its own (seeded from ``keys``)
    so that evaluating does not change the course of training.
    """
    devices = [ctx.device.index] if ctx.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(
            distributed.derive_seed(seed, distributed.EVALUATION_NOISE, ctx.rank, *keys)
        )
        per_image = evaluate(vae, data[ctx.rank :: ctx.world_size], num_samples)
    totals = torch.tensor(
        [float(values.sum()) for values in per_image] + [len(per_image[0])],
        dtype=torch.float64,
        device=ctx.device,
    )
    totals = distributed.all_reduce_sum(totals)
    return (totals[:-1] / totals[-1]).tolist()


def _final_metrics(config, ctx, vae, train_data, test_data):
    # Epoch "0": the per-epoch evaluations count from 1. The bound is computed on
    # the test set only: on the training set it would cost more than training.
    samples = EPOCH_EVALUATION_SAMPLES
    train_nelbo, _ = _evaluate_globally(vae, train_data, samples, ctx, config.seed, 0, 0)
    test_nelbo, test_bound = _evaluate_globally(
        vae, test_data, config.eval_samples, ctx, config.seed, 0, 1
    )
    return {
        "train_negative_elbo": train_nelbo,
        "test_negative_elbo": test_nelbo,
        "test_nll_bound": test_bound,
        "eval_samples": config.eval_samples,
        "independent_pixels_test_nll": independent_pixels_nll(train_data, test_data),
    }


def run(config: Config) -> Optional[Dict[str, Any]]:
    """
    :func:`train`, then, on rank 0, the table on stdout and
    :func:`~pyro_concrete.examples.vae.report.write_outputs`.

    :returns: the result of :func:`train` on rank 0, else ``None``.
    """
    config.check()
    rank = distributed.context(config.device).rank
    with distributed.stalls_are_errors():
        train_data, test_data = _load_data(config, rank)
    result = train(config, train_data, test_data)
    if rank != 0:
        return None
    paths = report.write_outputs(result, test_data, config.out)
    if not config.quiet:
        print(report.format_table(result))
        print(f"metrics and plots written to {os.path.dirname(paths['metrics.json'])}")
    return result
