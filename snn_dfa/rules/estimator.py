"""A scikit-learn-style classifier over the functional core.

``X`` is sample-major ``[N, T, C]`` (scikit-learn's convention: one window per row); the
estimator transposes each batch to the engine's time-major ``[T, B, C]``.
``__init__`` only stores settings; ``fit`` validates, builds ``network_`` and learns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from snn_dfa._validation import SeedLike, check_array, check_random_state, check_scalar
from snn_dfa.engine.backends import PerturbedSynapses
from snn_dfa.engine.losses import Loss, loss_and_grad
from snn_dfa.engine.models import build_model
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.engine.optim import Optimizer, make_optimizer
from snn_dfa.errors import NotFittedError, ValidationError
from snn_dfa.rules.learning import Rule, make_rule


@contextlib.contextmanager
def perturbed_weights(net: SpikingNetwork,
                      perturb: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None,
                      rng: np.random.Generator) -> Iterator[None]:
    """Within the block every synaptic layer reads through :class:`PerturbedSynapses`
    (nothing changes when ``perturb`` is None)."""
    if perturb is None:
        yield
        return
    layers = [net.layers[i] for i in net.synaptic_layers]
    saved = [layer.synapses for layer in layers]  # type: ignore[attr-defined]  # synaptic layers
    for layer, syn in zip(layers, saved):
        layer.synapses = PerturbedSynapses(syn, perturb, rng)  # type: ignore[attr-defined]  # synaptic
    try:
        yield
    finally:
        for layer, syn in zip(layers, saved):
            layer.synapses = syn  # type: ignore[attr-defined]  # synaptic layers only


class SpikingClassifier:
    """Train a spiking network with surrogate-gradient BPTT or Direct Feedback Alignment.

    Parameters
    ----------
    model : str
        A name in :data:`snn_dfa.engine.models.MODELS` (``"sfcn"``, ``"mlp"``).
    model_params : dict, optional
        Keyword arguments of the model builder (e.g. ``{"channels": (16, 32)}``).
    epochs : int
        Passes over the data in ``fit``.
    batch_size : int
    optimizer : {"adam", "sgd"}
    lr : float
        Learning rate.
    momentum : float
        SGD momentum (ignored by Adam).
    clip_norm : float, optional
        Clip the global update norm.
    loss : {"cross_entropy", "spike_count_mse"}
    rule : str
        A registered learning rule (:mod:`snn_dfa.rules.registry`): "bp" (alias "bptt"), "dfa",
        "sfdfa" or "shallow" (trains the output layer only).
    feedback : dict, optional
        DFA feedback options: ``distribution`` ("uniform"/"gaussian"), ``scaling``
        ("none"/"fan"/"classes"), ``shared`` (bool); SFDFA: ``feedback_lr``.
    seed : int, Generator or None
        One seed drives initialisation and shuffling: the same seed gives identical weights.
    verbose : bool
        Show a progress bar.
    weight_noise : callable, optional
        Hardware-aware training: ``weight_noise(W, rng) -> W~`` perturbs each synaptic
        layer's weights afresh at every training forward pass (the hardware's weight error,
        e.g. ``snn_dfa.app.hardware.chip_weight_noise``); the pass and its backward reads
        use ``W~``, the updates go to the clean weights (straight through).  Inference and
        the fitted network use the clean weights.

    Attributes
    ----------
    network_ : SpikingNetwork
    rule_ : the learning rule (its feedback matrices are ``rule_.projector.matrices``)
    classes_ : array [n_classes]
    loss_curve_ : list of float
        Mean training loss per epoch (``fit``) or per call (``partial_fit``).
    """

    def __init__(self, model: str = "sfcn", model_params: dict[str, Any] | None = None,
                 epochs: int = 10, batch_size: int = 64, optimizer: str = "adam",
                 lr: float = 1e-3, momentum: float = 0.0, clip_norm: float | None = None,
                 loss: str = "cross_entropy", rule: str = "bp",
                 feedback: dict[str, Any] | None = None, seed: SeedLike = 0,
                 verbose: bool = False,
                 weight_noise: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None
                 = None) -> None:
        self.model = model
        self.model_params = model_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.clip_norm = clip_norm
        self.loss = loss
        self.rule = rule
        self.feedback = feedback
        self.seed = seed
        self.verbose = verbose
        self.weight_noise = weight_noise

    # -- validation -------------------------------------------------------------------
    def _check_X(self, X: Any) -> np.ndarray:
        arr = check_array("X", X, ndim=3, dtype=np.float32)
        if arr.shape[0] == 0:
            raise ValidationError("X: expected at least one sample, got 0")
        if hasattr(self, "network_"):
            steps, n_in = self.n_steps_, self.network_.n_in
            if arr.shape[1:] != (steps, n_in):
                raise ValidationError(
                    f"X: expected windows of shape (N, {steps}, {n_in}) as in fit, got {arr.shape}"
                )
        return arr

    def _check_y(self, y: Any, n: int) -> np.ndarray:
        arr = np.asarray(y)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ValidationError(f"y: expected shape ({n},), got {arr.shape}")
        return arr

    def _encode(self, y: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        bad = self.classes_[idx] != y
        if bad.any():
            raise ValidationError(
                f"y: label {y[bad][0].item()!r} is not among the classes "
                f"{self.classes_.tolist()}"
            )
        return idx

    def _setup(self, X: np.ndarray, classes: np.ndarray) -> None:
        check_scalar("epochs", self.epochs, int, low=0)
        check_scalar("batch_size", self.batch_size, int, low=1)
        self.loss_ = Loss.coerce(self.loss)
        if len(classes) < 2:
            raise ValidationError(f"y: expected at least 2 classes, got {classes.tolist()}")
        self.classes_ = classes
        self._rng = check_random_state(self.seed)
        self.n_steps_ = X.shape[1]
        self.network_: SpikingNetwork = build_model(
            self.model, X.shape[2], len(classes), X.shape[1], self.model_params, self._rng)
        self.rule_: Rule = make_rule(self.rule, self.network_, self._rng, **(self.feedback or {}))
        kwargs: dict[str, Any] = {"lr": self.lr, "clip_norm": self.clip_norm}
        if self.optimizer == "sgd":
            kwargs["momentum"] = self.momentum
        self.optimizer_: Optimizer = make_optimizer(self.optimizer, **kwargs)
        self.loss_curve_: list[float] = []

    # -- learning ---------------------------------------------------------------------
    def _train_batch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """One update of the rule on ``xb [B, T, C]`` with encoded labels ``yb [B]``."""
        net = self.network_
        net.train(True)
        with perturbed_weights(net, self.weight_noise, self._rng):
            z, trace = net.forward(np.ascontiguousarray(xb.transpose(1, 0, 2)), record=True)
            value, grad_z = loss_and_grad(z, yb, self.loss_)
            net.apply_updates(self.optimizer_.step(self.rule_.gradients(net, trace, grad_z)))
        return value

    def fit(self, X: Any, y: Any,
            on_epoch: Callable[[int, float], None] | None = None) -> SpikingClassifier:
        """Train from scratch on ``X [N, T, C]``, ``y [N]``.

        ``on_epoch(epoch, mean_loss)`` is called after each epoch (``epoch`` from 1), e.g. to
        report progress.
        """
        for attr in ("network_", "classes_"):
            self.__dict__.pop(attr, None)
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        self._setup(X, np.unique(y))
        yi = self._encode(y)
        bar = tqdm(range(self.epochs), disable=not self.verbose, desc="fit", unit="epoch")
        for _ in bar:
            order = self._rng.permutation(X.shape[0])
            losses = []
            for start in range(0, X.shape[0], self.batch_size):
                idx = order[start:start + self.batch_size]
                losses.append(self._train_batch(X[idx], yi[idx]) * len(idx))
            self.loss_curve_.append(float(np.sum(losses) / X.shape[0]))
            bar.set_postfix(loss=self.loss_curve_[-1])
            if on_epoch is not None:
                on_epoch(len(self.loss_curve_), self.loss_curve_[-1])
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> SpikingClassifier:
        """One update on the batch ``X [B, T, C]`` (streaming).  ``classes`` is required on
        the first call, as in scikit-learn."""
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        if not hasattr(self, "network_"):
            if classes is None:
                raise ValidationError("classes: required on the first call to partial_fit")
            self._setup(X, np.unique(np.asarray(classes)))
        self.loss_curve_.append(self._train_batch(X, self._encode(y)))
        return self

    # -- inference --------------------------------------------------------------------
    def _require_fitted(self) -> SpikingNetwork:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                "this SpikingClassifier is not fitted yet: call fit or partial_fit first")
        return self.network_

    def decision_function(self, X: Any) -> np.ndarray:
        """Readout ``z [N, n_classes]`` (evaluation mode, batched)."""
        net = self._require_fitted()
        X = self._check_X(X)
        net.train(False)
        out = [net.forward(np.ascontiguousarray(X[s:s + 256].transpose(1, 0, 2)))[0]
               for s in range(0, X.shape[0], 256)]
        return np.concatenate(out)

    def predict_proba(self, X: Any) -> np.ndarray:
        z = self.decision_function(X).astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        z = self.decision_function(X)
        return self.classes_[np.argmax(z, axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on ``X``, ``y``."""
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        return float(np.mean(self.predict(X) == y))
