"""Diagnostics and hooks around :class:`snn_dfa.deep.DFA`: alignment with BP, per-example factors.

* :func:`alignment`: per feedback point, the cosine between DFA and the true BP gradient of the
  same minibatch, both for the signal at the point (``B_l e`` against ``dL/dh_l``) and for the
  update of the parameters the point trains (Nøkland 2016, arXiv 1609.01596: learning needs
  cosine > 0).
* :func:`record_factors`: the two factors of every ``nn.Linear``'s weight gradient, per example:
  the layer input ``x`` and ``delta = dL/d(output)`` (under DFA, the projected error times the
  activation derivative, ``(B_l e) * f'(a_l)``, already carrying the loss's ``1/M``).  The
  per-example gradient is ``delta_i^T x_i`` summed over any positions; its norm is
  ``|delta_i| |x_i|`` when there is one position.  This is the seam for DP-DFA's per-example
  clipping (Lee & Kifer 2020, arXiv 2010.03701): clip the factors, rebuild the gradient with
  :meth:`Factors.weight_grad`, add noise, write ``.grad``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from snn_dfa.deep.mechanism import DFA, Mode
from snn_dfa.errors import ValidationError


@dataclass(frozen=True)
class PointAlignment:
    """Alignment of one feedback point (or ``"output"``, or ``"shared"`` for parameters several
    points reach) on one minibatch; cosines are in [-1, 1] (``nan`` when a side is zero)."""

    key: str
    update_cosine: float
    signal_cosine: float
    n_parameters: int

    @property
    def update_angle_deg(self) -> float:
        return math.degrees(math.acos(max(-1.0, min(1.0, self.update_cosine))))


def _cosine(a: Sequence[torch.Tensor | None], b: Sequence[torch.Tensor | None]) -> float:
    """Cosine of the concatenations; nan when empty, mismatched, missing or zero."""
    if not a or len(a) != len(b) or any(t is None for t in (*a, *b)):
        return math.nan
    x = torch.cat([t.reshape(-1).double() for t in a if t is not None])
    y = torch.cat([t.reshape(-1).double() for t in b if t is not None])
    denom = float(x.norm() * y.norm())
    return float(x @ y) / denom if denom > 0 else math.nan


def alignment(dfa: DFA, parameters: Iterable[torch.nn.Parameter],
              loss_fn: Callable[[], torch.Tensor]) -> list[PointAlignment]:
    """Per-point cosine between the DFA update and the BP gradient on the same minibatch.

    ``loss_fn()`` runs the forward pass on a fixed minibatch and returns the loss; it is called
    twice (once in BP mode, once in DFA mode), so it must be deterministic (no dropout).  The
    parameters' ``.grad`` are left untouched.  A parameter belongs to the point whose signal
    reaches it; those reached by none belong to ``"output"`` (their DFA and BP gradients are
    equal); those reached by several points are pooled as ``"shared"``.
    """
    params = [p for p in parameters if p.requires_grad]
    with dfa.using(mode=Mode.BP, record=True):
        loss = loss_fn()
        points = list(dfa.recorded)
        grads = torch.autograd.grad(loss, params + [h for _, h in points], allow_unused=True)
    bp = grads[:len(params)]
    bp_signal: dict[str, list[torch.Tensor | None]] = {}
    for (key, _), g in zip(points, grads[len(params):]):
        bp_signal.setdefault(key, []).append(g)

    with dfa.using(mode=Mode.DFA, record=True):
        loss = loss_fn()
        kept = list(dfa.recorded)
        total = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
        signals = list(dfa.last_signals)
    owners: dict[int, list[str]] = {}
    per_point: dict[str, tuple[torch.Tensor | None, ...]] = {}
    dfa_signal: dict[str, list[torch.Tensor | None]] = {}
    for key in dict.fromkeys(k for k, _ in kept):
        pairs = [(h, s) for (k, h), s in zip(kept, signals) if k == key]
        dfa_signal[key] = [s for _, s in pairs]
        if not any(h.requires_grad for h, _ in pairs):
            per_point[key] = tuple(None for _ in params)
            continue
        target = torch.stack([(h * s).sum() for h, s in pairs if h.requires_grad]).sum()
        per_point[key] = torch.autograd.grad(target, params, allow_unused=True,
                                             retain_graph=True)
        for i, gp in enumerate(per_point[key]):
            if gp is not None:
                owners.setdefault(i, []).append(key)

    out = []
    for key, g_dfa in per_point.items():
        idx = [i for i in range(len(params)) if owners.get(i) == [key] and bp[i] is not None]
        sig_a, sig_b = dfa_signal[key], bp_signal.get(key, [])
        out.append(PointAlignment(key, _cosine([g_dfa[i] for i in idx], [bp[i] for i in idx]),
                                  _cosine(sig_a, sig_b), sum(params[i].numel() for i in idx)))
    for name, pick in (("output", lambda i: i not in owners),
                       ("shared", lambda i: len(owners.get(i, [])) > 1)):
        idx = [i for i in range(len(params))
               if pick(i) and total[i] is not None and bp[i] is not None]
        if idx:
            out.append(PointAlignment(name, _cosine([total[i] for i in idx], [bp[i] for i in idx]),
                                      math.nan, sum(params[i].numel() for i in idx)))
    return out


@dataclass
class Factors:
    """One call of an ``nn.Linear``: ``input [N, ..., n_in]`` and ``delta [N, ..., n_out]``
    (``dL/d(output)``); ``weight.grad`` gets ``sum_i delta_i^T input_i`` from this call."""

    input: torch.Tensor
    delta: torch.Tensor | None = None

    def weight_grad(self, per_example: bool = False) -> torch.Tensor:
        """``[n_out, n_in]``, or ``[N, n_out, n_in]`` per example."""
        if self.delta is None:
            raise ValidationError("Factors.weight_grad: no gradient reached this call")
        n = self.input.shape[0]
        x = self.input.reshape(n, -1, self.input.shape[-1])
        d = self.delta.reshape(n, -1, self.delta.shape[-1])
        g = torch.einsum("npo,npi->noi", d, x)
        return g if per_example else g.sum(0)

    def bias_grad(self, per_example: bool = False) -> torch.Tensor:
        """``[n_out]``, or ``[N, n_out]`` per example."""
        if self.delta is None:
            raise ValidationError("Factors.bias_grad: no gradient reached this call")
        n = self.delta.shape[0]
        g = self.delta.reshape(n, -1, self.delta.shape[-1]).sum(1)
        return g if per_example else g.sum(0)


@contextlib.contextmanager
def record_factors(modules: Iterable[torch.nn.Linear]) -> Iterator[dict[torch.nn.Linear,
                                                                      list[Factors]]]:
    """Record the weight-gradient factors of ``modules`` during forward and backward passes.

    Yields a dict ``module -> [Factors per call]`` (several calls per step for a module reused
    over time steps), filled by forward hooks (inputs) and tensor hooks (deltas, when the
    backward reaches the module's output).  Hooks are removed on exit.
    """
    log: dict[torch.nn.Linear, list[Factors]] = {}
    handles = []

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        item = Factors(args[0].detach())
        log.setdefault(module, []).append(item)  # type: ignore[arg-type]  # the log is keyed by module and filled in two steps
        if out.requires_grad:
            def store(g: torch.Tensor, item: Factors = item) -> None:
                item.delta = g.detach()
            out.register_hook(store)

    for m in modules:
        if not isinstance(m, torch.nn.Linear):
            raise ValidationError(f"record_factors: expected torch.nn.Linear modules, got {type(m)}")
        handles.append(m.register_forward_hook(hook))
    try:
        yield log
    finally:
        for h in handles:
            h.remove()
