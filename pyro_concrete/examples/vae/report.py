# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
What a run of the categorical VAE shows: progress while it trains
(:class:`Progress`), the final table (:func:`format_table`), the plots and
``metrics.json`` (:func:`write_outputs`). Every number is in nats per image.
"""

import json
import math
import os
import platform
import sys
import time
from typing import Any, Dict, List, Optional

import numpy as np
import pyro
import torch
from torch import nn

import pyro_concrete

__all__ = [
    "PLATEAU_MARGIN",
    "Progress",
    "format_table",
    "on_plateau",
    "plot_curves",
    "plot_images",
    "plot_reconstructions",
    "write_outputs",
]

#: A run whose test negative ELBO is within this many nats of (or above) the NLL of
#: independent pixels has learnt (almost) nothing from its code: it is on the plateau.
PLATEAU_MARGIN = 1.0

_LOSS_EXPLANATIONS = {
    "relaxed": "training loss: the relaxed objective the optimiser sees (relaxed guide and "
    "prior at the current temperature),\nnot the discrete model's -ELBO; it steps when "
    "the temperature steps down.",
    "score_function": "training loss: a one-sample estimate of the discrete model's -ELBO "
    "on the training batches,\nduring the epoch (the score-function estimator has no "
    "temperature).",
}
_STRAIGHT_THROUGH_EXPLANATION = (
    "training loss: a one-sample estimate of the discrete model's -ELBO on the training "
    "batches,\nduring the epoch; the temperature shapes only the gradients."
)


class Progress:
    """
    Progress on stderr, in the process of rank 0 unless ``config.quiet``: tqdm's
    bar when stderr is a terminal; otherwise (a log file, ``nohup``, a cluster
    job, where a bar would be one long line written at the end) a line every
    ``config.progress_every`` epochs and at the last one.

    :param config: the run's :class:`~pyro_concrete.examples.vae.train.Config`.
    :param int rank: this process's rank.
    :param int initial: the epoch the run starts from (resumed runs).
    """

    def __init__(self, config, rank: int = 0, initial: int = 0):
        self.enabled = rank == 0 and not config.quiet
        self.total, self.every = config.epochs, config.progress_every
        self.start = time.perf_counter()
        self.bar = None
        isatty = getattr(sys.stderr, "isatty", None)
        if self.enabled and isatty is not None and isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=initial, unit="epoch")

    def update(self, row: Dict[str, Any]) -> None:
        """Reports one epoch's row of the history."""
        if self.bar is not None:
            self.bar.update()
            self.bar.set_postfix(
                loss=f"{row['train_loss']:.2f}", test=f"{row['test_negative_elbo']:.2f}"
            )
        elif self.enabled and (row["epoch"] % self.every == 0 or row["epoch"] == self.total):
            print(self.line(row), file=sys.stderr, flush=True)

    def line(self, row: Dict[str, Any]) -> str:
        """The progress line of one epoch's row."""
        width = len(str(self.total))
        temperature = (
            "" if row["temperature"] is None else f", temperature {row['temperature']:.3f}"
        )
        return (
            f"epoch {row['epoch']:{width}d}/{self.total} (step {row['step']}{temperature}): "
            f"training loss {row['train_loss']:.3f}, train -ELBO "
            f"{row['train_negative_elbo']:.3f}, test -ELBO {row['test_negative_elbo']:.3f} "
            f"nats; {time.perf_counter() - self.start:.1f} s"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def on_plateau(final: Dict[str, Any]) -> bool:
    """
    Whether a run ended on the "no code used" plateau: its test negative ELBO
    within :data:`PLATEAU_MARGIN` nats of, or above, the test NLL of independent
    pixels.
    """
    return final["test_negative_elbo"] > final["independent_pixels_test_nll"] - PLATEAU_MARGIN


def format_table(result: Dict[str, Any]) -> str:
    """
    The final metrics of :func:`~pyro_concrete.examples.vae.train.train` as a small
    text table (nats per image), with the NLL of independent pixels for scale and
    a note when the run ended on the plateau (:func:`on_plateau`).
    """
    final, config = result["final"], result["config"]
    label = f"NLL bound (S={final['eval_samples']})"
    plateau = final["independent_pixels_test_nll"]
    width = len("independent pixels")
    rows = [
        f"{'':{width}}  {'train':>8}  {'test':>8}",
        f"{'negative ELBO':{width}}  {final['train_negative_elbo']:8.3f}  "
        f"{final['test_negative_elbo']:8.3f}",
        f"{label:{width}}  {'':>8}  {final['test_nll_bound']:8.3f}",
        f"{'independent pixels':{width}}  {'':>8}  {plateau:8.3f}",
        f"estimator {config['estimator']}, {config['latents']}x{config['categories']} latents, "
        f"{config['epochs']} epochs on {config['dataset']}, {result['world_size']} process(es), "
        f"{result['wall_time']:.1f} s",
    ]
    if on_plateau(final):
        rows.append(
            f"note: the test negative ELBO ({final['test_negative_elbo']:.2f}) is within "
            f"{PLATEAU_MARGIN:g} nat of that of independent pixels ({plateau:.2f}): the model "
            f"has learnt\n(almost) nothing from its code, the plateau where short runs sit. "
            f"Train for more epochs, e.g. --epochs {max(3 * config['epochs'], 100)}."
        )
    return "\n".join(rows)


def plot_curves(
    history: List[Dict[str, Any]],
    estimator: Optional[str] = None,
    independent_pixels: Optional[float] = None,
):
    """
    The per-epoch training loss and negative ELBOs (nats per image) above the
    guide's temperature, with a caption that says what the training loss is for
    ``estimator``, and the NLL of independent pixels (``independent_pixels``) as a
    dotted line: the plateau of a model that uses no code.

    :rtype: matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    temperatures = [row["temperature"] for row in history]
    scheduled = any(value is not None for value in temperatures)
    figure = Figure(figsize=(10, 6.5 if scheduled else 5), layout="constrained")
    figure.suptitle("Training curves" + (f", estimator {estimator}" if estimator else ""))
    ratios = [3, 1] if scheduled else [1]
    panels = figure.subplots(len(ratios), sharex=True, squeeze=False, height_ratios=ratios)[:, 0]
    for key, label, style in (
        ("train_loss", "training loss (the estimator's objective, see below)", "-"),
        ("train_negative_elbo", "train -ELBO (discrete model)", "-"),
        ("test_negative_elbo", "test -ELBO (discrete model)", "--"),
    ):
        panels[0].plot(epochs, [row[key] for row in history], style, label=label)
    if independent_pixels is not None:
        label = f"test NLL of independent pixels, {independent_pixels:.2f} (no code used)"
        panels[0].axhline(independent_pixels, color="grey", linestyle=":", label=label)
    panels[0].set_ylabel("nats per image")
    # Outside the axes, so that it hides no line.
    panels[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    if scheduled:
        panels[1].step(epochs, temperatures, where="post", color="black")
        panels[1].set_ylabel("guide temperature")
    panels[-1].set_xlabel("epoch (one pass over the training images)")
    panels[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    explanation = _LOSS_EXPLANATIONS.get(estimator, _STRAIGHT_THROUGH_EXPLANATION)
    figure.supxlabel(explanation, fontsize="small", x=0.02, ha="left")
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


def plot_reconstructions(originals: torch.Tensor, reconstructions: torch.Tensor):
    """
    Test images (row "data") above their reconstructions (row "reconstruction":
    pixel probabilities), given flattened with values in [0, 1].

    :rtype: matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    side = math.isqrt(originals.shape[-1])
    columns = len(originals)
    figure = Figure(figsize=(columns + 1.5, 3), layout="constrained")
    figure.suptitle("Test images and their reconstructions from the posterior mode")
    grid = figure.subplots(2, columns, squeeze=False)
    for row, (images, label) in enumerate(
        ((originals, "data\n(binary)"), (reconstructions, "reconstruction\n(p(pixel on))"))
    ):
        for column, image in enumerate(images.detach().cpu()):
            axes = grid[row, column]
            shown = axes.imshow(image.view(side, side).numpy(), cmap="gray_r", vmin=0, vmax=1)
            axes.set_xticks([])
            axes.set_yticks([])
        grid[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    figure.colorbar(shown, ax=grid, label="pixel value / probability", shrink=0.8)
    return figure


@torch.no_grad()
def write_outputs(result: Dict[str, Any], test_data: torch.Tensor, out: str) -> Dict[str, str]:
    """
    Writes ``metrics.json`` and the plots ``curves.png`` (:func:`plot_curves`),
    ``reconstructions.png`` (test images above their reconstructions from the
    posterior mode) and ``samples.png`` (pixel probabilities of codes drawn from
    the prior) to ``out``.

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
    estimator = result["config"]["estimator"]
    plateau = result["final"]["independent_pixels_test_nll"]
    plot_curves(result["history"], estimator, plateau).savefig(paths["curves.png"])

    originals = test_data[:10].to(device)
    log_q = vae.posterior_logits(originals)
    mode = torch.zeros_like(log_q).scatter_(-1, log_q.argmax(-1, keepdim=True), 1)
    reconstructions = vae.likelihood(mode).base_dist.probs
    plot_reconstructions(originals, reconstructions).savefig(paths["reconstructions.png"])
    generator = torch.Generator(device).manual_seed(result["config"]["seed"])
    categories = torch.randint(
        vae.num_categories, (30, vae.num_latents), generator=generator, device=device
    )
    codes = nn.functional.one_hot(categories, vae.num_categories).to(originals.dtype)
    title = "Samples from the prior: p(pixel on | z) for codes z drawn uniformly"
    plot_images(vae.likelihood(codes).base_dist.probs, title).savefig(paths["samples.png"])
    return paths
