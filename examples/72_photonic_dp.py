"""72 — Photonic differential privacy with DFA (Ohana et al. 2021), the shape of their Figure 2.

A Fashion-MNIST tanh MLP 784-256-256-10 with bounded activations
(``snn_dfa.deep.photonic_dp.bounded_activation``) trained on the same Poisson-sampled batches by

* ``bp``: backpropagation;
* ``dfa``: exact DFA through the OPU's effective real feedback matrix (``OPU.linear_matrix``);
* ``pdfa`` at several noise levels: photonic DFA, the ternarised error projected by the
  simulated OPU (8-bit camera, ``DATA_PHOTONS`` photons per unit intensity of shot noise),
  each example's projection clipped to norm ``tau_f`` (``ProjectionClip``), and the Gaussian
  mechanism of ``PhotonicDPDFA`` with noise multiplier ``z`` calibrated for the target ε at
  δ = ``DELTA`` (``snn_dfa.privacy.noise_multiplier_for``); ε = inf is the photonic path with
  its clip and no privacy noise;
* ``pdfa_datapath``: the photonic path with Gaussian noise of std ``DATAPATH_SIGMA`` per entry
  added to each example's clipped projection, the noise the paper's analysis counts (the default
  of UnchartedRLab/SSP, a TinyDFA fork with the paper's parameter names: ``10 σ/sqrt(d_fb)``
  with σ = 0.2 and d_fb = 512 units); trained without
  ``PhotonicDPDFA``: no ε, because that noise alone gives no guarantee (docs/privacy.md), shown
  to separate what the two noise placements do to accuracy and alignment;
* ``pdfa_opu`` (``--opu-noise``, seed 0, ε = 2 only: 4 minutes of CPU): ``pdfa`` with the
  privacy noise taken from the simulated OPU's dark frames (``noise_source="opu"``, ``OPU_PHOTONS``
  photons per unit intensity and a digital gain) instead of digital Gaussian draws.

Reported per run: test accuracy, ε spent (the mechanism's accountant), ``z``, the photon budget
at which the OPU's dark-frame shot noise alone is the mechanism's noise (``1/(4 z² Δ²)``
photons per unit intensity; the training draws the same Gaussian law digitally, see
tests/test_photonic_dp.py for the OPU source), and after every epoch the cosine between the
method's layer-2 update (the second hidden layer's weights; noise included for ``pdfa``) and
the BP gradient on a fixed probe batch of ``EXPECTED_BATCH`` training images.

Settings [assumption unless sourced]: inputs scaled to [0, 1] and each image normalised to norm
``tau_x = 1``; ``tau_h_min = 1e-6``, ``tau_h_max = 1``, ``tau_f = 1`` (UnchartedRLab/SSP's
defaults); ``tau_e = sqrt(2)`` (always holds); no biases
(a bias's constant input 1 would raise the sensitivity by sqrt(2)); expected batch 256 of
60 000 (q = 256/60 000), ``EPOCHS`` epochs; SGD with momentum 0.9, learning rate ``LR`` (the
best of ``TUNE_LRS`` on seed 0 after one epoch, ``--tune``); ternarisation threshold 0.25
(examples/70's).

Resumable: each finished run is one line of ``runs.jsonl`` in ``--out``; a rerun skips it.
Run::

    nice -n 19 python examples/72_photonic_dp.py --out reports/experiments/72_photonic_dp
    python examples/72_photonic_dp.py --quick --out /tmp/q        (seconds)
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from snn_dfa.data import load_fashion_mnist
from snn_dfa.deep import DFA, FixedProjector, Mode
from snn_dfa.deep.optical import OpticalProjector
from snn_dfa.deep.photonic_dp import PhotonicDPDFA, ProjectionClip, bounded_activation
from snn_dfa.deep.privacy import poisson_batch
from snn_dfa.privacy import noise_multiplier_for
from snn_dfa.rules.optical import OPU, Camera

DELTA = 1e-5
SIZES = (784, 256, 256, 10)
EPOCHS = 5
EXPECTED_BATCH = 256
SEEDS = (0, 1, 2)
#: target ε of the photonic levels (inf: no privacy noise)
EPSILONS = (math.inf, 8.0, 2.0, 0.5)
TAU = {"tau_x": 1.0, "tau_h_min": 1e-6, "tau_h_max": 1.0, "tau_f": 1.0}
MOMENTUM = 0.9
LR = {"bp": 0.5, "dfa": 0.5, "pdfa": 0.5, "pdfa_datapath": 0.5}
TUNE_LRS = (0.1, 0.5, 2.0)
THRESHOLD = 0.25
#: shot noise of the data frames [assumption]: it buys no privacy here (docs/privacy.md), and an
#: example with a zero ternary error still sends two dark frames whose noise the clip scales up
#: to tau_f at 100 photons (norm ~1); at 1000 it is ~0.3
DATA_PHOTONS = 1000.0
PROBE_DRAWS = 3
DATAPATH_SIGMA = 10 * 0.2 / math.sqrt(512)
#: photon budget of the dark frames of ``pdfa_opu`` [assumption: enough for the Gaussian model
#: on every noise pixel; the gain restores σ]
OPU_PHOTONS = 1000.0
QUICK = {"n_train": 2000, "n_test": 500, "epochs": 1, "seeds": (0,),
         "epsilons": (math.inf, 8.0), "expected_batch": 64}


def load(n_train: int | None, n_test: int | None):
    """Flattened images in [0, 1], each scaled to norm tau_x (the first ``n`` of each split)."""
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        data = load_fashion_mnist(split=split)
        x = torch.tensor(data.X[:n].reshape(-1, 784) / 255.0, dtype=torch.float32)
        x = TAU["tau_x"] * x / x.norm(dim=1, keepdim=True)
        out.append((x, torch.tensor(data.y[:n])))
    return out


class NoisyProjection:
    """A projector wrapper adding ``N(0, sigma²)`` to every entry of each example's projection
    (the per-example scale; the incoming gradient carries ``1/M``)."""

    def __init__(self, inner, sigma: float, seed: int) -> None:
        self.inner, self.sigma = inner, sigma
        self.generator = torch.Generator().manual_seed(seed)

    def build(self, shapes, n_out: int) -> None:
        self.inner.build(shapes, n_out)

    def project(self, e: torch.Tensor) -> list[torch.Tensor]:
        m = e.shape[0]
        return [p + self.sigma / m * torch.randn(p.shape, generator=self.generator)
                for p in self.inner.project(e)]


def build(method: str, seed: int):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(SIZES)]
    n_hidden = sum(SIZES[1:-1])
    if method == "bp":
        dfa = DFA(mode=Mode.BP)
    elif method == "dfa":
        b_full = OPU(SIZES[-1], n_hidden, camera=Camera(bit_depth=None), seed=seed).linear_matrix.T
        dfa = DFA(FixedProjector([b_full[:SIZES[1]], b_full[SIZES[1]:]]))
    else:
        opu = OpticalProjector(THRESHOLD, Camera(photons_per_unit=DATA_PHOTONS), seed=seed)
        clip = ProjectionClip(opu, TAU["tau_f"], mode="clip")
        dfa = DFA(NoisyProjection(clip, DATAPATH_SIGMA, seed) if method == "pdfa_datapath"
                  else clip)

    def forward(x):
        h = x
        for lin in layers[:-1]:
            h = dfa.point(bounded_activation(lin(h), TAU["tau_h_min"], TAU["tau_h_max"]))
        return dfa.output(layers[-1](h))
    return layers, dfa, forward


def bp_gradient(layers, dfa, forward, x, y) -> torch.Tensor:
    with dfa.using(mode=Mode.BP):
        loss = torch.nn.functional.cross_entropy(forward(x), y)
        return torch.autograd.grad(loss, layers[1].weight)[0]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    return float(a @ b / (a.norm() * b.norm()))


def layer2_cosines(method, layers, dfa, forward, probe, probe_mechs) -> tuple[float, float]:
    """Cosine between the method's layer-2 update and the BP gradient on the probe batch.
    ``pdfa``: ``(noisy, clean)``, the mechanism's update with its noise (mean of
    ``PROBE_DRAWS`` draws) and without (the clipped sum alone); other methods: ``(c, c)``."""
    x, y = probe
    g_bp = bp_gradient(layers, dfa, forward, x, y)
    params = [p for lin in layers for p in lin.parameters()]
    saved = [(p.grad.clone() if p.grad is not None else None) for p in params]
    if probe_mechs is not None:
        noisy_mech, clean_mech = probe_mechs
        values = []
        for _ in range(PROBE_DRAWS):
            noisy_mech.step(forward, dfa, x, y)
            values.append(cosine(layers[1].weight.grad, g_bp))
        clean_mech.step(forward, dfa, x, y)
        out = (float(np.mean(values)), cosine(layers[1].weight.grad, g_bp))
    else:
        for p in layers[1].parameters():
            p.grad = None
        torch.nn.functional.cross_entropy(forward(x), y).backward()
        value = cosine(layers[1].weight.grad, g_bp)
        out = (value, value)
    for p, g in zip(params, saved):
        p.grad = g
    return out


def accuracy(dfa, forward, x, y) -> float:
    with torch.no_grad(), dfa.using(mode=Mode.BP):
        return 100.0 * float((forward(x).argmax(1) == y).double().mean())


def run_one(method, eps, seed, data, epochs, expected_batch, lr) -> dict:
    (x_tr, y_tr), (x_te, y_te) = data
    n = x_tr.shape[0]
    q = expected_batch / n
    steps = math.ceil(epochs / q)
    per_epoch = math.ceil(1 / q)
    layers, dfa, forward = build(method, seed)
    params = [p for lin in layers for p in lin.parameters()]
    opt = torch.optim.SGD(params, lr=lr, momentum=MOMENTUM)
    z = 0.0
    private = method in ("pdfa", "pdfa_opu")
    if private and math.isfinite(eps):
        z = noise_multiplier_for(eps, DELTA, q, steps)
    mech, probe_mechs = None, None
    if private:
        kw = {**TAU, "sampling_rate": q, "dataset_size": n}
        source = {"noise_source": "opu", "photons_per_unit": OPU_PHOTONS} \
            if method == "pdfa_opu" and z > 0 else {}
        mech = PhotonicDPDFA(layers, noise_multiplier=z, seed=seed, **source, **kw)
        mech.check_model(torch.nn.ModuleList(layers), dfa)
        probe_mechs = (PhotonicDPDFA(layers, noise_multiplier=z, seed=10_000 + seed, **kw),
                       PhotonicDPDFA(layers, noise_multiplier=0.0, **kw))
    probe = (x_tr[:expected_batch], y_tr[:expected_batch])
    batches = torch.Generator().manual_seed(1000 + seed)     # the same batches for every method
    cosines, clean, clipped, start = [], [], [], time.process_time()
    for step in range(steps):
        idx = poisson_batch(n, q, batches)
        opt.zero_grad()
        if mech is not None:
            clipped.append(mech.step(forward, dfa, x_tr[idx], y_tr[idx]).clipped_fraction)
        elif len(idx):
            torch.nn.functional.cross_entropy(forward(x_tr[idx]), y_tr[idx]).backward()
        opt.step()
        if (step + 1) % per_epoch == 0 or step + 1 == steps:
            if method != "bp":
                noisy, noiseless = layer2_cosines(method, layers, dfa, forward, probe,
                                                  probe_mechs)
                cosines.append(noisy)
                clean.append(noiseless)
    rec = {"method": method, "target_epsilon": eps if private else None,
           "seed": seed, "lr": lr, "epochs": epochs, "steps": steps, "sampling_rate": q,
           "noise_multiplier": z, "delta": DELTA, "test_accuracy_pct": accuracy(
               dfa, forward, x_te, y_te), "cpu_s": time.process_time() - start}
    if method != "bp":
        rec["cosine_layer2"] = cosines[-1]
        rec["cosine_layer2_per_epoch"] = cosines
        rec["cosine_layer2_noiseless"] = clean[-1]
        rec["cosine_layer2_noiseless_per_epoch"] = clean
    if mech is not None:
        rec["epsilon"] = mech.epsilon(DELTA) if z > 0 else math.inf
        rec["sensitivity"] = mech.sensitivity
        rec["noise_std"] = mech.noise_std
        rec["unit_gain_photons_per_unit"] = 1 / (4 * mech.noise_std ** 2) if z > 0 else None
        rec["clipped_fraction"] = float(np.mean(clipped))
    if method.startswith("pdfa"):
        clip = dfa.projector.inner if method == "pdfa_datapath" else dfa.projector
        opu = clip.inner.feedback.opu  # type: ignore[attr-defined]
        rec["data_frames_per_step"] = (opu.frames - opu.calibration_frames) / steps
    return rec


def plan(epsilons) -> list[tuple[str, float]]:
    return ([("bp", math.nan), ("dfa", math.nan)] + [("pdfa", e) for e in epsilons]
            + [("pdfa_datapath", math.nan)])


def key(method: str, eps: float | None, seed: int, lr: float) -> str:
    return f"{method}/{eps}/{seed}/{lr}"


def summarise(rows: list[dict]) -> dict[str, dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["target_epsilon"], r["lr"]), []).append(r)
    out = {}
    for (method, eps, lr), sel in groups.items():
        acc = [r["test_accuracy_pct"] for r in sel]
        row = {"method": method, "target_epsilon": eps, "lr": lr, "seeds": len(sel),
               "accuracy_mean": float(np.mean(acc)),
               "accuracy_std": float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0}
        if method != "bp":
            for k in ("cosine_layer2", "cosine_layer2_noiseless"):
                row[f"{k}_mean"] = float(np.mean([r[k] for r in sel]))
        if method in ("pdfa", "pdfa_opu"):
            for k in ("noise_multiplier", "epsilon", "noise_std", "unit_gain_photons_per_unit",
                      "clipped_fraction", "data_frames_per_step"):
                vals = [r[k] for r in sel if r[k] is not None]
                row[k] = float(np.mean(vals)) if vals else None
        out[f"{method}/eps={eps}/lr={lr}"] = row
    return out


def table(summary: dict[str, dict], meta: dict) -> str:
    lines = [f"# Photonic DP-DFA on Fashion-MNIST ({meta['command']})", "",
             f"MLP {'-'.join(map(str, SIZES))}, {meta['epochs']} epochs, q = "
             f"{meta['expected_batch']}/{meta['n_train']}, δ = {DELTA:g}, seeds "
             f"{meta['seeds']}; load average {meta['load'][0]:.1f}.", "",
             "| method | target ε | lr | seeds | test accuracy % (mean ± sd) | ε spent | z | "
             "σ = zΔ | photons/unit at unit gain | layer-2 cosine with BP (noiseless) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def f(v, fmt):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)
    for row in summary.values():
        lines.append(
            f"| {row['method']} | {f(row['target_epsilon'], 'g')} | {row['lr']:g} | "
            f"{row['seeds']} | {row['accuracy_mean']:.2f} ± {row['accuracy_std']:.2f} | "
            f"{f(row.get('epsilon'), '.3g')} | {f(row.get('noise_multiplier'), '.3g')} | "
            f"{f(row.get('noise_std'), '.3g')} | "
            f"{f(row.get('unit_gain_photons_per_unit'), '.3g')} | "
            f"{f(row.get('cosine_layer2_mean'), '.3f')} "
            f"({f(row.get('cosine_layer2_noiseless_mean'), '.3f')}) |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], path: Path) -> None:
    """Ohana et al.'s Figure 2 in shape: test accuracy per method and level (mean ± sd over
    seeds) and the layer-2 cosine with BP after every epoch (mean over seeds; dashed: the
    photonic update without its privacy noise)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[dict]] = {}
    for r in rows:
        label = r["method"] if r["target_epsilon"] is None else \
            f"{r['method']} ε={r['target_epsilon']:g}"
        groups.setdefault(label, []).append(r)
    fig, (ax_acc, ax_cos) = plt.subplots(1, 2, figsize=(11, 4))
    labels = list(groups)
    acc = [[r["test_accuracy_pct"] for r in groups[k]] for k in labels]
    ax_acc.bar(range(len(labels)), [np.mean(a) for a in acc],
               yerr=[np.std(a, ddof=1) if len(a) > 1 else 0 for a in acc], color="0.6")
    ax_acc.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_ylim(min(min(a) for a in acc) - 5, 100)
    for i, k in enumerate(labels):
        if k == "bp":
            continue
        for key, style in (("cosine_layer2_per_epoch", "-"),
                           ("cosine_layer2_noiseless_per_epoch", "--")):
            curves = [r[key] for r in groups[k] if key in r]
            if not curves or (style == "--" and not k.startswith("pdfa")):
                continue
            n = min(len(c) for c in curves)
            mean = np.mean([c[:n] for c in curves], axis=0)
            ax_cos.plot(range(1, n + 1), mean, style, color=f"C{i}", marker="o",
                        label=k if style == "-" else None)
    ax_cos.axhline(0, color="0.7", lw=0.8)
    ax_cos.set_xlabel("epoch")
    ax_cos.set_ylabel("cosine(layer-2 update, BP gradient)")
    ax_cos.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/72_photonic_dp"))
    ap.add_argument("--quick", action="store_true", help="a reduced run of seconds")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--opu-noise", action="store_true",
                    help="also run pdfa_opu (seed 0, ε = 2): the noise from OPU dark frames")
    ap.add_argument("--tune", action="store_true", help="learning-rate scan (seed 0, 1 epoch, "
                    "bp, dfa and pdfa at ε = 2)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message="Optimal order is the")
    torch.set_num_threads(1)
    if args.quick:
        data = load(QUICK["n_train"], QUICK["n_test"])
        epochs, seeds, epsilons = QUICK["epochs"], QUICK["seeds"], QUICK["epsilons"]
        batch = QUICK["expected_batch"]
    else:
        data = load(None, None)
        epochs, seeds, epsilons, batch = args.epochs, args.seeds, EPSILONS, EXPECTED_BATCH
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "runs.jsonl"
    rows = ([json.loads(line) for line in log_path.read_text().splitlines()]
            if log_path.exists() else [])
    done = {key(r["method"], r["target_epsilon"], r["seed"], r["lr"]) for r in rows}
    if args.tune:
        todo = [(m, 2.0 if m == "pdfa" else None, 0, lr) for lr in TUNE_LRS
                for m in ("bp", "dfa", "pdfa")]
        epochs = 1
    else:
        todo = [(m, e if m == "pdfa" else None, s, LR[m]) for s in seeds
                for m, e in plan(epsilons)]
        if args.opu_noise:
            todo.append(("pdfa_opu", 2.0, seeds[0], LR["pdfa"]))
    for method, eps, seed, lr in todo:
        if key(method, eps, seed, lr) in done:
            continue
        r = run_one(method, eps, seed, data, epochs, batch, lr)
        with log_path.open("a") as fh:
            fh.write(json.dumps(r) + "\n")
        rows.append(r)
        print(f"{method:5s} eps={eps} seed={seed} lr={lr}: {r['test_accuracy_pct']:.2f} % "
              f"cos2={r.get('cosine_layer2', math.nan):.3f} z={r['noise_multiplier']:.3g} "
              f"{r['cpu_s']:.0f} s CPU", flush=True)
    meta = {"command": "python examples/72_photonic_dp.py"
            + (" --quick" if args.quick else " --tune" if args.tune else ""),
            "epochs": epochs, "seeds": sorted({r["seed"] for r in rows}), "n_train":
            data[0][0].shape[0], "expected_batch": batch, "load": os.getloadavg()}
    summary = summarise(rows)
    (args.out / "summary.json").write_text(json.dumps({"meta": meta, "summary": summary},
                                                      indent=1))
    (args.out / "summary.md").write_text(table(summary, meta))
    figure(rows, args.out / "figure.png")
    print(table(summary, meta))


if __name__ == "__main__":
    main()
