"""The DFA mechanism for any torch model: feedback points, one projection per step.

Usage (an MLP; any model places points the same way)::

    dfa = DFA(RandomProjector(seed=0))
    def forward(x):
        h1 = dfa.point(torch.tanh(l1(x)))        # after each hidden activation
        h2 = dfa.point(torch.tanh(l2(h1)))
        return dfa.output(l3(h2))                 # at the output (logits)
    loss = F.cross_entropy(forward(x), y); loss.backward(); opt.step()

How it works (modes in :class:`Mode`):

* ``"dfa"``: ``point(h)`` keeps ``h`` (and its graph back to the previous point) aside and returns
  ``h.detach()``, so no error crosses a point.  ``output(y)`` ties ``y`` and every kept ``h``
  into one autograd node whose backward receives ``e = dL/dy [*lead, c]`` (for cross-entropy
  with mean reduction, ``(softmax(y) - onehot) / M``), optionally ternarises it, calls the
  projector **once** on ``e`` reshaped to ``[M, c]`` and returns ``B_l e`` as the gradient of
  point ``l`` (Nøkland 2016, arXiv 1609.01596; as TinyDFA's ``DFALayer`` does,
  lightonai/dfa-scales-to-modern-deep-learning ``TinyDFA/tinydfa/dfa.py``).  Autograd then
  multiplies by ``f'(a_l)`` and forms the local weight gradients of every block in the same
  backward pass (layer-parallel: no block waits for another).  The output layer gets its true
  local gradient.
* ``"bp"``: points and output are the identity: plain backpropagation through the same graph
  (TinyDFA's *passthrough*, for baselines and alignment measurements).
* ``"readout"``: points detach and inject nothing: only the layers after the last point train
  (TinyDFA's *SHALLOW*; the control for what DFA's hidden updates add).

Points are identified by call order within a forward pass, or by ``key``: calling ``point``
several times with the same key (an RNN's hidden state at every time step, a block reused)
gives every call the same feedback slice and the same ``B_l e``.  A point's tensor must start
with the output's leading dimensions (``y [B, c]`` with ``h [B, *feat]``; ``y [B, T, V]`` with
``h [B, T, d]``: every position gets its own projected error); its feature shape ``feat`` sizes
the point's feedback.  The projector is built at the first backward pass from those shapes.
Which layers train by DFA and which by local BP follows from where points sit: points only at
module boundaries give Han et al.'s modular DFA; points only after fully-connected layers, with
convolutions below, give their hybrid scheme (Han et al. 2020, arXiv 2006.12830).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from enum import Enum
from typing import Any

import torch

from snn_dfa._validation import check_scalar
from snn_dfa.deep.projectors import Projector, RandomProjector, Shape
from snn_dfa.errors import ValidationError


class Mode(str, Enum):
    """How :class:`DFA` trains the layers below its points."""

    DFA = "dfa"
    BP = "bp"
    READOUT = "readout"


def _mode(value: Mode | str) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise ValidationError(f"mode={value!r}: expected one of "
                              f"{', '.join(repr(m.value) for m in Mode)}") from None


def ternarise(e: torch.Tensor, threshold: float) -> torch.Tensor:
    """Ternary error ``e_t = (1[M e > t] - 1[M e < -t]) / M`` for ``e [M, c]``.

    ``e`` is the gradient of a mean-reduced loss, so ``M e`` is the per-example error; the
    threshold ``t`` applies to it (the TinyDFA fork in UnchartedRLab/SSP,
    ``lib/tinydfa/rp/ternarized.py``: ``t/B``, default 0.1) and the result keeps the ``1/M``
    scale of the incoming gradient [assumption: replaces the fork's empirical ``/130``
    rescaling, which compensates for an unnormalised projection].  The OPU sends ``e_t`` as two
    binary frames ``e+`` and ``e-``.
    """
    m = e.shape[0]
    per_example = e * m
    return ((per_example > threshold).to(e.dtype) - (per_example < -threshold).to(e.dtype)) / m


class _Inject(torch.autograd.Function):
    """Identity on ``y``; its backward returns ``B_l e`` as the gradient of every kept point."""

    @staticmethod
    def forward(ctx: Any, owner: DFA, keys: list[str], y: torch.Tensor,
                *points: torch.Tensor) -> torch.Tensor:
        ctx.owner, ctx.keys = owner, keys
        ctx.point_shapes = [p.shape for p in points]
        return y.view_as(y)

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        signals = ctx.owner._signals(grad_y, ctx.keys, ctx.point_shapes)
        return (None, None, grad_y, *signals)


class DFA(torch.nn.Module):
    """Direct Feedback Alignment for a torch model (see the module docstring).

    Parameters
    ----------
    projector : Projector, optional
        Maps the output error to every point; default :class:`RandomProjector` (uniform,
        fan-scaled, one matrix per point) seeded with ``seed``.
    mode : {"dfa", "bp", "readout"}
    ternarise : float or None
        Threshold ``t`` of :func:`ternarise` applied to the error before the projection
        (None: the real-valued error).
    seed : int or None
        Seed of the default projector.

    Attributes
    ----------
    shapes : dict[str, tuple]
        Feature shape of every point, in slice order (filled at the first backward).
    record : bool
        When True, the last forward keeps its points (``recorded``) and the last backward
        its projected signals (``last_signals``, in the same order), for diagnostics.
    """

    def __init__(self, projector: Projector | None = None, mode: Mode | str = Mode.DFA,
                 ternarise: float | None = None, seed: int | None = None) -> None:
        super().__init__()
        if projector is not None and not isinstance(projector, Projector):
            raise ValidationError(f"projector={projector!r}: expected an object with "
                                  "build(shapes, n_out) and project(e)")
        if ternarise is not None:
            check_scalar("ternarise", ternarise, (int, float), low=0.0)
        self.projector: Projector = projector if projector is not None else \
            RandomProjector(seed=seed)
        self.mode = _mode(mode)
        self.ternarise = None if ternarise is None else float(ternarise)
        self.shapes: dict[str, Shape] = {}
        self.n_out: int | None = None
        self.record = False
        self.recorded: list[tuple[str, torch.Tensor]] = []
        self.last_signals: list[torch.Tensor] = []
        self._pending: list[tuple[str, torch.Tensor]] = []
        self._auto = 0

    @contextlib.contextmanager
    def using(self, mode: Mode | str | None = None, record: bool | None = None) -> Iterator[DFA]:
        """Temporarily switch ``mode`` and/or ``record`` (restored on exit)."""
        old = (self.mode, self.record)
        if mode is not None:
            self.mode = _mode(mode)
        if record is not None:
            self.record = bool(record)
        try:
            yield self
        finally:
            self.mode, self.record = old

    def build(self, shapes: Sequence[Shape] | Mapping[str, Shape], n_out: int) -> None:
        """Build the projector now instead of at the first backward (to read its matrices
        before training, e.g. for alignment targets).  ``shapes``: feature shape per point, a
        list for points identified by call order or a dict ``key -> shape``."""
        if self.n_out is not None:
            raise ValidationError("DFA.build: the projector is already built")
        named = dict(shapes) if isinstance(shapes, Mapping) else \
            {f"#{i}": tuple(s) for i, s in enumerate(shapes)}
        self.shapes = {k: tuple(int(n) for n in s) for k, s in named.items()}
        self.projector.build(list(self.shapes.values()), int(n_out))
        self.n_out = int(n_out)

    def point(self, h: torch.Tensor, key: str | None = None) -> torch.Tensor:
        """A feedback point after a hidden activation ``h [*lead, *feat]``; returns the tensor
        the network continues with (``h`` itself in BP mode, ``h`` detached otherwise)."""
        if key is None:
            key = f"#{self._auto}"
            self._auto += 1
        if self.mode is Mode.BP:
            if self.record:
                self._pending.append((key, h))
            return h
        if self.mode is Mode.DFA and torch.is_grad_enabled():
            self._pending.append((key, h))
        return h.detach()

    def output(self, y: torch.Tensor) -> torch.Tensor:
        """The network output ``y [*lead, n_out]`` (logits); ends the forward pass."""
        pending, self._pending, self._auto = self._pending, [], 0
        if y.ndim < 1:
            raise ValidationError(f"DFA.output: expected y with a class axis, got shape "
                                  f"{tuple(y.shape)}")
        lead = tuple(y.shape[:-1])
        keys = []
        for key, h in pending:
            if tuple(h.shape[:len(lead)]) != lead:
                raise ValidationError(f"feedback point {key!r}: shape {tuple(h.shape)} does not "
                                      f"start with the output's leading dimensions {lead}")
            feat = tuple(h.shape[len(lead):])
            if not feat:
                feat = (1,)
            known = self.shapes.get(key)
            if known is None and self.n_out is not None:
                raise ValidationError(f"feedback point {key!r} appeared after the projector "
                                      f"was built for {list(self.shapes)}")
            if known is not None and known != feat:
                raise ValidationError(f"feedback point {key!r}: feature shape {feat}, expected "
                                      f"{known} as in earlier steps")
            self.shapes.setdefault(key, feat)
            keys.append(key)
        self.recorded = pending if self.record else []
        if self.mode is not Mode.DFA or not pending:
            return y
        return _Inject.apply(self, keys, y, *[h for _, h in pending])

    def _signals(self, grad_y: torch.Tensor, keys: list[str],
                 point_shapes: list[torch.Size]) -> list[torch.Tensor]:
        """One projection of ``e = grad_y`` for every kept point (called by the backward)."""
        n_out = grad_y.shape[-1]
        if self.n_out is None:
            self.projector.build(list(self.shapes.values()), n_out)
            self.n_out = n_out
        elif n_out != self.n_out:
            raise ValidationError(f"DFA.output: {n_out} outputs, the projector was built for "
                                  f"{self.n_out}")
        e = grad_y.reshape(-1, n_out)
        if self.ternarise is not None:
            e = ternarise(e, self.ternarise)
        projected = dict(zip(self.shapes, self.projector.project(e)))
        signals = [projected[k].reshape(s) for k, s in zip(keys, point_shapes)]
        self.last_signals = signals if self.record else []
        return signals

    def extra_repr(self) -> str:
        return (f"mode={self.mode.value}, points={len(self.shapes)}, ternarise={self.ternarise}, "
                f"projector={type(self.projector).__name__}")
