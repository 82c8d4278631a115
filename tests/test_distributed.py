# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Data-parallel training (two CPU processes, gloo) and checkpoints of the VAE
example: ranks stay identical, logged metrics are global, a killed run resumes
exactly, a stalled process is a clear error, and bad checkpoints are one-line
errors that leave no temporary file.
"""

import dataclasses
import datetime
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from pyro_concrete.examples import vae
from pyro_concrete.examples.data import load_dataset
from pyro_concrete.examples.vae import checkpoint, distributed
from tests.examples.test_vae import enumerate_codes, one_thread  # noqa: F401 (autouse)

# Enumerable (3**2 codes), so that metrics can be checked against exact values.
SMALL = dict(subset=200, latents=2, categories=3, hidden=32, batch_size=50, lr=3e-3)
SMALL_OPTIONS = [f"--{name.replace('_', '-')}={value}" for name, value in SMALL.items()]


#: The fields of a row of a run's history.
HISTORY_FIELDS = {"epoch", "step", "temperature", "train_loss"}
HISTORY_FIELDS |= {"train_negative_elbo", "test_negative_elbo"}


def assert_same_history(actual, expected):
    """
    Row by row, every field exactly: a resumed run replays the same operations on the
    same numbers (the data order, seeds and RNG states are restored), so nothing may
    differ, not even in the last bit.
    """
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.keys() == want.keys() == HISTORY_FIELDS
        for key in HISTORY_FIELDS:
            assert got[key] == want[key], (want["epoch"], key, got[key], want[key])


def small_config(out, **kwargs):
    options = dict(SMALL, epochs=4, eval_samples=2000, out=str(out), quiet=True)
    options.update(kwargs)
    return vae.Config(**options)


def _train_interrupt_and_resume(config, directory):
    """
    Runs in each of the spawned processes: trains ``config`` straight through, then
    trains it again stopped after half the epochs and resumed from the checkpoint,
    and saves what this rank ended with after each.
    """
    rank = torch.distributed.get_rank()

    def save(result, name):
        saved = {key: result[key] for key in ("final", "history", "world_size")}
        saved["state"] = result["vae"].state_dict()
        torch.save(saved, os.path.join(directory, f"{name}{rank}.pt"))

    save(vae.train(config), "straight")
    stopped = dataclasses.replace(
        config, epochs=config.epochs // 2, checkpoint_every=1, out=os.path.join(directory, "run")
    )
    vae.train(stopped)
    checkpoint_file = os.path.join(stopped.out, "checkpoint.pt")
    resumed = dataclasses.replace(stopped, epochs=config.epochs, resume=checkpoint_file)
    save(vae.train(resumed), "resumed")


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory):
    """What each of two processes ended with, straight through and resumed."""
    directory = tmp_path_factory.mktemp("two_processes")
    config = small_config(directory)
    distributed.spawn(_train_interrupt_and_resume, 2, "cpu", args=(config, str(directory)))
    runs = {
        name: [torch.load(directory / f"{name}{rank}.pt") for rank in range(2)]
        for name in ("straight", "resumed")
    }
    return config, runs


def test_ranks_hold_identical_parameters(two_process_runs):
    config, runs = two_process_runs
    for ranks in runs.values():
        assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
        assert ranks[0]["state"].keys() == ranks[1]["state"].keys()
        for name, value in ranks[0]["state"].items():
            assert torch.equal(value, ranks[1]["state"][name]), name
        assert ranks[0]["final"] == ranks[1]["final"]
        assert ranks[0]["history"] == ranks[1]["history"]
        assert len(ranks[0]["history"]) == config.epochs


def test_metrics_are_global(two_process_runs):
    """
    The reported test negative ELBO is that of the whole test set, not of rank 0's
    half: it agrees with the exact value (enumeration) within 5 standard errors of
    its Monte Carlo estimate, while the exact value of rank 0's half differs by
    more than 10.
    """
    config, runs = two_process_runs
    model = config.build_model(64).double()
    model.load_state_dict(runs["straight"][0]["state"])
    _, test_data = load_dataset("digits", dtype=torch.float64)
    test_data = test_data[: config.subset]
    scores = enumerate_codes(model, test_data)
    error = (scores["log_likelihood_variance"].sum() / config.eval_samples).sqrt() / len(test_data)
    exact = scores["negative_elbo"]
    reported = runs["straight"][0]["final"]["test_negative_elbo"]
    assert abs(reported - exact.mean()) < 5 * error
    assert abs(exact[0::2].mean() - exact.mean()) > 10 * error


def test_two_process_run_resumes_exactly(two_process_runs):
    """Stopped after 2 of 4 epochs and resumed: the parameters and metrics of a straight run."""
    _, runs = two_process_runs
    for straight, resumed in zip(runs["straight"], runs["resumed"]):
        torch.testing.assert_close(resumed["state"], straight["state"], rtol=0, atol=1e-6)
        assert_same_history(resumed["history"], straight["history"])
        assert resumed["final"] == straight["final"]  # every metric, exactly


def command(*args):
    return [sys.executable, "-m", "pyro_concrete.examples.vae", *SMALL_OPTIONS, "--quiet", *args]


def start_and_kill(arguments, checkpoint_file):
    """
    Starts the command-line run, and kills it (SIGKILL, all its processes) as soon
    as it has written its first checkpoint.

    :returns: the epoch of the checkpoint it left.
    """
    run = subprocess.Popen(command(*arguments), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not checkpoint_file.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    return checkpoint.load_checkpoint(str(checkpoint_file))["epoch"]


def test_killed_run_resumes_exactly(tmp_path):
    """
    A command-line run killed after its first checkpoint, then resumed, ends with
    the parameters, optimiser state and per-epoch metrics of an uninterrupted run
    (both in this process).
    """
    config = small_config(tmp_path, epochs=40, eval_samples=10, checkpoint_every=1)
    checkpoint_file = tmp_path / "checkpoint.pt"
    arguments = ["--epochs=40", "--eval-samples=10", "--checkpoint-every=1", f"--out={tmp_path}"]
    killed_at = start_and_kill(arguments, checkpoint_file)
    assert 1 <= killed_at < config.epochs

    resumed = vae.train(dataclasses.replace(config, resume=str(checkpoint_file)))
    straight = vae.train(dataclasses.replace(config, out=str(tmp_path / "straight")))
    torch.testing.assert_close(
        resumed["vae"].state_dict(), straight["vae"].state_dict(), rtol=0, atol=1e-6
    )
    assert_same_history(resumed["history"], straight["history"])
    saved = checkpoint.load_checkpoint(str(checkpoint_file))
    expected = checkpoint.load_checkpoint(str(tmp_path / "straight" / "checkpoint.pt"))
    # Adam's step counter has the default dtype of the process that created it.
    torch.testing.assert_close(
        saved["optimizer"], expected["optimizer"], rtol=0, atol=1e-6, check_dtype=False
    )


@pytest.mark.slow
def test_killed_two_process_run_resumes_exactly(tmp_path):
    """
    The same with ``--devices 2`` from the command line throughout: killed, resumed,
    and compared with an uninterrupted two-process run.
    """
    arguments = ["--epochs=40", "--eval-samples=10", "--devices=2"]
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    checkpoint_file = interrupted / "checkpoint.pt"
    killed_at = start_and_kill(
        arguments + ["--checkpoint-every=1", f"--out={interrupted}"], checkpoint_file
    )
    assert 1 <= killed_at < 40

    for extra in (
        ["--checkpoint-every=40", f"--out={reference}"],
        ["--checkpoint-every=7", f"--out={interrupted}", f"--resume={checkpoint_file}"],
    ):
        subprocess.run(command(*arguments, *extra), check=True, timeout=300)
    expected = checkpoint.load_checkpoint(str(reference / "checkpoint.pt"))
    resumed = checkpoint.load_checkpoint(str(checkpoint_file))
    assert resumed["epoch"] == expected["epoch"] == 40
    assert resumed["step"] == expected["step"]
    torch.testing.assert_close(resumed["model"], expected["model"], rtol=0, atol=1e-6)
    torch.testing.assert_close(resumed["optimizer"], expected["optimizer"], rtol=0, atol=1e-6)
    assert_same_history(resumed["history"], expected["history"])
    metrics = json.loads((interrupted / "metrics.json").read_text())
    assert metrics["world_size"] == 2


def test_resume_in_process_continues_exactly(tmp_path):
    """One process: 2 epochs, then resumed to 4, equals 4 epochs straight."""
    whole = vae.train(small_config(tmp_path / "whole"))
    first = small_config(tmp_path / "part", epochs=2, checkpoint_every=1)
    vae.train(first)
    resumed = vae.train(
        dataclasses.replace(first, epochs=4, resume=str(tmp_path / "part" / "checkpoint.pt"))
    )
    torch.testing.assert_close(
        resumed["vae"].state_dict(), whole["vae"].state_dict(), rtol=0, atol=0
    )
    assert_same_history(resumed["history"], whole["history"])
    assert resumed["final"] == whole["final"]  # every metric, exactly


@pytest.fixture
def checkpoint_path(tmp_path):
    """A checkpoint of a one-epoch run."""
    vae.train(small_config(tmp_path, epochs=1, checkpoint_every=1, eval_samples=10))
    return tmp_path / "checkpoint.pt"


def resume(checkpoint_path, **changes):
    options = dict(out=checkpoint_path.parent, epochs=2, eval_samples=10)
    options.update(changes)
    config = small_config(**options)
    return vae.train(dataclasses.replace(config, resume=str(checkpoint_path)))


def test_resume_accepts_harmless_changes(checkpoint_path, tmp_path):
    result = resume(checkpoint_path, out=str(tmp_path / "elsewhere"), threads=2)
    assert len(result["history"]) == 2


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(latents=3), r"latents=2 \(now 3\)"),
        (dict(estimator="gumbel_rao"), r"estimator='relaxed' \(now 'gumbel_rao'\)"),
        (dict(seed=1), r"seed=0 \(now 1\)"),
    ],
)
def test_resume_rejects_another_run(checkpoint_path, changes, message):
    with pytest.raises(ValueError, match=f"belongs to a different run: .*{message}"):
        resume(checkpoint_path, **changes)


def test_resume_rejects_another_number_of_processes(checkpoint_path):
    state = checkpoint.load_checkpoint(str(checkpoint_path))
    state["world_size"] = 2
    checkpoint.save_checkpoint(str(checkpoint_path), state)
    with pytest.raises(ValueError, match=r"processes=2 \(now 1\)"):
        resume(checkpoint_path)


def corrupt(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flipped":
        position = len(data) // 2
        path.write_bytes(data[:position] + bytes([data[position] ^ 1]) + data[position + 1 :])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "foreign":
        torch.save({"model": {}}, path)
    elif how == "version":
        path.write_bytes(data.replace(b"checkpoint 1 ", b"checkpoint 99 ", 1))


@pytest.mark.parametrize(
    "how, message",
    [
        ("truncated", "corrupt or truncated"),
        ("flipped", "corrupt or truncated"),
        ("empty", "not a pyro-concrete checkpoint"),
        ("foreign", "not a pyro-concrete checkpoint"),
        ("version", "format version 99"),
    ],
)
def test_bad_checkpoint_is_a_clear_error(checkpoint_path, how, message):
    corrupt(checkpoint_path, how)
    with pytest.raises(ValueError, match=message) as error:
        resume(checkpoint_path)
    assert str(checkpoint_path) in str(error.value)


def test_checkpoint_of_something_else_is_a_clear_error(tmp_path):
    path = tmp_path / "checkpoint.pt"
    checkpoint.save_checkpoint(str(path), {"epoch": 3})
    with pytest.raises(ValueError, match="not a checkpoint of this VAE example"):
        resume(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file at .*nothing.pt"):
        resume(tmp_path / "nothing.pt")


def test_command_line_reports_a_bad_checkpoint(checkpoint_path, capsys):
    corrupt(checkpoint_path, "truncated")
    status = vae.main(SMALL_OPTIONS + ["--epochs=2", f"--resume={checkpoint_path}", "--quiet"])
    assert status == 2
    assert "corrupt or truncated" in capsys.readouterr().err


class NotAllowed:
    """An object that a weights-only load refuses."""


def tamper(path, how):
    """Rewrites a checkpoint with bad contents, under a valid checksum."""
    state = checkpoint.load_checkpoint(str(path))
    if how == "refused payload":
        state["history"][0]["note"] = NotAllowed()
    elif how == "missing key":
        del state["optimizer"]
    elif how == "wrong shape":
        state["model"]["encoder.0.weight"] = torch.zeros(3, 3)
    elif how == "missing parameter":
        del state["model"]["decoder.2.bias"]
    elif how == "optimiser state shape":
        state["optimizer"]["state"][0]["exp_avg"] = torch.zeros(2)
    elif how == "torch RNG state":
        state["rng"][0]["torch"] = torch.zeros(7, dtype=torch.uint8)
    elif how == "Python RNG state":
        state["rng"][0]["python"] = (3, (1, 2), None)
    elif how == "epoch":
        state["epoch"] = "one"
    checkpoint.save_checkpoint(str(path), state)


BAD_CONTENTS = [
    ("refused payload", r"weights-only load refuses \(Unsupported global: .*NotAllowed"),
    ("missing key", r"not a checkpoint of this VAE example: it lacks 'optimizer'"),
    ("wrong shape", r"'encoder.0.weight' has shape \(3, 3\), expected shape \(32, 64\)"),
    ("missing parameter", r"missing \['decoder.2.bias'\], unexpected none"),
    (
        "optimiser state shape",
        r"optimiser state 'exp_avg' of shape \(2,\), expected shape \(32, 64\)",
    ),
    ("torch RNG state", r"unusable random-number generator state for process 0 \(RuntimeError"),
    ("Python RNG state", r"unusable random-number generator state for process 0 \("),
    ("epoch", r"holds epoch 'one' and step \d+ \(not counts\)"),
]


@pytest.mark.parametrize("how, message", BAD_CONTENTS, ids=[how for how, _ in BAD_CONTENTS])
def test_bad_checkpoint_contents_are_one_line_errors(checkpoint_path, capsys, how, message):
    """A valid checksum over bad contents: one line naming the file and what is wrong."""
    tamper(checkpoint_path, how)
    options = ["--epochs=2", "--eval-samples=10", f"--out={checkpoint_path.parent}", "--quiet"]
    assert vae.main(SMALL_OPTIONS + options + [f"--resume={checkpoint_path}"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: checkpoint {str(checkpoint_path)!r} ")
    assert error.count("\n") == 1 and error.endswith("\n"), error
    assert re.search(message, error), error


def test_bad_checkpoint_contents_are_found_before_spawning(checkpoint_path, capsys, monkeypatch):
    tamper(checkpoint_path, "wrong shape")
    state = checkpoint.load_checkpoint(str(checkpoint_path))
    state["world_size"] = state["config"]["devices"] = 2
    state["rng"] *= 2
    checkpoint.save_checkpoint(str(checkpoint_path), state)
    monkeypatch.setattr(distributed, "spawn", lambda *args, **kwargs: pytest.fail("spawned"))
    options = ["--epochs=2", "--devices=2", f"--resume={checkpoint_path}", "--quiet"]
    assert vae.main(SMALL_OPTIONS + options) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "'encoder.0.weight' has shape (3, 3)" in error


def test_resume_with_fewer_epochs_than_the_checkpoint_is_an_error(checkpoint_path, capsys):
    """The fixture's checkpoint is at epoch 1: --epochs 0 is an error, --epochs 1 a no-op."""
    options = SMALL_OPTIONS + ["--eval-samples=10", f"--out={checkpoint_path.parent}", "--quiet"]
    assert vae.main(options + ["--epochs=0", f"--resume={checkpoint_path}"]) == 2
    error = capsys.readouterr().err
    assert error == (
        f"error: checkpoint {str(checkpoint_path)!r} is at epoch 1, past --epochs 0: "
        "resume with --epochs of at least 1.\n"
    )
    assert len(resume(checkpoint_path, epochs=1)["history"]) == 1


