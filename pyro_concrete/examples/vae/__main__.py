# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
The command line of the categorical VAE example::

    python -m pyro_concrete.examples.vae --help

In one process by default; ``--devices N`` spawns N processes on this machine;
under ``torchrun`` each process joins the launcher's group (several nodes too).
A bad option, setting or checkpoint, and a process that waited longer than
``--timeout`` for the others, end the run with one line on stderr (``error:
...``) and exit status 2.
"""

import argparse
import dataclasses
import signal
import sys
import threading

import torch
import torch.distributed
from torch.multiprocessing import ProcessExitedException

from pyro_concrete.examples.data import DATASETS, load_dataset
from pyro_concrete.examples.vae import checkpoint, distributed
from pyro_concrete.examples.vae.model import ESTIMATORS
from pyro_concrete.examples.vae.train import Config, run

__all__ = ["build_parser", "main", "parse_args"]

# What ends a run with one line, not a traceback: the user can act on the message.
_CLEAR_ERRORS = (ValueError, FileNotFoundError, distributed.StalledWorkerError)
_STATUS = 2


#: The options: flags, a help sentence, and argparse's keywords besides the default,
#: which is Config's.
OPTIONS = (
    ("--dataset", "binarised images: scikit-learn's bundled 8x8 digits, or MNIST "
     "(needs torchvision)", dict(choices=DATASETS)),
    ("--data-dir", "where MNIST is, or is to be downloaded (None: ./data)", {}),
    ("--download", "let torchvision download MNIST", dict(action="store_true")),
    ("--subset", "use only the first N training and N test images (None: all)", dict(type=int)),
    ("--estimator", "how gradients pass the categorical latents: the relaxed ELBO, "
     "straight-through variants on exact one-hot samples, or the score function",
     dict(choices=ESTIMATORS)),
    ("--latents", "number of categorical latents", dict(type=int)),
    ("--categories", "categories per latent", dict(type=int)),
    ("--hidden", "width of the hidden layers", dict(type=int)),
    ("--temperature", "initial temperature of the guide", dict(type=float)),
    ("--prior-temperature", "temperature of the relaxed prior (estimator relaxed; "
     "Maddison et al.'s for 8 categories)", dict(type=float)),
    ("--anneal-rate", "temperature * exp(-rate * step), at least 0.5 (reinmax: 1); 0: fixed",
     dict(type=float)),
    ("--anneal-every", "steps between temperature updates", dict(type=int)),
    ("--epochs", "passes over the training images (resumed: in all, the checkpoint's "
     "included)", dict(type=int)),
    ("--batch-size", "images per optimisation step, over all processes", dict(type=int)),
    ("--lr", "learning rate of Adam", dict(type=float)),
    ("--rao-samples", "conditional samples of the gumbel_rao estimator", dict(type=int)),
    ("--seed", "seeds the initial parameters, the data order and all noise", dict(type=int)),
    ("--eval-samples", "posterior samples per test image for the final NLL bound",
     dict(type=int)),
    ("--device --accelerator", "cpu, cuda or cuda:N", {}),
    ("--devices", "processes to spawn on this machine (data-parallel)", dict(type=int)),
    ("--threads", "CPU threads per process (torchrun's default is 1 too)", dict(type=int)),
    ("--timeout", "seconds a process waits for the others (data-parallel) before the run "
     "fails", dict(type=float)),
    ("--out", "directory for metrics.json, plots and checkpoints", {}),
    ("--checkpoint-every", "epochs between checkpoints to OUT/checkpoint.pt (0: never)",
     dict(type=int)),
    ("--resume", "checkpoint to resume from (None: start afresh)", {}),
    ("--progress-every", "epochs between progress lines on stderr when it is not a "
     "terminal (a log file); a terminal gets a progress bar", dict(type=int)),
    ("--quiet", "no progress and no table", dict(action="store_true")),
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: every option has a help sentence and shows its default."""
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="python -m pyro_concrete.examples.vae",
        description="Train a categorical VAE with Pyro and pyro-concrete, print a table of "
        "test metrics (nats per image) and write metrics.json and plots to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for flags, help, keywords in OPTIONS:
        flags = flags.split()
        default = getattr(defaults, flags[0][2:].replace("-", "_"))
        parser.add_argument(*flags, help=help, default=default, **keywords)
    return parser


def parse_args(argv=None) -> Config:
    """The :class:`~pyro_concrete.examples.vae.train.Config` of a command line (exits 2 if bad)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return Config(
            **{field.name: getattr(args, field.name) for field in dataclasses.fields(Config)}
        ).check()
    except ValueError as error:
        parser.error(str(error))


def main(argv=None) -> int:
    """Runs the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    config = parse_args(argv)
    previous = _exit_on_sigterm()
    try:
        if distributed.launched_by_torchrun():
            _run_under_torchrun(config)
        elif config.devices > 1:
            _spawn(config)
        else:
            run(config)
    except _CLEAR_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return _STATUS
    except ProcessExitedException as error:
        if error.exit_code != _STATUS:  # else the process has printed its error
            print(f"error: {error}", file=sys.stderr)
        return _STATUS if error.exit_code == _STATUS else 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _exit_on_sigterm():
    """
    Makes ``SIGTERM`` (a scheduler's, or :func:`torch.multiprocessing.spawn`'s
    when another process failed) raise ``SystemExit``, so that cleanup runs: a
    checkpoint being written loses its temporary file. Returns the previous
    handler, or ``None`` outside the main thread (where handlers can't be set).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _run_under_torchrun(config):
    if config.devices != 1:
        raise ValueError(
            "under torchrun, set the number of processes with torchrun's "
            "--nproc-per-node, not --devices."
        )
    distributed.init_from_environment(config.device, config.timeout)
    try:
        run(config)
        distributed.finish()
    finally:
        torch.distributed.destroy_process_group()


def _spawn(config):
    # Fail here, not in every process: the device, the data (downloaded once),
    # the checkpoint.
    distributed.resolve_device(config.device)
    train_data, _ = load_dataset(config.dataset, config.data_dir, config.download)
    if config.resume:
        vae = config.build_model(train_data.shape[-1])
        optimizer = torch.optim.Adam(vae.parameters(), lr=config.lr)
        state = checkpoint.read_run(config, config.devices)
        checkpoint.restore_run(state, config.resume, vae, optimizer, rank=0)
    distributed.spawn(
        _run_spawned, config.devices, config.device, args=(config,), timeout=config.timeout
    )


def _run_spawned(config):
    """
    :func:`~pyro_concrete.examples.vae.train.run` in a spawned process: a clear
    error is one line and exit status 2.
    """
    _exit_on_sigterm()
    try:
        run(config)
    except _CLEAR_ERRORS as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(_STATUS) from None


if __name__ == "__main__":
    # Run under the module's own name, so that spawned processes find _run_spawned.
    from pyro_concrete.examples.vae.__main__ import main as _main

    raise SystemExit(_main())
