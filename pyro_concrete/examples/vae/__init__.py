# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
The main job: a categorical variational autoencoder trained with Pyro's ELBOs
and one of five gradient estimators for its discrete latents.

- :mod:`~pyro_concrete.examples.vae.model`: the model, guide and evaluation,
  what a reader comes for;
- :mod:`~pyro_concrete.examples.vae.train`: the settings of a run
  (:class:`~pyro_concrete.examples.vae.train.Config`) and the training loop
  (:func:`~pyro_concrete.examples.vae.train.train`);
- :mod:`~pyro_concrete.examples.vae.report`: progress, the final table, plots
  and ``metrics.json``;
- :mod:`~pyro_concrete.examples.vae.distributed` and
  :mod:`~pyro_concrete.examples.vae.checkpoint`: data-parallel training and
  checkpoints;
- ``__main__``: the command line.

Run ``python -m pyro_concrete.examples.vae --help`` for the options; with the
defaults it trains on scikit-learn's bundled 8x8 digits in about a minute on two
CPU cores, prints a table and writes ``metrics.json`` and plots to ``--out``.
Data-parallel training: ``--devices N`` spawns N processes on this machine;
under ``torchrun`` each process joins the launcher's group (several nodes too).
``--checkpoint-every N`` and ``--resume PATH`` checkpoint and resume exactly.

The functions compose for use from Python::

    from pyro_concrete.examples import vae

    config = vae.Config(estimator="gumbel_rao", epochs=50)
    result = vae.train(config)
    print(vae.format_table(result))
"""

from pyro_concrete.examples.vae.model import (
    ESTIMATORS,
    CategoricalVAE,
    evaluate,
    independent_pixels_nll,
)
from pyro_concrete.examples.vae.report import (
    format_table,
    plot_curves,
    plot_images,
    plot_reconstructions,
    write_outputs,
)
from pyro_concrete.examples.vae.train import MINIMUM_TEMPERATURE, Config, run, train

__all__ = [
    "CategoricalVAE",
    "Config",
    "ESTIMATORS",
    "MINIMUM_TEMPERATURE",
    "evaluate",
    "format_table",
    "independent_pixels_nll",
    "main",
    "parse_args",
    "plot_curves",
    "plot_images",
    "plot_reconstructions",
    "run",
    "train",
    "write_outputs",
]


def __getattr__(name):
    # The command line lives in __main__, which `python -m` runs after importing this
    # package; importing it here, eagerly, would make runpy warn that it ran twice.
    if name in ("main", "parse_args"):
        from pyro_concrete.examples.vae import __main__ as command_line

        return getattr(command_line, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
