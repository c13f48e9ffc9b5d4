"""Training loops for the deep examples: classifiers and a character language model.

One seed drives everything: the model's initial weights (``torch.manual_seed`` before the model
is built, done by the caller through :func:`seeded`), the minibatch order (a ``torch.Generator``)
and the feedback matrices (the projector's own seed).  The loops record per epoch (or per
evaluation) the loss, the accuracy, the per-point alignment with BP on a fixed probe minibatch,
and the mean wall-clock time of a training step.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from snn_dfa._validation import check_choice, check_scalar
from snn_dfa.deep.diagnostics import alignment
from snn_dfa.deep.mechanism import DFA, Mode


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Build models under ``torch.manual_seed(seed)``.

    The global torch generator is restored on exit so nothing else inherits the seed.
    """
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


def make_optimizer(params: list[torch.nn.Parameter], name: str, lr: float,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    """``"sgd"`` (with ``momentum``) or ``"adam"``."""
    check_choice("optimizer", name, ["sgd", "adam"])
    check_scalar("lr", lr, (int, float), low=0.0, low_inclusive=False)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    return torch.optim.Adam(params, lr=lr)


def _alignment_row(dfa: DFA, model: torch.nn.Module,
                   loss_fn: Callable[[], torch.Tensor]) -> dict[str, float]:
    if dfa.mode is not Mode.DFA:
        return {}
    return {r.key: r.update_cosine for r in alignment(dfa, model.parameters(), loss_fn)}


@torch.no_grad()
def accuracy(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor,
             batch_size: int = 1000) -> float:
    """Fraction of ``X [N, ...]`` classified as ``y [N]``."""
    model.eval()
    correct = sum(int((model(X[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]).sum())
                  for i in range(0, len(X), batch_size))
    model.train()
    return correct / max(len(X), 1)


def fit_classifier(model: torch.nn.Module, dfa: DFA, train: tuple[torch.Tensor, torch.Tensor],
                   test: tuple[torch.Tensor, torch.Tensor], *, epochs: int, batch_size: int,
                   lr: float, optimizer: str = "sgd", seed: int = 0,
                   probe_size: int = 256, regulariser: Callable[[], torch.Tensor] | None = None,
                   epoch_hook: Callable[[int], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Train with cross-entropy; returns ``{"epochs": [...], "test_acc", "step_ms"}``.

    Each epoch row holds ``train_loss`` (mean over the epoch's minibatches), ``test_acc``,
    ``alignment`` (update cosine per point on a fixed probe minibatch of the training set;
    empty in BP mode) and ``step_ms`` (mean time of forward + backward + update).
    ``regulariser()`` is added to every minibatch's loss (local terms, e.g. low-rank
    alignment and orthogonality); ``epoch_hook(epoch)`` runs after each epoch's update and
    before its evaluation, returns extra row entries, and may replace parameters (the optimiser
    is then rebuilt).
    """
    X, y = train
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(list(model.parameters()), optimizer, lr)
    probe = torch.randperm(len(X), generator=gen)[:probe_size]

    def probe_loss() -> torch.Tensor:
        return F.cross_entropy(model(X[probe]), y[probe])

    rows: list[dict[str, Any]] = [{"epoch": 0, "train_loss": math.nan, "test_acc": accuracy(model, *test),
             "alignment": _alignment_row(dfa, model, probe_loss), "step_ms": math.nan}]
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(X), generator=gen)
        losses, elapsed = [], 0.0
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(X[idx]), y[idx])
            total = loss if regulariser is None else loss + regulariser()
            total.backward()
            opt.step()
            elapsed += time.perf_counter() - start
            losses.append(loss.item())
        extra = {} if epoch_hook is None else epoch_hook(epoch)
        if {id(p) for p in model.parameters()} != {id(p) for g in opt.param_groups
                                                   for p in g["params"]}:
            opt = make_optimizer(list(model.parameters()), optimizer, lr)
        rows.append({**extra, "epoch": epoch, "train_loss": sum(losses) / len(losses),
                     "test_acc": accuracy(model, *test),
                     "alignment": _alignment_row(dfa, model, probe_loss),
                     "step_ms": 1e3 * elapsed / len(losses)})
    return {"epochs": rows, "test_acc": rows[-1]["test_acc"],
            "step_ms": sum(r["step_ms"] for r in rows[1:]) / max(epochs, 1)}


def lm_batch(tokens: torch.Tensor, batch_size: int, context: int,
             gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows ``[B, context]`` of ``tokens [N]`` and their next-character targets."""
    starts = torch.randint(0, len(tokens) - context - 1, (batch_size,), generator=gen)
    idx = starts[:, None] + torch.arange(context)
    return tokens[idx], tokens[idx + 1]


@torch.no_grad()
def lm_loss(model: torch.nn.Module, tokens: torch.Tensor, context: int,
            max_windows: int = 200) -> float:
    """Mean cross-entropy in nats per character over up to ``max_windows`` consecutive,
    non-overlapping windows of ``tokens`` (deterministic)."""
    model.eval()
    n = min(max_windows, (len(tokens) - 1) // context)
    idx = torch.arange(n)[:, None] * context + torch.arange(context)
    total = 0.0
    for i in range(0, n, 50):
        logits = model(tokens[idx[i:i + 50]])
        total += float(F.cross_entropy(logits.flatten(0, 1), tokens[idx[i:i + 50] + 1].flatten(),
                                       reduction="sum"))
    model.train()
    return total / (n * context)


def fit_lm(model: torch.nn.Module, dfa: DFA, train: torch.Tensor, val: torch.Tensor, *,
           steps: int, batch_size: int, context: int, lr: float, eval_every: int,
           seed: int = 0, optimizer: str = "adam") -> dict[str, Any]:
    """Train a next-character model; returns evaluations ``[{"step", "train_loss",
    "val_loss", "alignment", "step_ms"}]`` and the final ``val_loss`` (nats/char)."""
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(list(model.parameters()), optimizer, lr)
    probe = lm_batch(train, 16, context, gen)

    def probe_loss() -> torch.Tensor:
        return F.cross_entropy(model(probe[0]).flatten(0, 1), probe[1].flatten())

    rows: list[dict[str, Any]] = []
    losses, elapsed = [], 0.0
    for step in range(1, steps + 1):
        xb, yb = lm_batch(train, batch_size, context, gen)
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb).flatten(0, 1), yb.flatten())
        loss.backward()
        opt.step()
        elapsed += time.perf_counter() - start
        losses.append(loss.item())
        if step % eval_every == 0 or step == steps:
            rows.append({"step": step, "train_loss": sum(losses) / len(losses),
                         "val_loss": lm_loss(model, val, context),
                         "alignment": _alignment_row(dfa, model, probe_loss),
                         "step_ms": 1e3 * elapsed / len(losses)})
            losses, elapsed = [], 0.0
    return {"evals": rows, "val_loss": rows[-1]["val_loss"],
            "step_ms": sum(r["step_ms"] for r in rows) / len(rows)}


def cached_run(folder: Path, name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Return ``folder/name.json`` if a finished run left it, else run and write it atomically
    (so an interrupted experiment resumes where it stopped)."""
    path = folder / f"{name}.json"
    if path.is_file():
        return dict(json.loads(path.read_text()))
    result = run()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, allow_nan=True))
    os.replace(tmp, path)
    return result


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
