"""73 — A character-level Transformer trained by DFA through a simulated optical co-processor.

Wang et al. (arXiv 2409.12965, 2024) train Transformers optically: the output error,
ternarised, is projected by an optical processing unit (OPU) to every feedback point; they
report good results for models beyond a billion parameters and argue that optics wins for very
deep and wide networks.  This experiment puts the simulated OPU of ``snn_dfa.rules.optical``
(8-bit camera, shot noise, holographic linear mode, four frames per token) in place of the
digital projection of example 52's Transformer and compares, on Tiny Shakespeare, the
validation loss (nats/char) of

* ``bp``: backpropagation (reference),
* ``dfa``: exact DFA, macro scheme (one feedback point per block),
* ``dfa_ternary``: DFA with the error ternarised at the threshold the OPU uses,
* ``optical``: the OPU as the projector (the ``[optical]`` defaults: 8-bit camera, 1000
  photons per unit intensity, threshold 0.25),

every DFA variant with the **same feedback matrix** (the OPU's effective real matrix for the
seed), so the differences are the ternarisation and the optics.  A diagnostic pair,
``dfa_ternary_centred`` and ``optical_centred``, subtracts from every feedback signal its mean
over the step's tokens (see :class:`Centred`): it tests why the ternarised error fails here.
Paired differences over seeds with ``snn_dfa.stats``.

Example 52's model (2 pre-LN blocks, d = 64, 4 heads, context 64, batch 16 windows, Adam
lr 1e-3) for the CPU budget reduced to 400 steps (52: 600) and 2 seeds (52: 3): about 15
CPU-minutes on one thread.  Validation: 200 windows of the last 10 % of the corpus.

Usage::

    nice -n 19 python examples/73_optical_transformer.py          # full run (resumable)
    python examples/73_optical_transformer.py --quick --out /tmp/q73  # seconds

Writes one JSON per run and ``results.json`` to ``--out`` (default
``runs/73_optical_transformer``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from snn_dfa import stats
from snn_dfa.data import encode_characters, load_tiny_shakespeare, unigram_entropy_nats
from snn_dfa.deep import DFA, FixedProjector, Mode
from snn_dfa.deep.models import CharTransformer
from snn_dfa.deep.optical import OpticalProjector
from snn_dfa.deep.projectors import Shape
from snn_dfa.deep.train import cached_run, fit_lm, lm_batch, mean_std, seeded
from snn_dfa.rules import optical

SEEDS = (0, 1)
METHODS = ("bp", "dfa", "dfa_ternary", "optical", "dfa_ternary_centred", "optical_centred")
FULL = {"steps": 400, "eval_every": 100, "d": 64, "layers": 2, "context": 64, "batch": 16}
QUICK = {"steps": 6, "eval_every": 3, "d": 16, "layers": 1, "context": 16, "batch": 4}
LR = 1e-3  # Adam, as example 52 [assumption: nanoGPT's small-model default]
CAMERA = optical.camera_from(optical.PHOTONS_PER_UNIT, optical.BIT_DEPTH, optical.FULL_SCALE)


class OpuMatrixProjector(FixedProjector):
    """Digital feedback with the OPU's effective matrix: the matrix of the same device
    (``seed``) that :class:`OpticalProjector` would build for these points."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def build(self, shapes: Sequence[Shape], n_out: int) -> None:
        reference = OpticalProjector(optical.THRESHOLD, optical.Camera(bit_depth=None),
                                     seed=self.seed)
        reference.build(shapes, n_out)
        self._given = reference.matrices
        super().build(shapes, n_out)


class Centred:
    """A diagnostic, not a method of the papers: ``inner``'s signals minus their mean over the
    step's tokens (electronics after the OPU), which removes what every token receives alike.
    A ternarised error is mostly ``-1`` at the true class alone, so its projection carries a
    shared ``-B p_labels`` drift that an exact error (summing to zero over classes) lacks."""

    def __init__(self, inner: OpuMatrixProjector | OpticalProjector) -> None:
        self.inner = inner

    def build(self, shapes: Sequence[Shape], n_out: int) -> None:
        self.inner.build(shapes, n_out)

    def project(self, e: torch.Tensor) -> list[torch.Tensor]:
        return [p - p.mean(0, keepdim=True) for p in self.inner.project(e)]

    @property
    def matrices(self) -> list[torch.Tensor]:
        return self.inner.matrices

    @property
    def feedback(self) -> object:
        return self.inner.feedback  # type: ignore[union-attr]  # the OPU's, for its frames


