"""Optimisers that turn per-layer gradients into per-layer updates.

An optimiser never touches the network: ``step(grads)`` returns the updates (``delta``
to add), and the caller applies them through the synapse backend, so the same update
reaches ideal weights or a crossbar's programming pulses.  ``grads`` is a list with one
dict per layer (``{"weight": [n_out, fan_in], "bias": [n_out], ...}``).
"""

from __future__ import annotations

import math

import numpy as np

from snn_dfa._validation import check_scalar

Grads = list[dict[str, np.ndarray]]


class Optimizer:
    """Shared parts: learning rate, optional clipping of the global update norm."""

    def __init__(self, lr: float, clip_norm: float | None = None) -> None:
        check_scalar("lr", lr, (int, float), low=0.0, low_inclusive=False)
        if clip_norm is not None:
            check_scalar("clip_norm", clip_norm, (int, float), low=0.0, low_inclusive=False)
        self.lr = float(lr)
        self.clip_norm = clip_norm
        self.steps = 0

    def step(self, grads: Grads) -> Grads:
        """Return the updates for ``grads`` and advance the optimiser state."""
        self.steps += 1
        updates = [{k: self._update((i, k), g) for k, g in layer.items()}
                   for i, layer in enumerate(grads)]
        if self.clip_norm is not None:
            norm = math.sqrt(sum(float((u.astype(np.float64) ** 2).sum())
                                 for layer in updates for u in layer.values()))
            if norm > self.clip_norm:
                scale = self.clip_norm / norm
                updates = [{k: u * u.dtype.type(scale) for k, u in layer.items()}
                           for layer in updates]
        return updates

    def _update(self, key: tuple[int, str], grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional (heavy-ball) momentum.

    ``v <- momentum * v + g``; ``delta = -lr * v``.
    """

    def __init__(self, lr: float = 1e-2, momentum: float = 0.0,
                 clip_norm: float | None = None) -> None:
        super().__init__(lr, clip_norm)
        check_scalar("momentum", momentum, (int, float), low=0.0, high=1.0, high_inclusive=False)
        self.momentum = float(momentum)
        self._velocity: dict[tuple[int, str], np.ndarray] = {}

    def _update(self, key: tuple[int, str], grad: np.ndarray) -> np.ndarray:
        if self.momentum:
            v = self._velocity.get(key)
            v = grad.copy() if v is None else self.momentum * v + grad
            self._velocity[key] = v
            return (-self.lr * v).astype(grad.dtype)
        return (-self.lr * grad).astype(grad.dtype)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, as ``torch.optim.Adam``."""

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, clip_norm: float | None = None) -> None:
        super().__init__(lr, clip_norm)
        check_scalar("beta1", beta1, (int, float), low=0.0, high=1.0, high_inclusive=False)
        check_scalar("beta2", beta2, (int, float), low=0.0, high=1.0, high_inclusive=False)
        check_scalar("eps", eps, (int, float), low=0.0, low_inclusive=False)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self._m: dict[tuple[int, str], np.ndarray] = {}
        self._v: dict[tuple[int, str], np.ndarray] = {}

    def _update(self, key: tuple[int, str], grad: np.ndarray) -> np.ndarray:
        m = self._m.get(key, np.zeros_like(grad))
        v = self._v.get(key, np.zeros_like(grad))
        m = self.beta1 * m + (1 - self.beta1) * grad
        v = self.beta2 * v + (1 - self.beta2) * grad * grad
        self._m[key], self._v[key] = m, v
        mhat = m / (1 - self.beta1**self.steps)
        vhat = v / (1 - self.beta2**self.steps)
        return (-self.lr * mhat / (np.sqrt(vhat) + self.eps)).astype(grad.dtype)


def make_optimizer(name: str, **kwargs: float) -> Optimizer:
    """Build ``"sgd"`` or ``"adam"`` by name."""
    from snn_dfa._validation import check_choice

    check_choice("optimizer", name, ["sgd", "adam"])
    return SGD(**kwargs) if name == "sgd" else Adam(**kwargs)  # type: ignore[arg-type]  # keyword options are checked by the constructors at run time
