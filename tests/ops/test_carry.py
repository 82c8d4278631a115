# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
The carry protocol: a sample's hint is used only where it reproduces the value,
so no write, alias, pickle or trace can make ``log_prob`` score coordinates that
do not belong to the value.

Each test writes the values of another sample ``y`` into a sample ``x`` by a path
that leaves ``x``'s hint (and version counter) in place, and checks that ``x`` is
then scored exactly as a hint-free copy of ``y``: the documented fallback, never
``x``'s old coordinates. The temperature is low enough that float32 coordinates
underflow, where the hint and the fallback differ by many nats.
"""

import copy
import io
import pickle

import numpy as np
import pytest
import torch

from pyro_concrete import (
    ExpRelaxedCategoricalConcrete,
    RelaxedBernoulliConcrete,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
from pyro_concrete.ops.carry import log_coordinates


def _distribution():
    logits = torch.randn(64, 50, dtype=torch.float32) * 3
    return RelaxedCategoricalConcrete(0.1, logits=logits)


def _stale_and_fresh():
    """A sample ``x`` whose hint must not be used, and a sample ``y`` it will hold."""
    d = _distribution()
    x, y = d.rsample(), d.rsample()
    assert (y == 0).any(-1).float().mean() > 0.2  # the fallback is lossy here
    return d, x, y


def _assert_scored_as_fresh_copy(d, x, y):
    assert torch.equal(x, y)
    expected = d.log_prob(y.detach().clone())
    assert torch.equal(d.log_prob(x), expected)
    # And the hint is worth having: y scored with its own hint differs.
    assert not torch.equal(d.log_prob(y), expected)


def test_data_copy():
    d, x, y = _stale_and_fresh()
    x.data.copy_(y)
    _assert_scored_as_fresh_copy(d, x, y)


def test_data_assignment():
    d, x, y = _stale_and_fresh()
    x.data = y.detach().clone()
    _assert_scored_as_fresh_copy(d, x, y)


def test_numpy_alias_write():
    d, x, y = _stale_and_fresh()
    x.detach().numpy()[:] = y.detach().numpy()
    _assert_scored_as_fresh_copy(d, x, y)


def test_dlpack_alias_write():
    d, x, y = _stale_and_fresh()
    alias = torch.from_dlpack(x.detach())
    alias.copy_(y)
    _assert_scored_as_fresh_copy(d, x, y)


def test_untyped_storage_write():
    d, x, y = _stale_and_fresh()
    x.untyped_storage().copy_(y.untyped_storage())
    _assert_scored_as_fresh_copy(d, x, y)


def test_inference_mode_write():
    d = _distribution()
    with torch.inference_mode():
        x, y = d.rsample(), d.rsample()
        x.copy_(y)  # inference tensors have no version counter
        _assert_scored_as_fresh_copy(d, x, y)


def _write_in_another_process(shared, values):
    shared.copy_(values)


def test_shared_memory_written_by_another_process():
    d, x, y = _stale_and_fresh()
    x.share_memory_()
    context = torch.multiprocessing.get_context("fork")
    process = context.Process(target=_write_in_another_process, args=(x.detach(), y.detach()))
    process.start()
    process.join(timeout=60)
    assert process.exitcode == 0
    _assert_scored_as_fresh_copy(d, x, y)


@pytest.mark.parametrize("round_trip", ["pickle", "deepcopy", "torch.save"])
def test_revived_hint_is_verified(round_trip):
    """A revived hint is still used where it fits the value, and not once the value changes."""
    d, x, y = _stale_and_fresh()
    assert not x.requires_grad
    if round_trip == "pickle":
        revived = pickle.loads(pickle.dumps(x))
    elif round_trip == "deepcopy":
        revived = copy.deepcopy(x)
    else:
        buffer = io.BytesIO()
        torch.save(x, buffer)
        buffer.seek(0)
        revived = torch.load(buffer, weights_only=True)
    assert torch.equal(d.log_prob(revived), d.log_prob(x))
    revived.copy_(y)
    _assert_scored_as_fresh_copy(d, revived, y)


def test_off_support_values_written_in_place_are_rejected():
    d, x, _ = _stale_and_fresh()
    x.data.mul_(2.0)  # off the simplex, version counter unchanged
    with pytest.raises(ValueError, match="support"):
        d.log_prob(x)


def test_stale_straight_through_sample_is_validated():
    """A pickled straight-through sample modified after loading fails validation."""
    d = RelaxedCategoricalConcreteStraightThrough(
        0.5, logits=torch.randn(8, 4), estimator="straight_through"
    )
    revived = pickle.loads(pickle.dumps(d.sample()))
    revived.fill_(0.25)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(revived)


def test_hint_matches_rows_independently():
    """Rows that still match their hint use it; rows that were overwritten do not."""
    d, x, y = _stale_and_fresh()
    exact = d.log_prob(x).detach()
    x.data[:32] = y[:32]
    log_prob = d.log_prob(x)
    assert torch.equal(log_prob[32:], exact[32:])
    assert torch.equal(log_prob[:32], d.log_prob(y.detach().clone())[:32])


def test_gradient_of_a_value_made_to_require_grad_after_sampling():
    """The gradient with respect to the value is the density's, also where the hint is used."""
    d = RelaxedCategoricalConcrete(0.7, logits=torch.randn(5, 4))
    x = d.sample().requires_grad_()
    (grad,) = torch.autograd.grad(d.log_prob(x).sum(), [x])
    reference = x.detach().clone().requires_grad_()
    (expected,) = torch.autograd.grad(d.log_prob(reference).sum(), [reference])
    torch.testing.assert_close(grad, expected)