def make_dfa(method: str, seed: int) -> DFA:
    if method == "bp":
        return DFA(mode=Mode.BP)
    if method.startswith("optical"):
        opu = OpticalProjector(optical.THRESHOLD, CAMERA, seed=seed)
        return DFA(Centred(opu) if method.endswith("centred") else opu)
    ternary = optical.THRESHOLD if method.startswith("dfa_ternary") else None
    fixed = OpuMatrixProjector(seed)
    return DFA(Centred(fixed) if method.endswith("centred") else fixed, ternarise=ternary)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/73_optical_transformer"))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="methods to run and summarise (the first four are the comparison)")
    args = parser.parse_args(argv)
    methods = tuple(args.methods)
    torch.set_num_threads(1)
    cfg = QUICK if args.quick else FULL
    seeds = SEEDS[:1] if args.quick else SEEDS
    corpus = load_tiny_shakespeare()
    train_np, val_np, alphabet = encode_characters(corpus)
    train, val = torch.as_tensor(train_np), torch.as_tensor(val_np)
    if args.quick:
        val = val[:2000]

    def run(method: str, seed: int) -> dict:
        dfa = make_dfa(method, seed)
        with seeded(seed):
            model = CharTransformer(len(alphabet), dfa, d=cfg["d"], heads=4,
                                    layers=cfg["layers"], context=cfg["context"], scheme="macro")
        res = fit_lm(model, dfa, train, val, steps=cfg["steps"], batch_size=cfg["batch"],
                     context=cfg["context"], lr=LR, eval_every=cfg["eval_every"], seed=seed)
        res.update(method=method, seed=seed, config=cfg)
        if method.startswith("optical"):
            # the frame counter over one more training step's backward pass (not applied;
            # the counter's total also holds the calibration and the alignment probes)
            fb = dfa.projector.feedback  # type: ignore[attr-defined]  # an OpticalProjector
            xb, yb = lm_batch(train, cfg["batch"], cfg["context"],
                              torch.Generator().manual_seed(seed))
            before = fb.frames
            F.cross_entropy(model(xb).flatten(0, 1), yb.flatten()).backward()
            per_step = fb.frames - before
            res.update(frames_total=fb.frames, frames_per_step=per_step,
                       frames_per_token=per_step / (cfg["batch"] * cfg["context"]),
                       opu_seconds_per_step=per_step / fb.opu.frame_rate_hz,
                       pixels=int(sum(fb.sizes)), mirrors=int(fb.opu.n_mirrors))
        return res

    summary: dict = {"unigram_entropy_nats": unigram_entropy_nats(corpus), "config": cfg,
                     "seeds": list(seeds), "threshold": optical.THRESHOLD,
                     "camera": {"photons_per_unit": CAMERA.photons_per_unit,
                                "bit_depth": CAMERA.bit_depth, "full_scale": CAMERA.full_scale}}
    runs = {m: [cached_run(args.out, f"{m}_s{s}", lambda m=m, s=s: run(m, s)) for s in seeds]
            for m in methods}
    for method, rs in runs.items():
        loss = mean_std([r["val_loss"] for r in rs])
        summary[method] = {
            "val_loss_nats": loss[0], "val_loss_nats_std": loss[1],
            "val_loss_by_seed": [r["val_loss"] for r in rs],
            "eval_steps": [e["step"] for e in rs[0]["evals"]],
            "val_loss_by_eval": [mean_std([r["evals"][i]["val_loss"] for r in rs])[0]
                                 for i in range(len(rs[0]["evals"]))],
            "final_update_cosine": {k: mean_std([r["evals"][-1]["alignment"][k] for r in rs])[0]
                                    for k in rs[0]["evals"][-1]["alignment"]},
            "step_ms": mean_std([r["step_ms"] for r in rs])[0]}
        if method.startswith("optical"):
            summary[method] |= {k: rs[0][k] for k in ("frames_per_token", "frames_per_step",
                                                      "opu_seconds_per_step", "pixels",
                                                      "mirrors")}
        print(f"{method:12s} val {loss[0]:.3f} ± {loss[1]:.3f} nats/char "
              f"(unigram {summary['unigram_entropy_nats']:.2f})")
    if len(seeds) > 1:  # paired over seeds (same data order, init and matrix): a - b
        pairs = {}
        for a, b in (("optical", "dfa_ternary"), ("optical", "dfa"), ("dfa_ternary", "dfa"),
                     ("dfa", "bp"), ("dfa_ternary_centred", "dfa_ternary"),
                     ("optical_centred", "dfa_ternary_centred"),
                     ("dfa_ternary_centred", "dfa")):
            if a not in runs or b not in runs:
                continue
            diffs = [ra["val_loss"] - rb["val_loss"] for ra, rb in zip(runs[a], runs[b])]
            iv = stats.t_interval(diffs)
            pairs[f"{a}-{b}"] = {"mean": iv.mean, "low": iv.low, "high": iv.high,
                                 "level": iv.level, "by_seed": diffs}
            print(f"{a} - {b}: {iv.format(digits=3)} nats/char (95 % t, {len(diffs)} seeds)")
        summary["paired_loss_differences"] = pairs
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(summary, indent=1))
    plot_curves(summary, methods, args.out / "val_loss.png")
    return summary


def plot_curves(summary: dict, methods: Sequence[str], path: Path) -> None:
    """Validation loss against step, mean over seeds, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for method in methods:
        ax.plot(summary[method]["eval_steps"], summary[method]["val_loss_by_eval"], marker="o",
                label=method, linestyle="--" if "centred" in method else "-")
    ax.axhline(summary["unigram_entropy_nats"], color="grey", linewidth=0.8,
               label="unigram entropy")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_title(f"Tiny Shakespeare, mean of {len(summary['seeds'])} seed(s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