def test_a_stale_temporary_file_is_replaced(tmp_path):
    """A process killed (SIGKILL) mid-write leaves checkpoint.pt.tmp; the next write replaces it."""
    path = tmp_path / "checkpoint.pt"
    (tmp_path / "checkpoint.pt.tmp").write_bytes(b"half a checkpoint")
    checkpoint.save_checkpoint(str(path), {"epoch": 1})
    assert os.listdir(tmp_path) == ["checkpoint.pt"]
    assert checkpoint.load_checkpoint(str(path)) == {"epoch": 1}


# The command line, with a SIGTERM (a scheduler's, or torch's spawn when another process
# failed) arriving while the second checkpoint is being written.
TERMINATED_WHILE_WRITING = """
import os, signal, sys
from pyro_concrete.examples.vae import checkpoint
from pyro_concrete.examples.vae.__main__ import main

calls, fsync = [], os.fsync
def terminating_fsync(descriptor):
    calls.append(descriptor)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGTERM)
    fsync(descriptor)
checkpoint.os.fsync = terminating_fsync
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_while_writing_a_checkpoint_leaves_no_temporary_file(tmp_path):
    options = ["--epochs=3", "--checkpoint-every=1", "--eval-samples=10", f"--out={tmp_path}"]
    completed = subprocess.run(
        [sys.executable, "-c", TERMINATED_WHILE_WRITING, *SMALL_OPTIONS, *options, "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 128 + signal.SIGTERM, completed.stderr
    assert os.listdir(tmp_path) == ["checkpoint.pt"]
    assert checkpoint.load_checkpoint(str(tmp_path / "checkpoint.pt"))["epoch"] == 1


def _stall_after_the_first_epoch(config, report_file):
    """
    Runs in each of two spawned processes: rank 1 stops answering at the end of its
    first epoch (until rank 0 has reported, then leaves without a word); rank 0 trains
    and reports the error it ends with. The group's timeout is cut to 2 s only now,
    so that a slow start on a busy machine is not taken for a stall.
    """
    set_timeout = getattr(torch.distributed, "set_timeout", None)
    set_timeout = set_timeout or torch.distributed.distributed_c10d._set_pg_timeout
    set_timeout(datetime.timedelta(seconds=2))
    if torch.distributed.get_rank() == 1:

        def stalled(tensor):
            deadline = time.monotonic() + 120
            while not os.path.exists(report_file) and time.monotonic() < deadline:
                time.sleep(0.05)
            os._exit(0)

        distributed.all_reduce_sum = stalled
        vae.train(config)
        return
    try:
        vae.train(config)
        message = "no error"
    except distributed.StalledWorkerError as error:
        message = str(error)
    with open(report_file + ".part", "w") as file:
        file.write(message)
    os.replace(report_file + ".part", report_file)
    # Rank 1 is gone: leave as a failed run does, without the final barrier.
    os._exit(0)


def test_a_stalled_process_is_a_clear_error(tmp_path):
    """Rank 0 fails after the timeout with a message that says what happened."""
    report_file = str(tmp_path / "error.txt")
    config = small_config(tmp_path, epochs=2, eval_samples=10)
    distributed.spawn(_stall_after_the_first_epoch, 2, "cpu", args=(config, report_file))
    with open(report_file) as file:
        message = file.read()
    assert message.startswith(
        "process 0 of 2 waited longer than the process group's timeout (--timeout) for the "
        "others at a collective operation: one of them stalled or died"
    ), message


def test_process_groups_get_the_timeout(monkeypatch):
    """Spawned and torchrun-launched processes create their group with the timeout."""
    calls = []
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda *a, **k: calls.append(k))
    monkeypatch.setattr(torch.distributed, "destroy_process_group", lambda: None)
    monkeypatch.setattr(torch.distributed, "get_backend", lambda: "gloo")
    monkeypatch.setattr(
        torch.distributed, "barrier", lambda device_ids=None: calls.append("barrier")
    )
    monkeypatch.setenv("LOCAL_RANK", "0")
    ran = []
    distributed._spawned(0, ran.append, 1, "cpu", "/no/store", 7.5, ("ran",))
    distributed.init_from_environment("cpu", timeout=8)
    assert ran == ["ran"]
    # The spawned process waits for the others before its group is destroyed.
    assert calls[1] == "barrier"
    timeouts = [call["timeout"] for call in calls if call != "barrier"]
    assert timeouts == [datetime.timedelta(seconds=t) for t in (7.5, 8)]
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        distributed.spawn(print, 2, timeout=0)


def test_command_line_passes_the_timeout_to_the_process_group(monkeypatch, tmp_path):
    spawned = {}
    monkeypatch.setattr(distributed, "spawn", lambda *args, **kwargs: spawned.update(kwargs))
    options = ["--devices=2", "--timeout=7.5", f"--out={tmp_path}", "--quiet"]
    assert vae.main(SMALL_OPTIONS + options) == 0
    assert spawned["timeout"] == 7.5
    with pytest.raises(SystemExit):
        vae.parse_args(["--timeout=0"])


def test_save_checkpoint_is_atomic(tmp_path, monkeypatch):
    """A write that fails (here: the disk is full) leaves the previous checkpoint, and no
    temporary file."""
    path = tmp_path / "checkpoint.pt"
    checkpoint.save_checkpoint(str(path), {"epoch": 1, "weights": torch.arange(3.0)})

    def disk_full(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        checkpoint.save_checkpoint(str(path), {"epoch": 2, "weights": torch.zeros(3)})
    state = checkpoint.load_checkpoint(str(path))
    assert state["epoch"] == 1 and torch.equal(state["weights"], torch.arange(3.0))
    assert os.listdir(tmp_path) == ["checkpoint.pt"]


def test_rng_state_round_trip():
    state = checkpoint.get_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(3))
    checkpoint.set_rng_state(state)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_shards_cover_the_global_batches(world_size):
    """The ranks' shards partition each global batch, whatever the number of ranks."""
    num_items, batch_size = 103, 10
    single = list(distributed.shard_batches(num_items, batch_size, seed=5, epoch=2))
    shards = [
        list(distributed.shard_batches(num_items, batch_size, 5, 2, rank, world_size))
        for rank in range(world_size)
    ]
    assert sorted(torch.cat([indices for indices, _ in single]).tolist()) == list(range(103))
    for step, (indices, size) in enumerate(single):
        if size < world_size:
            continue
        parts = [shard[step] for shard in shards]
        assert all(part_size == size for _, part_size in parts)
        assert sorted(torch.cat([part for part, _ in parts]).tolist()) == sorted(indices.tolist())
    other_epoch = next(distributed.shard_batches(num_items, batch_size, seed=5, epoch=3))[0]
    assert not torch.equal(other_epoch, single[0][0])


@pytest.mark.slow
def test_torchrun(tmp_path):
    """The torchrun launch of the README, one node and two processes."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    options = command("--epochs=2", "--eval-samples=10", f"--out={tmp_path}")[1:]
    subprocess.run(torchrun + options, check=True, timeout=300)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert all(math.isfinite(value) for value in metrics["final"].values())
