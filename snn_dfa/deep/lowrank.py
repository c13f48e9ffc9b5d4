"""Low-rank layers trained by DFA in SVD space (Roy et al. 2025, "SSA"; arXiv 2510.25594).

The paper's exact alignment loss, loss weights, feedback construction and rank schedule are not
public (no code; the abstract describes the method in words); this is our implementable
reading of it, every choice marked [assumption]:

* :class:`LowRankLinear`: ``W = U diag(s) V^T`` with ``U [n_out, r]``, ``V [n_in, r]`` and ``s
  [r]`` trained directly (``r (n_in + n_out + 1) + n_out`` parameters instead of
  ``n_in n_out + n_out``).
* :class:`SVDProjector`: feedback with the same SVD structure, ``B_l = U^B_l diag(s^B_l)
  V^B_l^T`` with random orthonormal ``U^B_l [n_l, k]``, ``V^B_l [n_out, k]`` (QR of Gaussian
  matrices), ``k = min(rank, n_out)`` and ``s^B`` uniform in [0.5, 1.5] [assumption], scaled by
  ``1/sqrt(n_l)`` as the dense projectors.
* :func:`ortho_loss`: ``|U^T U - I|_F^2 + |V^T V - I|_F^2`` keeps the factors on the Stiefel
  manifold.
* :func:`align_loss`: ``1 - cos(W_l, T_l)`` with the feedback-implied target of Nøkland's
  alignment argument (Nøkland 2016, arXiv 1609.01596, as restated in Zhao et al. 2024,
  arXiv 2406.02040, Appendix A.3: at convergence ``W_{l+1} ∝ B_{l+1} B_l^T`` and
  ``W_L ∝ B_{L-1}^T``); the first layer, which maps the input, has no target.
* :meth:`LowRankLinear.reduce_rank`: drops the components whose ``|s_j|`` is below a fraction of
  the largest (dynamic rank reduction; the threshold and schedule are [assumption]).

The cross-entropy part reaches each layer as DFA's projected error at its feedback point and is
chained locally through ``U``, ``s`` and ``V`` by autograd; the two extra terms are local to
each layer and added to the loss.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch
from torch import nn

from snn_dfa._validation import SeedLike, check_random_state, check_scalar
from snn_dfa.deep.mechanism import DFA
from snn_dfa.deep.models import ACTIVATIONS
from snn_dfa.deep.projectors import Shape, _MatrixProjector
from snn_dfa.errors import ValidationError


def random_orthonormal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """``[rows, cols]`` with orthonormal columns (QR of a Gaussian matrix, signs fixed)."""
    if cols > rows:
        raise ValidationError(f"random_orthonormal: cols={cols} exceeds rows={rows}")
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q * np.sign(np.diag(r))


class LowRankLinear(nn.Module):
    """``y = x V diag(s) U^T + b``; initialised from the truncated SVD of a default
    ``nn.Linear`` weight (so rank ``r`` keeps that weight's largest ``r`` components)."""

    def __init__(self, n_in: int, n_out: int, rank: int) -> None:
        super().__init__()
        check_scalar("rank", rank, int, low=1, high=min(n_in, n_out))
        dense = nn.Linear(n_in, n_out)
        u, s, vh = torch.linalg.svd(dense.weight.detach(), full_matrices=False)
        self.U = nn.Parameter(u[:, :rank].contiguous())
        self.s = nn.Parameter(s[:rank].clone())
        self.V = nn.Parameter(vh[:rank].T.contiguous())
        self.bias = nn.Parameter(dense.bias.detach().clone())

    @property
    def rank(self) -> int:
        return int(self.s.shape[0])

    @property
    def weight(self) -> torch.Tensor:
        """The dense ``W = U diag(s) V^T [n_out, n_in]`` (for diagnostics and tests)."""
        return (self.U * self.s) @ self.V.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x @ self.V) * self.s) @ self.U.T + self.bias

    @torch.no_grad()
    def reduce_rank(self, relative_threshold: float) -> int:
        """Drop components with ``|s_j| < relative_threshold * max |s|``; returns the new rank
        (at least 1).  The parameters are replaced: rebuild the optimiser afterwards."""
        check_scalar("relative_threshold", relative_threshold, (int, float), low=0.0, high=1.0)
        keep = self.s.abs() >= relative_threshold * self.s.abs().max()
        if bool(keep.all()):
            return self.rank
        self.U = nn.Parameter(self.U[:, keep].contiguous())
        self.V = nn.Parameter(self.V[:, keep].contiguous())
        self.s = nn.Parameter(self.s[keep].clone())
        return self.rank


def ortho_loss(layer: LowRankLinear) -> torch.Tensor:
    """``|U^T U - I|_F^2 + |V^T V - I|_F^2``."""
    eye = torch.eye(layer.rank, dtype=layer.U.dtype)
    return ((layer.U.T @ layer.U - eye) ** 2).sum() + ((layer.V.T @ layer.V - eye) ** 2).sum()


def align_loss(weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - cos(W, T)`` (Frobenius cosine; ``target`` is fixed)."""
    return 1 - (weight * target).sum() / (weight.norm() * target.norm() + 1e-12)


class SVDProjector(_MatrixProjector):
    """Random feedback ``B_l = U^B diag(s^B) V^B^T / sqrt(n_l)`` of rank ``min(rank, n_out)``."""

    def __init__(self, rank: int, seed: SeedLike = None) -> None:
        check_scalar("rank", rank, int, low=1)
        self.rank = rank
        self._rng = check_random_state(seed)

    def build(self, shapes: Sequence[Shape], n_out: int) -> None:
        mats, self.factors = [], []
        for s in shapes:
            n = int(math.prod(s))
            k = min(self.rank, n_out, n)
            u, v = random_orthonormal(n, k, self._rng), random_orthonormal(n_out, k, self._rng)
            sv = self._rng.uniform(0.5, 1.5, k)
            self.factors.append((u, sv, v))
            mats.append((u * sv) @ v.T / math.sqrt(n))
        self._set([m.astype(np.float32) for m in mats], shapes)


class LowRankMLP(nn.Module):
    """MLP of :class:`LowRankLinear` layers with a DFA point after each hidden activation."""

    def __init__(self, sizes: Sequence[int], rank: int, dfa: DFA, activation: str = "tanh") -> None:
        super().__init__()
        self.layers = nn.ModuleList(LowRankLinear(a, b, min(rank, a, b))
                                    for a, b in itertools.pairwise(sizes))
        self.act, self.dfa = ACTIVATIONS[activation], dfa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for lin in self.layers[:-1]:
            h = self.dfa.point(self.act(lin(h)))
        return self.dfa.output(self.layers[-1](h))

    def local_losses(self, feedback: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sum of align_loss, sum of ortho_loss)`` over the layers, given the hidden points'
        feedback matrices ``B_l [n_l, n_out]`` (the projector's ``matrices``)."""
        layers = cast(list[LowRankLinear], list(self.layers))
        ortho = torch.stack([ortho_loss(lin) for lin in layers]).sum()
        targets = [b_next @ b.T for b, b_next in itertools.pairwise(feedback)]
        targets.append(feedback[-1].T)
        align = torch.stack([align_loss(lin.weight, t)
                             for lin, t in zip(layers[1:], targets)]).sum()
        return align, ortho

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
