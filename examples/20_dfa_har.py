"""20 — DFA against BPTT for the spiking HAR network on UCI HAPT (issue 4).

Part A (offline training): the SFCN spiking network (SNN_HAR's UCI-HAR settings) trained
with BPTT, DFA (fixed random feedback), SFDFA in clock-driven form (feedback learned by
forward perturbation) and with only its readout layer trained ("shallow", the control that
shows what the hidden-layer updates add) on the UCI-HAR training subjects of UCI HAPT;
test accuracy on the nine test subjects, over several seeds.

Part B (online adaptation): each model of part A adapts to every test subject's stream at
batch 1, window by window in recording order (predict, then update; transition and
unlabelled windows are predicted but not learned from), with no adaptation, BPTT, DFA and
SFDFA (a rule other than the pre-training one starts with fresh feedback; SFDFA's then
starts from zero).
The figure of merit is the prequential accuracy over the stream's labelled windows.

Usage::

    python examples/20_dfa_har.py            # full run (about 10 minutes on 2 cores)
    python examples/20_dfa_har.py --quick    # reduced run (a minute), used by a slow test

Writes ``results.json`` to ``--out`` (default ``runs/20_dfa_har``) and prints the tables.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np

from snn_dfa.data import Normalizer, load_hapt, subject_split, subject_stream
from snn_dfa.estimator import SpikingClassifier
from snn_dfa.learning import make_rule
from snn_dfa.online import OnlineAdapter
from snn_dfa.optim import SGD

SEEDS = (0, 1, 2)
EPOCHS = 3
BATCH = 64
LR = 1e-3  # Adam, SNN_HAR's setting
ADAPT_LR = 1e-2  # plain SGD at batch 1 (Adam's fresh moments overshoot on a new stream)
QUICK = dict(seeds=(0,), epochs=1, max_train=1500, subjects=(2, 9))


def train(rule: str, seed: int, x: np.ndarray, y: np.ndarray, epochs: int) -> SpikingClassifier:
    return SpikingClassifier(model="sfcn", epochs=epochs, batch_size=BATCH, lr=LR, rule=rule,
                             seed=seed).fit(x, y)


def prequential(model: SpikingClassifier, adapt: str, x: np.ndarray, y: np.ndarray) -> float:
    """Prequential accuracy of a copy of ``model`` adapting with ``adapt`` over ``x, y``."""
    net = copy.deepcopy(model.network_)
    if adapt == "none":
        net.train(False)
        labelled = y >= 0
        z, _ = net.forward(np.ascontiguousarray(x[labelled].transpose(1, 0, 2)))
        return float(np.mean(np.argmax(z, axis=1) == y[labelled]))
    if adapt == model.rule:  # keep the pre-training feedback (fixed or learned)
        rule = copy.deepcopy(model.rule_)
    else:
        rule = make_rule(adapt, net, seed=1234)
    return OnlineAdapter(net, rule, SGD(lr=ADAPT_LR)).run(x, y).mean("correct")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced run")
    parser.add_argument("--out", type=Path, default=Path("runs/20_dfa_har"))
    args = parser.parse_args()
    seeds, epochs = (QUICK["seeds"], QUICK["epochs"]) if args.quick else (SEEDS, EPOCHS)

    windows = load_hapt(basic_only=False)
    train_w, test_w = subject_split(windows)
    labelled = train_w.y >= 0
    norm = Normalizer().fit(train_w.X[labelled])
    x_train, y_train = norm.transform(train_w.X[labelled]), train_w.y[labelled]
    test_lab = test_w.y >= 0
    x_test, y_test = norm.transform(test_w.X[test_lab]), test_w.y[test_lab]
    subjects = QUICK["subjects"] if args.quick else tuple(np.unique(test_w.subject).tolist())

    results: dict = {"config": {"seeds": list(seeds), "epochs": epochs, "batch": BATCH,
                                "lr": LR, "adapt_lr": ADAPT_LR, "quick": args.quick,
                                "subjects": list(subjects)},
                     "offline": {}, "online": {}}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        idx = np.arange(len(y_train))
        if args.quick:
            idx = np.sort(rng.choice(idx, QUICK["max_train"], replace=False))
        for rule in ("bptt", "dfa", "sfdfa", "shallow"):
            t0 = time.perf_counter()
            model = train(rule, seed, x_train[idx], y_train[idx], epochs)
            seconds = time.perf_counter() - t0
            acc = model.score(x_test, y_test)
            results["offline"].setdefault(rule, []).append(
                {"seed": seed, "test_accuracy": acc, "train_seconds": seconds,
                 "loss_curve": model.loss_curve_})
            print(f"seed {seed} {rule:>4}: test accuracy {100 * acc:.2f} % ({seconds:.0f} s)",
                  flush=True)
            if rule == "shallow":
                continue
            for subject in subjects:
                stream = subject_stream(test_w, subject)
                xs, ys = norm.transform(stream.X), stream.y
                for adapt in ("none", "bptt", "dfa", "sfdfa"):
                    key = f"pretrain_{rule}/adapt_{adapt}"
                    results["online"].setdefault(key, []).append(
                        {"seed": seed, "subject": subject,
                         "prequential_accuracy": prequential(model, adapt, xs, ys)})

    print("\nPart A: test accuracy (%) on the UCI-HAR test subjects, mean ± sd over seeds")
    for rule, runs in results["offline"].items():
        accs = 100 * np.array([r["test_accuracy"] for r in runs])
        print(f"  {rule:>4}: {accs.mean():.2f} ± {accs.std():.2f}   runs {np.round(accs, 2)}")
    print("\nPart B: prequential accuracy (%) of online adaptation, mean over subjects and seeds")
    summary = {}
    for key, runs in results["online"].items():
        accs = 100 * np.array([r["prequential_accuracy"] for r in runs])
        summary[key] = float(accs.mean())
        print(f"  {key:<28} {accs.mean():6.2f}   (min {accs.min():.1f}, max {accs.max():.1f})")
    results["online_summary"] = summary
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nwritten {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
