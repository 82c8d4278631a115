# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""The README's quick start runs as written and reaches the exact posterior."""

import contextlib
import io
import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.rst"


def quick_start_code():
    text = README.read_text()
    section = text[text.index("Quick start") : text.index("Set-up")]
    (block,) = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", section)
    return "\n".join(line[4:] for line in block.splitlines())


def test_quick_start():
    code = quick_start_code()
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()) as output:
        exec(compile(code, str(README), "exec"), namespace)
    printed = torch.tensor(
        [float(v) for v in re.findall(r"[-+]?\d*\.\d+(?:e[-+]?\d+)?", output.getvalue())]
    )
    # The exact posterior over the four locations, by enumeration.
    locs, data = namespace["locs"].double(), namespace["data"].double()
    log_joint = torch.stack(
        [torch.distributions.Normal(loc, 1.0).log_prob(data).sum() for loc in locs]
    )
    posterior = log_joint.softmax(-1)
    assert printed.shape == (4,)
    assert 0.5 * (printed - posterior).abs().sum() < 0.1