def test_gradient_flows_to_the_hint_of_an_rsample():
    """Scoring a sample differentiates through its log coordinates (exact when they underflow)."""
    logits = (torch.randn(16, 50) * 3).float().requires_grad_()
    d = RelaxedCategoricalConcrete(0.1, logits=logits)
    x = d.rsample()
    (grad,) = torch.autograd.grad(d.log_prob(x).sum(), [logits])
    assert torch.isfinite(grad).all()
    log_value = x._pyro_concrete_hint[1]
    coordinates, every_row_verified = log_coordinates(x, torch.float32)
    assert every_row_verified and coordinates.grad_fn is not None
    assert torch.equal(coordinates, log_value)


def test_half_precision_hints():
    """ExpConcrete and binary Concrete samples in half precision carry float32 coordinates."""
    logits = torch.randn(256, 8).half() * 4
    d = ExpRelaxedCategoricalConcrete(0.05, logits=logits)
    y = d.rsample()
    exact = d.log_prob(y)
    other = d.rsample()
    y.data.copy_(other)
    assert torch.equal(d.log_prob(y), d.log_prob(other.clone()))
    assert torch.isfinite(exact).all()
    b = RelaxedBernoulliConcrete(0.01, logits=torch.randn(512).half())
    x = b.rsample()
    assert ((x == 0) | (x == 1)).float().mean() > 0.5
    x64 = RelaxedBernoulliConcrete(0.01, logits=b.logits.double()).log_prob(
        x._pyro_concrete_hint[1].double().sigmoid()
    )
    assert torch.isfinite(b.log_prob(x)).all() and torch.isfinite(x64).all()


def test_hint_holds_only_builtins_and_tensors():
    x = _distribution().rsample()
    kind, tensor, traced = x._pyro_concrete_hint
    assert isinstance(kind, str) and isinstance(tensor, torch.Tensor) and traced is False
    assert np.all(np.isfinite(tensor.detach().numpy()))


def _broadcast_into_sample(rank, store, queue):
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=2
    )
    try:
        torch.manual_seed(rank)
        d = _distribution()
        x = d.rsample()
        received = x.detach().clone()
        torch.distributed.broadcast(x.detach(), src=0)  # rank 1's x now holds rank 0's values
        torch.distributed.broadcast(received, src=0)
        summed = d.rsample()
        torch.distributed.all_reduce(summed.detach())  # off the simplex now
        if rank == 1:
            unvalidated = RelaxedCategoricalConcrete(0.1, logits=d.logits, validate_args=False)
            try:
                d.log_prob(summed)
                rejected = False
            except ValueError:
                rejected = True
            queue.put(
                (
                    torch.equal(d.log_prob(x), d.log_prob(received)),
                    rejected,
                    torch.equal(
                        unvalidated.log_prob(summed), unvalidated.log_prob(summed.detach().clone())
                    ),
                )
            )
    finally:
        torch.distributed.destroy_process_group()


def test_torch_distributed_collectives_write_in_place(tmp_path):
    """broadcast and all_reduce write into a sample in place, leaving its hint behind."""
    context = torch.multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=_broadcast_into_sample, args=(rank, tmp_path / "store", queue))
        for rank in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    broadcast_scored_as_received, sum_rejected, sum_scored_as_fresh = queue.get(timeout=10)
    assert broadcast_scored_as_received and sum_rejected and sum_scored_as_fresh
