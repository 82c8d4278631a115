# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
Temperature schedules: plain callables ``step -> temperature``.

A schedule is a pure function of the step, so a checkpoint need only record the
step. Use it with any of the distributions (with the straight-through ones, and
``AutoConcrete``, choose ``estimator="straight_through"`` or ``"gumbel_rao"``: their
default, ReinMax, uses :math:`\max(\tau, 1)`)::

    schedule = ExponentialDecay(initial=1.0, rate=3e-5, minimum=0.5, every=1000)
    for step in range(num_steps):
        temperature = schedule(step)
        svi.step(data, temperature)

Temperatures from the literature:

- Jang et al. (2017): :math:`\tau = \max(0.5, \exp(-r t))` with
  :math:`r \in \{10^{-5}, 10^{-4}\}`, recomputed every :math:`N \in \{500, 1000\}`
  steps; their notebook uses :math:`r = 3 \cdot 10^{-5}` every 1000 steps.
- Maddison et al. (2017): fixed temperatures; :math:`\tau = 2/3` was the best
  single value, and separate prior/posterior temperatures (1/2 and 2/3 for
  binary latents) helped.
"""

import math

from pyro_concrete.checks import check_integer, check_nonnegative_number, check_positive_number

__all__ = ["ConstantTemperature", "CosineDecay", "ExponentialDecay", "LinearDecay"]


class ConstantTemperature:
    """
    A fixed temperature, e.g. Maddison et al.'s :math:`\\tau = 2/3`.

    :param float temperature: the temperature.
    """

    def __init__(self, temperature: float):
        self.temperature = check_positive_number("temperature", temperature)

    def __call__(self, step: int) -> float:
        check_integer("step", step, minimum=0)
        return self.temperature

    def __repr__(self):
        return f"ConstantTemperature({self.temperature})"


class ExponentialDecay:
    r"""
    Jang et al.'s annealing schedule,

    .. math::

        \tau(t) = \max\left(\tau_{\min},\ \tau_0 \exp(-r N \lfloor t / N \rfloor)\right),

    recomputed every :math:`N` steps. The paper uses :math:`\tau_0 = 1`,
    :math:`\tau_{\min} = 0.5`, :math:`r \in \{10^{-5}, 10^{-4}\}`,
    :math:`N \in \{500, 1000\}`; its notebook :math:`r = 3 \cdot 10^{-5}`, :math:`N = 1000`.

    :param float initial: :math:`\tau_0`.
    :param float rate: :math:`r`, per step.
    :param float minimum: :math:`\tau_{\min}`.
    :param int every: :math:`N`, the number of steps between updates.
    """

    def __init__(
        self, initial: float = 1.0, rate: float = 3e-5, minimum: float = 0.5, every: int = 1000
    ):
        self.initial = check_positive_number("initial", initial)
        self.rate = check_nonnegative_number("rate", rate)
        self.minimum = check_positive_number("minimum", minimum)
        self.every = check_integer("every", every, minimum=1)

    def __call__(self, step: int) -> float:
        check_integer("step", step, minimum=0)
        updated_at = (step // self.every) * self.every
        return max(self.minimum, self.initial * math.exp(-self.rate * updated_at))

    def __repr__(self):
        return (
            f"ExponentialDecay(initial={self.initial}, rate={self.rate}, "
            f"minimum={self.minimum}, every={self.every})"
        )


class LinearDecay:
    r"""
    Linear interpolation from ``initial`` to ``final`` over ``steps`` steps, then
    constant: :math:`\tau(t) = \tau_0 + (\tau_1 - \tau_0) \min(t / T, 1)`.

    :param float initial: :math:`\tau_0`.
    :param float final: :math:`\tau_1`.
    :param int steps: :math:`T`.
    """

    def __init__(self, initial: float = 1.0, final: float = 0.5, steps: int = 10000):
        self.initial = check_positive_number("initial", initial)
        self.final = check_positive_number("final", final)
        self.steps = check_integer("steps", steps, minimum=1)

    def _progress(self, step):
        check_integer("step", step, minimum=0)
        return min(step / self.steps, 1.0)

    def __call__(self, step: int) -> float:
        return self.initial + (self.final - self.initial) * self._progress(step)

    def __repr__(self):
        return (
            f"{type(self).__name__}(initial={self.initial}, final={self.final}, steps={self.steps})"
        )


class CosineDecay(LinearDecay):
    r"""
    Cosine annealing from ``initial`` to ``final`` over ``steps`` steps, then
    constant: :math:`\tau(t) = \tau_1 + (\tau_0 - \tau_1)\,(1 + \cos(\pi \min(t/T, 1))) / 2`.
    DALL·E's discrete VAE annealed its relaxation temperature from 1 to 1/16 over
    the first 150,000 updates with a cosine schedule (Ramesh et al., 2021):
    ``CosineDecay(1.0, 1 / 16, 150_000)``.

    :param float initial: :math:`\tau_0`.
    :param float final: :math:`\tau_1`.
    :param int steps: :math:`T`.
    """

    def __call__(self, step: int) -> float:
        return (
            self.final
            + (self.initial - self.final) * (1 + math.cos(math.pi * self._progress(step))) / 2
        )
