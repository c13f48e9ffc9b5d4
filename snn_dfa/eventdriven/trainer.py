"""Training loop of event-driven networks with SFDFA or random-feedback DFA.

Per batch (the order of the public code of Bacho & Chu 2024, arXiv 2403.08804,
Florian-BACHO/SFDFA): forward pass with perturbations, traces and tangents -> update the
feedback matrices (SFDFA) -> update the weights with Adam.

* Output layer: ``delta = e = target - counts`` (its exact local gradient).
* Hidden layer ``l``: ``delta = e @ B_l.T + lam (r* - mean_batch counts_l)``.
* Weight gradient ``g_ij = mean_b elig_bij delta_bi`` with ``elig = sum_m dt_im/dw_ij``;
  Adam descends ``g`` (a positive error asks for earlier, i.e. more, spikes).

Weights live behind :class:`snn_dfa.engine.backends.SynapseBackend` (ideal :class:`DenseSynapses`
here) and feedback behind :class:`snn_dfa.rules.feedback.FeedbackProjector` (the projectors
the clock-driven rules use), so a crossbar backend can replace either; Adam is the engine's
:class:`snn_dfa.engine.optim.Adam`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from snn_dfa._validation import (
    SeedLike,
    check_array,
    check_choice,
    check_random_state,
    check_scalar,
)
from snn_dfa.engine.backends import DenseSynapses, SynapseBackend
from snn_dfa.engine.optim import Adam
from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven.feedback import draw_perturbation, output_directional_derivative
from snn_dfa.eventdriven.gradients import weight_gradient
from snn_dfa.eventdriven.loss import ERROR_MODES, CountTargets, hidden_error, spike_count_loss
from snn_dfa.eventdriven.neuron import VARIANTS, LIFParams, SpikeBuffer, simulate_layer
from snn_dfa.rules import registry
from snn_dfa.rules.feedback import LearnedFeedback, RandomFeedback

#: the rules this trainer runs: those of the registry that keep a feedback projector (learned
#: feedback: SFDFA; fixed random feedback: DFA)
RULES = tuple(spec.name for spec in registry.rules() if spec.feedback in ("random", "learned"))


def _learned(rule: str) -> bool:
    return registry.get_rule(rule).feedback == "learned"


@dataclass(frozen=True)
class SFDFAConfig:
    """Network and training settings.  Defaults: the authors' Fashion-MNIST SFDFA run
    (the public code of Bacho & Chu 2024, arXiv 2403.08804, Florian-BACHO/SFDFA):
    784-400-400-10, tau_s 0.13 s, T 0.2 s, thresholds 0.2 / 0.7, Adam lr 3e-3, lr_B 1e-4,
    batch 50, regulariser 0.3 / 0.4, U(-1, 1) weights.

    Attributes
    ----------
    hidden_sizes : tuple of int
    rule : {"sfdfa", "dfa"}
    hidden, output : LIFParams
        Neuron parameters of the hidden layers and of the output layer.
    lr : float
        Adam step size (beta1 0.9, beta2 0.999, eps 1e-8).
    lr_feedback : float
        Moving-average step of the learned feedback (SFDFA only).
    reg_strength, reg_target : float
        Firing-rate regulariser ``lam`` and target ``r*`` (spikes per neuron and sample).
    batch_size : int
    weight_scale : float
        Initial weights ``U(-weight_scale, weight_scale)``; DFA feedback uses the same range.
    targets : CountTargets
    error_mode : {"add", "replace"}
        ``"add"``: hidden error = feedback error + regulariser (the method);
        ``"replace"``: the regulariser alone, as in the authors' published code.
    denominator : {"exact", "published"}
        Eligibility denominator ``a - c x^2`` (exact) or ``a`` (the published kernel).
    tangent : {"exact", "published"}
        Exact forward tangents or the published kernel's stand-in (SFDFA only); see
        :func:`snn_dfa.eventdriven.neuron.simulate_layer`.
    """

    hidden_sizes: tuple[int, ...] = (400, 400)
    rule: str = "sfdfa"
    hidden: LIFParams = field(default_factory=lambda: LIFParams(threshold_hat=0.2))
    output: LIFParams = field(default_factory=lambda: LIFParams(threshold_hat=0.7))
    lr: float = 3e-3
    lr_feedback: float = 1e-4
    reg_strength: float = 0.3
    reg_target: float = 0.4
    batch_size: int = 50
    weight_scale: float = 1.0
    targets: CountTargets = field(default_factory=CountTargets)
    error_mode: str = "add"
    denominator: str = "exact"
    tangent: str = "exact"

    def __post_init__(self) -> None:
        check_choice("rule", self.rule, RULES)
        check_choice("error_mode", self.error_mode, ERROR_MODES)
        check_choice("denominator", self.denominator, VARIANTS)
        check_choice("tangent", self.tangent, VARIANTS)
        if not self.hidden_sizes:
            raise ValidationError("hidden_sizes: expected at least one hidden layer, got ()")
        for k, n in enumerate(self.hidden_sizes):
            check_scalar(f"hidden_sizes[{k}]", n, int, low=1)
        for name in ("hidden", "output"):
            if not isinstance(getattr(self, name), LIFParams):
                raise ValidationError(f"{name}: expected LIFParams")
        check_scalar("lr", self.lr, (int, float), low=0.0, low_inclusive=False)
        check_scalar("lr_feedback", self.lr_feedback, (int, float), low=0.0, high=1.0,
                     low_inclusive=False)
        check_scalar("reg_strength", self.reg_strength, (int, float), low=0.0)
        check_scalar("reg_target", self.reg_target, (int, float), low=0.0)
        check_scalar("batch_size", self.batch_size, int, low=1)
        check_scalar("weight_scale", self.weight_scale, (int, float), low=0.0,
                     low_inclusive=False)


def fashion_mnist_config(rule: str = "sfdfa", **overrides) -> SFDFAConfig:
    """The authors' Fashion-MNIST settings for ``rule`` (the authors' SFDFA code): the regulariser
    is 0.3 / 0.4 for SFDFA and 1.0 / 0.4 for DFA; everything else is shared."""
    check_choice("rule", rule, RULES)
    base = SFDFAConfig(rule=rule, reg_strength=0.3 if _learned(rule) else 1.0,
                       reg_target=0.4)
    return replace(base, **overrides)


#: the published code's behaviours, each switchable alone or all together (docs/sfdfa.md §3,
#: §5): config overrides by name; ``"published"`` is what the authors' scripts run
PUBLISHED_VARIANTS: dict[str, dict[str, str]] = {
    "exact": {},
    "replace-error": {"error_mode": "replace"},
    "standin-tangent": {"tangent": "published"},
    "public-denominator": {"denominator": "published"},
    "published": {"error_mode": "replace", "tangent": "published",
                  "denominator": "published"},
}


def take(inputs: SpikeBuffer, index: np.ndarray) -> SpikeBuffer:
    """The samples ``index`` of a buffer, trimmed to the largest count among them."""
    counts = inputs.counts[index]
    k = max(int(counts.max()) if counts.size else 0, 1)
    tan = None if inputs.tangents is None else inputs.tangents[index, :, :k]
    return SpikeBuffer(np.ascontiguousarray(inputs.times_s[index, :, :k]), counts, tan)


class SFDFATrainer:
    """An event-driven LIF network trained online with SFDFA or random-feedback DFA.

    Parameters
    ----------
    n_inputs, n_classes : int
    config : SFDFAConfig
    random_state : int, Generator or None
        Seeds everything: weights, DFA feedback, perturbations and batch order.
    synapses : sequence of SynapseBackend or None
        One backend per layer (``[n_out, n_in]`` each), e.g. crossbar-held weights; by
        default ideal :class:`DenseSynapses` initialised ``U(-weight_scale, weight_scale)``.
        The kernels read ``get_weights()`` and learning calls ``apply_update(dW)``.

    Attributes
    ----------
    synapses_ : list of SynapseBackend
        One backend per layer, weights ``[n_out, n_in]``.
    feedback_ : LearnedFeedback or RandomFeedback
    """

    def __init__(self, n_inputs: int, n_classes: int, config: SFDFAConfig | None = None,
                 random_state: SeedLike = None,
                 synapses: Sequence[SynapseBackend] | None = None) -> None:
        check_scalar("n_inputs", n_inputs, int, low=1)
        check_scalar("n_classes", n_classes, int, low=2)
        self.config = config if config is not None else SFDFAConfig()
        if not isinstance(self.config, SFDFAConfig):
            raise ValidationError(f"config: expected SFDFAConfig, got {type(config).__name__}")
        self.n_inputs, self.n_classes = n_inputs, n_classes
        self._rng = check_random_state(random_state)
        cfg = self.config
        shapes = [(n_out, n_in) for n_in, n_out in
                  itertools.pairwise([n_inputs, *cfg.hidden_sizes, n_classes])]
        if synapses is None:
            self.synapses_: list[SynapseBackend] = [
                DenseSynapses(self._rng.uniform(-cfg.weight_scale, cfg.weight_scale, shape),
                              dtype=np.float64)
                for shape in shapes]
        else:
            self.synapses_ = list(synapses)
            got = [tuple(getattr(s, "shape", ())) if isinstance(s, SynapseBackend) else None
                   for s in self.synapses_]
            if got != shapes:
                raise ValidationError(
                    f"synapses: expected SynapseBackend objects of shapes {shapes}, got {got}")
        if _learned(cfg.rule):
            self.feedback_: LearnedFeedback | RandomFeedback = LearnedFeedback(
                cfg.hidden_sizes, n_classes, lr=cfg.lr_feedback, dtype=np.float64)
        else:
            self.feedback_ = RandomFeedback(cfg.hidden_sizes, n_classes, "uniform",
                                            scaling=cfg.weight_scale, seed=self._rng,
                                            dtype=np.float64)
        self._adam = Adam(cfg.lr)

    def _params(self, layer: int) -> LIFParams:
        return self.config.output if layer == len(self.synapses_) - 1 else self.config.hidden

    def _check_inputs(self, inputs: SpikeBuffer, labels: np.ndarray | None) -> np.ndarray | None:
        if not isinstance(inputs, SpikeBuffer):
            raise ValidationError(f"inputs: expected a SpikeBuffer, got {type(inputs).__name__}")
        if inputs.shape[1] != self.n_inputs:
            raise ValidationError(
                f"inputs: expected {self.n_inputs} channels, got {inputs.shape[1]}")
        if labels is None:
            return None
        return check_array("labels", labels, shape=(inputs.shape[0],), dtype=np.int64)

    def forward(self, inputs: SpikeBuffer) -> list[SpikeBuffer]:
        """Spike trains of every layer (no learning), ``[B, n_l, K]`` each."""
        self._check_inputs(inputs, None)
        out, x = [], inputs
        for layer, syn in enumerate(self.synapses_):
            x = simulate_layer(x, syn.get_weights(), self._params(layer)).spikes
            out.append(x)
        return out

    def partial_fit(self, inputs: SpikeBuffer, labels: np.ndarray) -> dict[str, float]:
        """One learning step on one batch; returns its loss and accuracy."""
        y = self._check_inputs(inputs, labels)
        assert y is not None  # labels were given
        cfg = self.config
        sfdfa = _learned(cfg.rule)
        n_layers = len(self.synapses_)
        batch = inputs.shape[0]
        x = inputs
        eligs, counts, perts = [], [], []
        for layer, syn in enumerate(self.synapses_):
            hidden = layer < n_layers - 1
            pert = draw_perturbation(self._rng, batch, syn.shape[0]) if sfdfa and hidden \
                else None
            out = simulate_layer(x, syn.get_weights(), self._params(layer), perturbation=pert,
                                 track_tangents=sfdfa and layer > 0, eligibility=True,
                                 denominator=cfg.denominator, tangent=cfg.tangent)
            x = out.spikes
            assert out.eligibility_rows is not None  # asked for above
            eligs.append(out.eligibility_rows)
            counts.append(x.counts)
            perts.append(pert)
        loss, err = spike_count_loss(counts[-1], y, cfg.targets)
        if sfdfa:
            dv = output_directional_derivative(x)
            learned = self.feedback_
            assert isinstance(learned, LearnedFeedback)
            for layer in range(n_layers - 1):
                pert = perts[layer]
                assert pert is not None  # drawn for every hidden layer under SFDFA
                learned.update(layer, pert, dv, counts[layer] > 0)
        grads = []
        for layer in range(n_layers):
            if layer == n_layers - 1:
                delta = err
            else:
                delta = hidden_error(self.feedback_.project(layer, err), counts[layer],
                                     cfg.reg_strength, cfg.reg_target, cfg.error_mode)
            grads.append({"weight": weight_gradient(eligs[layer], delta)})
        for syn, update in zip(self.synapses_, self._adam.step(grads)):
            syn.apply_update(update["weight"])
        acc = float((counts[-1].argmax(axis=1) == y).mean())
        return {"loss": loss, "accuracy": acc,
                "hidden_rate": float(np.mean([c.mean() for c in counts[:-1]]))}

    def fit(self, inputs: SpikeBuffer, labels: np.ndarray, epochs: int = 1,
            callback: Callable[[int, int, dict[str, float]], None] | None = None
            ) -> SFDFATrainer:
        """Train for ``epochs`` passes over shuffled batches.

        ``callback(epoch, batch_index, metrics)`` is called after each batch.
        """
        y = self._check_inputs(inputs, labels)
        assert y is not None
        check_scalar("epochs", epochs, int, low=1)
        n = y.size
        bs = self.config.batch_size
        for epoch in range(epochs):
            order = self._rng.permutation(n)
            for k, start in enumerate(range(0, n, bs)):
                idx = order[start:start + bs]
                metrics = self.partial_fit(take(inputs, idx), y[idx])
                if callback is not None:
                    callback(epoch, k, metrics)
        return self

    def predict(self, inputs: SpikeBuffer, batch_size: int = 500) -> np.ndarray:
        """Class with the most output spikes (ties: lowest index), int64 ``[B]``."""
        self._check_inputs(inputs, None)
        check_scalar("batch_size", batch_size, int, low=1)
        n = inputs.shape[0]
        pred = np.empty(n, np.int64)
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            pred[idx] = self.forward(take(inputs, idx))[-1].counts.argmax(axis=1)
        return pred

    def score(self, inputs: SpikeBuffer, labels: np.ndarray, batch_size: int = 500) -> float:
        """Accuracy of :meth:`predict`."""
        y = self._check_inputs(inputs, labels)
        return float((self.predict(inputs, batch_size) == y).mean())

    @property
    def weights_(self) -> list[np.ndarray]:
        """Copies of the weights, ``[n_out, n_in]`` per layer."""
        return [s.get_weights() for s in self.synapses_]
