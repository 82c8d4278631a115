# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
The categorical VAE example: its evaluation against exact enumeration, training
with every estimator, checkpoints, and the command line.
"""

import dataclasses
import io
import itertools
import json
import math
import os
import re
import subprocess
import sys

import pyro
import pytest
import torch
import torch.nn.functional as F

from pyro_concrete.examples import vae
from pyro_concrete.examples.data import load_dataset
from pyro_concrete.examples.vae import report
from pyro_concrete.examples.vae.__main__ import build_parser

# A model small enough to enumerate: 3**2 = 9 codes.
NUM_PIXELS, NUM_LATENTS, NUM_CATEGORIES = 10, 2, 3


@pytest.fixture(autouse=True)
def one_thread():
    # As train() does (Config.threads): these layers are too small to gain from
    # more threads, which spin against each other on a busy machine. Restored after.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_vae():
    """A random model whose posteriors are far from its guide, so that the bounds differ."""
    model = vae.CategoricalVAE(NUM_PIXELS, NUM_LATENTS, NUM_CATEGORIES, hidden_size=16)
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.mul_(4)
        for parameter in model.encoder.parameters():
            parameter.mul_(2)
    images = torch.randint(0, 2, (200, NUM_PIXELS)).double()
    return model, images


def all_codes(model):
    """The one-hot codes of the model, shape ``(K**N, N, K)``."""
    codes = itertools.product(range(model.num_categories), repeat=model.num_latents)
    return F.one_hot(torch.tensor(list(codes)), model.num_categories).double()


@torch.no_grad()
def enumerate_codes(model, images):
    """
    Exact quantities of each image by enumeration of the codes: the negative ELBO,
    -log p(x), the variance under q of log p(x|z) and of log w, and the relative
    variance Var_q(w) / p(x)^2 of the importance weight w = p(x, z) / q(z).
    """
    codes = all_codes(model).to(images.dtype)
    log_q = (codes[:, None] * model.posterior_logits(images)).sum((-2, -1))
    log_likelihood = model.likelihood(codes[:, None]).log_prob(images)
    log_joint = log_likelihood - model.num_latents * math.log(model.num_categories)
    q = log_q.exp()
    log_w = log_joint - log_q
    log_evidence = log_joint.logsumexp(0)

    def variance(values):
        return (q * (values - (q * values).sum(0)) ** 2).sum(0)

    return {
        "negative_elbo": -(q * log_w).sum(0),
        "nll": -log_evidence,
        "log_likelihood_variance": variance(log_likelihood),
        "log_w_variance": variance(log_w),
        "w_relative_variance": (q * (log_w - log_evidence).exp() ** 2).sum(0) - 1,
    }


def test_enumeration_sums_to_one(small_vae):
    model, images = small_vae
    codes = all_codes(model)
    assert len(codes) == NUM_CATEGORIES**NUM_LATENTS
    log_q = (codes[:, None] * model.posterior_logits(images)).sum((-2, -1))
    torch.testing.assert_close(log_q.logsumexp(0), torch.zeros(len(images)))


def test_negative_elbo_is_unbiased(small_vae):
    """
    evaluate's negative ELBO (exact KL, Monte Carlo likelihood term) against
    enumeration, within 5 standard errors of the mean over 200 images (the
    standard error computed exactly from the enumerated variances).
    """
    model, images = small_vae
    exact = enumerate_codes(model, images)
    num_samples = 50
    negative_elbo, _ = vae.evaluate(model, images, num_samples)
    error = (exact["log_likelihood_variance"].sum() / num_samples).sqrt() / len(images)
    assert abs(negative_elbo.mean() - exact["negative_elbo"].mean()) < 5 * error
    assert error < 0.05


def test_bound_with_one_sample_is_the_negative_elbo(small_vae):
    """E[-log w] is the negative ELBO: 20 repeats of 200 images, within 5 standard errors."""
    model, images = small_vae
    exact = enumerate_codes(model, images)
    repeats = 20
    _, bound = vae.evaluate(model, images.repeat(repeats, 1), num_samples=1)
    error = (exact["log_w_variance"].sum() * repeats).sqrt() / (repeats * len(images))
    assert abs(bound.mean() - exact["negative_elbo"].mean()) < 5 * error


def test_bound_decreases_to_the_likelihood(small_vae):
    """
    The importance-sampled bound decreases with S (Burda et al.) and converges to
    -log p(x) from above: its mean over 200 images at S = 1, 10, 100 decreases by
    more than 5 standard errors of the differences, and at S = 10000 it agrees with
    the enumerated -log p(x) plus the delta-method bias Var(w) / (2 S p^2) within 5
    delta-method standard errors.
    """
    model, images = small_vae
    exact = enumerate_codes(model, images)
    means, errors = [], []
    for num_samples in (1, 10, 100):
        repeats = 1000 // num_samples
        _, bound = vae.evaluate(model, images.repeat(repeats, 1), num_samples)
        bound = bound.view(repeats, len(images))
        means.append(bound.mean())
        errors.append((bound.var(0).sum() / repeats).sqrt() / len(images))
    for i in range(2):
        assert means[i] - means[i + 1] > 5 * math.hypot(errors[i], errors[i + 1])

    num_samples = 10000
    _, bound = vae.evaluate(model, images, num_samples)
    relative_variance = exact["w_relative_variance"]
    bias = relative_variance.mean() / (2 * num_samples)
    error = (relative_variance.sum() / num_samples).sqrt() / len(images)
    assert abs(bound.mean() - exact["nll"].mean() - bias) < 5 * error
    assert (exact["nll"] < exact["negative_elbo"]).all()


def test_evaluate_is_independent_of_chunking(small_vae):
    model, images = small_vae
    torch.manual_seed(1)
    whole = vae.evaluate(model, images, num_samples=30)
    torch.manual_seed(1)
    chunked = vae.evaluate(model, images, num_samples=30, max_rows=30 * 7)
    for a, b in zip(whole, chunked):
        assert a.shape == (len(images),)
        torch.testing.assert_close(a, b)


def test_evaluate_rejects_bad_num_samples(small_vae):
    model, images = small_vae
    with pytest.raises(ValueError, match="num_samples"):
        vae.evaluate(model, images, num_samples=0)


def test_evaluate_no_images(small_vae):
    model, images = small_vae
    assert [values.shape for values in vae.evaluate(model, images[:0])] == [(0,), (0,)]


def tiny_config(tmp_path, **kwargs):
    """A run of seconds: 200 training and 200 test digits, small layers."""
    options = dict(
        subset=200,
        latents=4,
        categories=4,
        hidden=32,
        batch_size=50,
        epochs=4,
        lr=3e-3,
        eval_samples=100,
        out=str(tmp_path),
        quiet=True,
    )
    options.update(kwargs)
    return vae.Config(**options)


@pytest.mark.parametrize("estimator", vae.ESTIMATORS)
def test_every_estimator_learns_to_use_its_latents(tmp_path, estimator):
    """
    30 epochs on the digits with 4x4 latents: the test NLL bound beats every model
    that ignores its latents (25.0 nats) by over 2 nats with the reparameterised
    estimators (measured: 3.5 to 5.3) and at all with the score function (measured:
    0.7; it learns slowly); the bound is below the negative ELBO, every logged
    number is finite, and Pyro's global param store is left empty.
    """
    config = tiny_config(
        tmp_path, estimator=estimator, subset=None, hidden=64, batch_size=100, epochs=30
    )
    train_data, test_data = load_dataset("digits")
    result = vae.train(config, train_data, test_data)
    final = result["final"]
    baseline = final["independent_pixels_test_nll"]
    assert baseline == vae.independent_pixels_nll(train_data, test_data)
    assert len(result["history"]) == config.epochs
    assert all(math.isfinite(value) for row in result["history"] for value in _numbers(row))
    margin = 0 if estimator == "score_function" else 2
    assert final["test_nll_bound"] < baseline - margin
    if estimator != "score_function":
        assert not report.on_plateau(final)
    assert final["test_nll_bound"] < final["test_negative_elbo"]
    assert not list(pyro.get_param_store().keys())


def _numbers(row):
    return [value for value in row.values() if isinstance(value, float)]


def test_command_line(tmp_path):
    """
    One epoch from the command line, warnings as errors: the table, metrics.json
    and the plots.
    """
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "pyro_concrete.examples.vae", "--epochs=1", "--subset=100"]
        + ["--hidden=16", "--eval-samples=20", f"--out={out}"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONWARNINGS="error"),
    )
    assert completed.returncode == 0, completed.stderr
    assert "negative ELBO" in completed.stdout and "NLL bound (S=20)" in completed.stdout
    # One epoch of 100 images uses no code: the table says so and what to do.
    assert "the plateau where short runs sit" in completed.stdout
    assert "--epochs 100" in completed.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["epochs"] == 1 and metrics["world_size"] == 1
    assert all(math.isfinite(value) for value in metrics["final"].values())
    assert all(math.isfinite(value) for value in _numbers(metrics["history"][0]))
    assert metrics["final"]["test_nll_bound"] < metrics["final"]["test_negative_elbo"]
    assert {"torch", "pyro", "pyro_concrete"} <= metrics["versions"].keys()
    for name in ("curves.png", "reconstructions.png", "samples.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--latents=0"], "latents must be an integer of at least 1"),
        (["--estimator=reinmax", "--temperature=0.5"], "temperature must be at least 1"),
        (["--lr=-1"], "lr must be a positive finite number"),
        (["--estimator=magic"], "invalid choice"),
    ],
)
def test_command_line_rejects_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        vae.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_has_a_sentence_and_a_default_for_every_option(capsys):
    """Every field of Config is an option, with a help sentence and its default shown."""
    with pytest.raises(SystemExit) as exit_info:
        vae.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = "".join(capsys.readouterr().out.split())  # undo the line wrapping
    options = [action for action in build_parser()._actions if action.dest != "help"]
    assert {action.dest for action in options} == {
        field.name for field in dataclasses.fields(vae.Config)
    }
    for action in options:
        assert len(action.help.split()) >= 3, action.dest
        default = getattr(vae.Config(), action.dest)
        assert "".join(f"{action.help} (default: {default})".split()) in text, action.dest


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys):
    """Under pytest stderr is not a terminal: a line every progress_every epochs and at the last."""
    result = vae.train(tiny_config(tmp_path, epochs=5, progress_every=2, quiet=False))
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == ["epoch 2/5", "epoch 4/5", "epoch 5/5"]
    for line, row in zip(lines, [result["history"][index] for index in (1, 3, 4)]):
        assert f"(step {row['step']}, temperature {row['temperature']:.3f}):" in line
        assert f"training loss {row['train_loss']:.3f}," in line
        assert f"test -ELBO {row['test_negative_elbo']:.3f} nats" in line

    vae.train(tiny_config(tmp_path, epochs=2, progress_every=1, quiet=True))
    assert capsys.readouterr().err == ""


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal(tmp_path, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    vae.train(tiny_config(tmp_path, epochs=2, progress_every=1, quiet=False))
    output = terminal.getvalue()
    assert "\r" in output and "2/2 [" in output  # tqdm's bar, redrawn in place
    assert "(step" not in output


@pytest.mark.parametrize("test_nelbo, noted", [(25.5, True), (24.1, True), (23.9, False)])
def test_table_notes_the_plateau(test_nelbo, noted):
    """Within PLATEAU_MARGIN (1 nat) of independent pixels, or above: the table says so."""
    final = dict(train_negative_elbo=25.0, test_negative_elbo=test_nelbo, eval_samples=10)
    final.update(test_nll_bound=test_nelbo - 0.1, independent_pixels_test_nll=25.0)
    result = dict(final=final, config=vae.Config(epochs=10).as_dict(), world_size=1, wall_time=1)
    table = vae.format_table(result)
    assert re.search(r"^independent pixels +25\.000$", table, re.MULTILINE)
    assert ("plateau" in table and "--epochs 100" in table) == noted


def test_independent_pixels_nll_is_the_entropy_of_the_pixel_means():
    """
    On its own training set, the NLL of independent pixels at their means is the sum
    of the pixels' binary entropies, plus -log(1 - 1/(2 num_train)) nats for each pixel
    never (or always) on, whose mean is kept that far from 0 (or 1).
    """
    train_data, _ = load_dataset("digits", dtype=torch.float64)
    means = train_data.mean(0)
    entropy = -(torch.xlogy(means, means) + torch.xlogy(1 - means, 1 - means)).sum()
    extreme = int(((means == 0) | (means == 1)).sum())
    assert extreme > 0
    expected = float(entropy) - extreme * math.log1p(-0.5 / len(train_data))
    assert vae.independent_pixels_nll(train_data, train_data) == pytest.approx(expected, rel=1e-12)


def test_independent_pixels_nll_is_finite_for_pixels_never_on_in_training():
    value = vae.independent_pixels_nll(torch.zeros(4, 3), torch.ones(2, 3))
    assert value == pytest.approx(-3 * math.log(0.5 / 4), rel=1e-12)


@pytest.mark.parametrize("estimator", ["relaxed", "straight_through", "score_function"])
def test_curves_explain_themselves(tmp_path, estimator):
    """
    A title, labelled axes, every line in a legend that lies outside the axes, the
    temperature schedule below (no panel for the score function, which has none), and
    a caption that says what the training loss is.
    """
    result = vae.train(tiny_config(tmp_path, estimator=estimator, epochs=3))
    history = result["history"]
    figure = vae.plot_curves(history, estimator, independent_pixels=25.0)
    figure.draw_without_rendering()
    assert estimator in figure.get_suptitle()
    assert "training loss" in figure.get_supxlabel()
    losses = figure.axes[0]
    assert losses.get_ylabel() == "nats per image"
    assert "epoch" in figure.axes[-1].get_xlabel()
    legend = losses.get_legend()
    assert len(legend.get_texts()) == len(losses.get_lines()) == 4
    assert legend.get_window_extent().x0 >= losses.get_window_extent().x1
    if estimator == "score_function":
        assert len(figure.axes) == 1
    else:
        temperature = figure.axes[1]
        assert "temperature" in temperature.get_ylabel()
        plotted = temperature.get_lines()[0].get_ydata()
        assert list(plotted) == [row["temperature"] for row in history]


def test_reconstructions_have_labelled_rows():
    originals = torch.randint(0, 2, (10, 64)).double()
    reconstructions = torch.rand(10, 64, dtype=torch.float64)
    figure = vae.plot_reconstructions(originals, reconstructions)
    images = figure.axes[:20]
    assert images[0].get_ylabel().startswith("data")
    assert images[10].get_ylabel().startswith("reconstruction")
    for index, axes in enumerate(images):
        shown = (originals if index < 10 else reconstructions)[index % 10].view(8, 8)
        assert (axes.images[0].get_array() == shown.numpy()).all()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_clear_error(tmp_path, capsys):
    assert vae.main(["--device=cuda", "--epochs=1", f"--out={tmp_path}", "--quiet"]) == 2
    assert "torch.cuda.is_available() is False" in capsys.readouterr().err


def test_mnist_without_torchvision_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision fails
    with pytest.raises(ValueError, match="needs torchvision"):
        load_dataset("mnist")


def test_mnist_without_data_is_a_clear_error(tmp_path):
    pytest.importorskip("torchvision")
    with pytest.raises(ValueError, match="--download"):
        load_dataset("mnist", data_dir=str(tmp_path))


def test_unknown_dataset():
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("cifar")


def test_digits_are_binary_and_split_once():
    train_data, test_data = load_dataset("digits")
    assert train_data.shape == (1500, 64) and test_data.shape == (297, 64)
    assert set(torch.cat([train_data, test_data]).unique().tolist()) == {0.0, 1.0}
    again, _ = load_dataset("digits")
    assert torch.equal(train_data, again)


def test_reinmax_temperature_never_falls_below_one():
    config = vae.Config(estimator="reinmax", temperature=2.0, anneal_rate=1e-2, anneal_every=1)
    assert config.schedule()(0) == 2.0
    assert config.schedule()(10**6) == 1.0
    assert vae.Config(anneal_rate=1e-2).schedule()(10**6) == vae.MINIMUM_TEMPERATURE


@pytest.mark.cuda
def test_trains_on_cuda(tmp_path):
    result = vae.train(tiny_config(tmp_path, device="cuda", epochs=2))
    assert next(result["vae"].parameters()).is_cuda
    assert all(math.isfinite(value) for value in result["final"].values())
