# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
The cases of the suite, by name: each runs its reference (where one exists) and
every method, for each seed, and yields the rows of the results.
"""

from typing import Callable, Dict, Iterator, Sequence

from . import categorical_vae, factorial, hmm, mixture, semi_supervised, sigmoid_belief_net
from .common import Method

Rows = Iterator[Dict]


def _mixture(make_problem: Callable) -> Callable[..., Rows]:
    def rows(seeds: Sequence[int], methods: Sequence[Method], quick: bool) -> Rows:
        for seed in seeds:
            problem = make_problem(seed, quick)
            yield mixture.exact(problem, seed)
            for method in methods:
                elbos = [None] if method.is_score_function else list(mixture.ELBOS)
                for elbo_name in elbos:
                    yield mixture.run(problem, method, seed, elbo_name)

    return rows


def _module(module, with_reference: bool = True) -> Callable[..., Rows]:
    """A case whose ``module.run(problem, method, seed)`` takes ``method=None`` as the reference."""

    def rows(seeds, methods, quick):
        for seed in seeds:
            problem = module.problem(seed, quick)
            references = [None] if with_reference else []
            for method in references + list(methods):
                yield module.run(problem, method, seed)

    return rows


def _factorial(num_features: int) -> Callable[..., Rows]:
    def rows(seeds, methods, quick):
        for seed in seeds:
            problem = factorial.problem(num_features, seed, quick)
            seconds = None
            if problem.exact:
                yield factorial.exact(problem, seed)
            else:
                seconds = 0.05 if quick else 10.0
            for method in methods:
                yield factorial.run(problem, method, seed, seconds)

    return rows


def _hmm(seeds, methods, quick):
    for seed in seeds:
        problem = hmm.problem(seed, quick)
        yield hmm.exact(problem, seed)
        for method in methods:
            yield hmm.run(problem, method, seed)


#: Case name -> (rows function, whether the reference is exact).
CASES = {
    "gmm_tutorial": (_mixture(mixture.tutorial_problem), True),
    "gmm_synthetic": (_mixture(mixture.synthetic_problem), True),
    "semi_supervised": (_module(semi_supervised), True),
    "categorical_vae": (_module(categorical_vae), True),
    "sigmoid_belief_net": (_module(sigmoid_belief_net, with_reference=False), False),
    "factorial_4": (_factorial(4), True),
    "factorial_8": (_factorial(8), True),
    "factorial_16": (_factorial(16), False),
    "hmm": (_hmm, True),
}
