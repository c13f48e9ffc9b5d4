"""20 — DFA against BPTT for the spiking HAR network on UCI HAPT (issue 4).

Part A (offline training): the SFCN spiking network (SNN_HAR's UCI-HAR settings) trained
with BPTT, DFA (fixed random feedback), SFDFA in clock-driven form (feedback learned by
forward perturbation) and with only its readout layer trained ("shallow", the control that
shows what the hidden-layer updates add) on the UCI-HAR training subjects of UCI HAPT;
test accuracy on the nine test subjects, over several seeds.

Part B (online adaptation, ideal weights): each model of part A adapts to every test
subject at batch 1 with no adaptation, BPTT, DFA and SFDFA (a rule other than the
pre-training one starts with fresh feedback; SFDFA's then starts from zero).  The protocol
is the main job's (``snn_dfa.app.experiment``): the subject's windows in blocks of 16, half the
blocks adapt (two shuffled passes, predict then update, unlabelled windows predicted only),
the other half is the held-out test.  Reported: held-out accuracy after adaptation, and the
prequential accuracy (predictions made before each update).  A chronological single pass is
not used: consecutive windows share their label, so a batch-1 learner that chases the last
label scores a high prequential accuracy while forgetting the other activities.

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

from snn_dfa.app.config import DataSection, RunConfig
from snn_dfa.app.experiment import SubjectData, prepare_data
from snn_dfa.data import Normalizer, load_hapt, subject_split
from snn_dfa.engine.optim import SGD
from snn_dfa.rules.estimator import SpikingClassifier
from snn_dfa.rules.learning import make_rule
from snn_dfa.rules.online import OnlineAdapter

SEEDS = (0, 1, 2)
EPOCHS = 3
BATCH = 64
LR = 1e-3  # Adam, SNN_HAR's setting
ADAPT_LR = 3e-4  # plain SGD at batch 1, as the main job (Adam's fresh moments overshoot)
ADAPT_EPOCHS = 2
QUICK = dict(seeds=(0,), epochs=1, max_train=1500, subjects=(2, 9))


def train(rule: str, seed: int, x: np.ndarray, y: np.ndarray, epochs: int) -> SpikingClassifier:
    return SpikingClassifier(model="sfcn", epochs=epochs, batch_size=BATCH, lr=LR, rule=rule,
                             seed=seed).fit(x, y)


def adapt_and_test(model: SpikingClassifier, adapt: str, sub: SubjectData, seed: int
                   ) -> tuple[float, float]:
    """(held-out accuracy after adaptation, prequential accuracy) of a copy of ``model``."""
    net = copy.deepcopy(model.network_).train(False)
    preq = float("nan")
    if adapt != "none":
        if adapt == model.rule:  # keep the pre-training feedback (fixed or learned)
            rule = copy.deepcopy(model.rule_)
        else:
            rule = make_rule(adapt, net, seed=1234)
        adapter = OnlineAdapter(net, rule, SGD(lr=ADAPT_LR))
        rng = np.random.default_rng([seed, sub.subject])
        for _ in range(ADAPT_EPOCHS):
            idx = rng.permutation(len(sub.y_adapt))
            adapter.run(sub.x_adapt[idx], sub.y_adapt[idx])
        preq = adapter.log.mean("correct")
        net.train(False)
    z, _ = net.forward(np.ascontiguousarray(sub.x_test.transpose(1, 0, 2)))
    return float(np.mean(np.argmax(z, axis=1) == sub.y_test)), preq


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
    # the main job's adaptation split (blocks of windows, half adapt, half held out)
    _, _, subject_data, _ = prepare_data(RunConfig(data=DataSection(adapt_subjects=subjects)))

    results: dict = {"config": {"seeds": list(seeds), "epochs": epochs, "batch": BATCH,
                                "lr": LR, "adapt_lr": ADAPT_LR, "adapt_epochs": ADAPT_EPOCHS,
                                "quick": args.quick,
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
            for sub in subject_data:
                for adapt in ("none", "bptt", "dfa", "sfdfa"):
                    final, preq = adapt_and_test(model, adapt, sub, seed)
                    results["online"].setdefault(f"pretrain_{rule}/adapt_{adapt}", []).append(
                        {"seed": seed, "subject": sub.subject, "final_accuracy": final,
                         "prequential_accuracy": preq})

    print("\nPart A: test accuracy (%) on the UCI-HAR test subjects, mean ± sd over seeds")
    for rule, runs in results["offline"].items():
        accs = 100 * np.array([r["test_accuracy"] for r in runs])
        print(f"  {rule:>4}: {accs.mean():.2f} ± {accs.std():.2f}   runs {np.round(accs, 2)}")
    print("\nPart B: online adaptation on ideal weights, mean over subjects and seeds (%)")
    print(f"  {'':<28} {'held-out after':>14} {'(min':>6} {'max)':>6} {'prequential':>12}")
    summary = {}
    for key, runs in results["online"].items():
        accs = 100 * np.array([r["final_accuracy"] for r in runs])
        preq = 100 * np.array([r["prequential_accuracy"] for r in runs])
        summary[key] = float(accs.mean())
        print(f"  {key:<28} {accs.mean():14.2f} {accs.min():6.1f} {accs.max():6.1f} "
              f"{np.mean(preq) if np.isfinite(preq).all() else float('nan'):12.2f}")
    results["online_summary"] = summary
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nwritten {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
