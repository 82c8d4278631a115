# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
What the carry protocol's fallback costs in accuracy: the largest log-density
error of ``RelaxedCategoricalConcrete.log_prob`` when a sample's hint is not used
(a hint-free copy), against the float64 closed form at the point that was sampled,
per temperature, separately for rows where no coordinate underflowed to zero and
rows where one did. For comparison, the error with the hint.

    python benchmarks/fallback_accuracy.py
"""

import math

import torch

from pyro_concrete import RelaxedCategoricalConcrete

TEMPERATURES = [1e-3, 1e-2, 0.1, 0.5, 1.0, 10.0, 1e3]
NUM_CATEGORIES = [2, 10, 100, 1000]


def closed_form(logits, temperature, log_value):
    """The Concrete log density on the simplex at log coordinates, in float64."""
    logits, log_value = logits.double(), log_value.double()
    k = logits.size(-1)
    scores = logits - temperature * log_value
    return (
        math.lgamma(k)
        + (k - 1) * math.log(temperature)
        + (scores - log_value).sum(-1)
        - k * scores.logsumexp(-1)
    )


def errors(dtype, temperature, num_categories, num_rows=512, scale=3.0):
    generator = torch.Generator().manual_seed(0)
    logits = (torch.randn(num_rows, num_categories, generator=generator) * scale).to(dtype)
    d = RelaxedCategoricalConcrete(temperature, logits=logits)
    x = d.rsample()
    exact = closed_form(logits, temperature, x._pyro_concrete_hint[1])
    with_hint = (d.log_prob(x).double() - exact).abs()
    fallback = (d.log_prob(x.clone()).double() - exact).abs()
    underflow = (x == 0).any(-1)
    return with_hint.max().item(), fallback[~underflow], fallback[underflow], underflow


def main():
    print(
        "| dtype | temperature | with hint | fallback, no underflow | fallback, underflow "
        "| rows with underflow |"
    )
    print("|---|---|---|---|---|---|")
    for dtype in (torch.float32, torch.float64):
        for temperature in TEMPERATURES:
            hint, clean, lossy, underflow = 0.0, [], [], []
            for k in NUM_CATEGORIES:
                h, c, u, flags = errors(dtype, temperature, k)
                hint = max(hint, h)
                clean.append(c)
                lossy.append(u)
                underflow.append(flags)
            clean, lossy = torch.cat(clean), torch.cat(lossy)
            share = torch.cat(underflow).double().mean().item()
            lossy_text = f"{lossy.max().item():.3g}" if len(lossy) else "—"
            clean_text = f"{clean.max().item():.3g}" if len(clean) else "—"
            print(
                f"| {str(dtype)[6:]} | {temperature:g} | {hint:.3g} | {clean_text} | "
                f"{lossy_text} | {share:.0%} |"
            )


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
