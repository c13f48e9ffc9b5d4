"""Models of the DFA papers, each placing its feedback points on a :class:`DFA` instance.

One class per architecture; the learning method is the ``DFA``'s mode and projector, and the
placement of points is the ``scheme`` (so BP and every DFA variant share the same model and the
same initial weights at one seed).

* :class:`MLP`: Nøkland's fully-connected nets, a point after every hidden activation.
* :class:`ConvNet`: Han et al.'s CNN schemes (arXiv 2006.12830): ``"dfa"`` (a point after every
  convolution block and hidden FC activation; dense or sparse/periodic feedback, by projector),
  ``"modular"`` (two modules, the convolutional stack and the FC hidden layer, one point each,
  BP inside a module), ``"hybrid"`` (one point after the FC hidden layer; the convolutions learn
  by BP from it, Han & Yoo 2019's BP-conv / DFA-FC split).
* :class:`RNN`: an Elman tanh RNN; under DFA the hidden state of every step is one point
  (key ``"h"``) fed by ``B e`` (no error through time).  Output from the last state.
* :class:`CharTransformer`: a decoder-only character Transformer (pre-LayerNorm blocks,
  [assumption]: Launay et al.'s script uses post-LN); scheme ``"macro"`` (one point per block,
  its output) or ``"micro"`` (three: after attention + residual, after the FFN activation, block
  output), after Launay et al. 2020 (arXiv 2006.12878) and their script
  ``paper-experiments/natural-language-processing/transformer.py`` in
  lightonai/dfa-scales-to-modern-deep-learning.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from snn_dfa._validation import check_choice, check_scalar
from snn_dfa.deep.mechanism import DFA
from snn_dfa.errors import ValidationError

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


class MLP(nn.Module):
    """``sizes = (n_in, n_1, ..., n_out)``; ``x [B, ...]`` is flattened; returns logits."""

    def __init__(self, sizes: Sequence[int], dfa: DFA, activation: str = "tanh") -> None:
        super().__init__()
        check_choice("activation", activation, ACTIVATIONS)
        if len(sizes) < 2:
            raise ValidationError(f"sizes={list(sizes)}: expected at least (n_in, n_out)")
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.act = ACTIVATIONS[activation]
        self.dfa = dfa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for lin in self.layers[:-1]:
            h = self.dfa.point(self.act(lin(h)))
        return self.dfa.output(self.layers[-1](h))


class ConvNet(nn.Module):
    """Two conv blocks (conv 5x5 pad 2, ReLU, max-pool 2) and an FC hidden layer.

    ``x [B, C, H, W]`` (2-d) or ``[B, C, L]`` (1-d, e.g. HAR windows channel-first).
    """

    def __init__(self, in_channels: int, n_classes: int, spatial: Sequence[int], dfa: DFA,
                 scheme: str = "dfa", channels: Sequence[int] = (16, 32), hidden: int = 128,
                 kernel: int = 5) -> None:
        super().__init__()
        check_choice("scheme", scheme, ["dfa", "modular", "hybrid"])
        dims = len(spatial)
        conv, pool = {1: (nn.Conv1d, nn.MaxPool1d), 2: (nn.Conv2d, nn.MaxPool2d)}[dims]
        self.convs = nn.ModuleList()
        c_in, size = in_channels, list(spatial)
        for c in channels:
            self.convs.append(conv(c_in, c, kernel, padding=kernel // 2))
            c_in, size = c, [s // 2 for s in size]
        self.pool = pool(2)
        self.fc = nn.Linear(c_in * math.prod(size), hidden)
        self.out = nn.Linear(hidden, n_classes)
        self.scheme, self.dfa = scheme, dfa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, conv in enumerate(self.convs):
            h = self.pool(torch.relu(conv(h)))
            last = i == len(self.convs) - 1
            if self.scheme == "dfa" or (self.scheme == "modular" and last):
                h = self.dfa.point(h)
        h = self.dfa.point(torch.relu(self.fc(h.flatten(1))))
        return self.dfa.output(self.out(h))


class RNN(nn.Module):
    """Elman RNN ``h_t = tanh(W_x x_t + W_h h_{t-1} + b)`` over ``x [B, T, n_in]``."""

    def __init__(self, n_in: int, hidden: int, n_classes: int, dfa: DFA) -> None:
        super().__init__()
        self.inp = nn.Linear(n_in, hidden)
        self.rec = nn.Linear(hidden, hidden, bias=False)
        self.out = nn.Linear(hidden, n_classes)
        self.hidden, self.dfa = hidden, dfa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        drive = self.inp(x)  # all steps at once
        h = torch.zeros(x.shape[0], self.hidden, dtype=x.dtype)
        for t in range(x.shape[1]):
            h = self.dfa.point(torch.tanh(drive[:, t] + self.rec(h)), key="h")
        return self.dfa.output(self.out(h))


class _Block(nn.Module):
    mask: torch.Tensor

    def __init__(self, d: int, heads: int, context: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.heads = heads
        self.register_buffer("mask", torch.ones(context, context).tril().bool(), persistent=False)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.heads)
        att = att.masked_fill(~self.mask[:t, :t], float("-inf")).softmax(-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, t, d))

    def forward(self, x: torch.Tensor, dfa: DFA, micro: bool) -> torch.Tensor:
        a = x + self.attention(self.ln1(x))
        if micro:
            a = dfa.point(a)
        m = torch.nn.functional.gelu(self.fc1(self.ln2(a)))
        if micro:
            m = dfa.point(m)
        return dfa.point(a + self.fc2(m))


class CharTransformer(nn.Module):
    """Decoder-only character model: ``tokens [B, T] -> logits [B, T, vocab]``."""

    def __init__(self, vocab: int, dfa: DFA, d: int = 64, heads: int = 4, layers: int = 2,
                 context: int = 64, scheme: str = "macro") -> None:
        super().__init__()
        check_choice("scheme", scheme, ["macro", "micro"])
        check_scalar("d", d, int, low=1)
        if d % heads:
            raise ValidationError(f"d={d}: expected a multiple of heads={heads}")
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(_Block(d, heads, context) for _ in range(layers))
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)
        self.micro, self.dfa, self.context = scheme == "micro", dfa, context

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1]))
        for block in self.blocks:
            x = block(x, self.dfa, self.micro)
        return self.dfa.output(self.head(self.ln(x)))
