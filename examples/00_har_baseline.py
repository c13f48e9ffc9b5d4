"""A plain non-spiking baseline on UCI HAPT windows: logistic regression (scikit-learn).

What it shows: the accuracy a linear classifier reaches on the UCI-HAR-style HAPT windows
(9 channels x 128 samples, 6 basic activities) with UCI-HAR's official subject split, so
later spiking results (DFA, SFDFA, BP on simulated crossbars) have a reference.

Two inputs, both standardised per channel with statistics of the training subjects only:
  * "raw"      - the 1,152 normalised samples of each window, flattened;
  * "features" - 6 statistics per channel (mean, std, min, max, mean |first difference|,
                 energy of the mean-removed window), 54 features.

Data: UCI HAPT (Reyes-Ortiz et al., Neurocomputing 2016), see datasets/hapt.md.
Run:  python examples/00_har_baseline.py            (prints a table; about a minute)
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.preprocessing import StandardScaler

from snn_dfa.data import Normalizer, load_hapt, subject_split

C_REG = 1.0          # inverse L2 regularisation strength of LogisticRegression
MAX_ITER = 2000      # lbfgs iterations
SEED = 0


def window_features(X: np.ndarray) -> np.ndarray:
    """Six statistics per channel of windows X (N, T, C) -> (N, 6 * C)."""
    centred = X - X.mean(axis=1, keepdims=True)
    return np.concatenate(
        [X.mean(axis=1), X.std(axis=1), X.min(axis=1), X.max(axis=1),
         np.abs(np.diff(X, axis=1)).mean(axis=1), (centred**2).mean(axis=1)],
        axis=1,
    )


def fit_and_score(name: str, train_inputs, y_train, test_inputs, y_test) -> dict[str, float]:
    start = time.perf_counter()
    model = LogisticRegression(C=C_REG, max_iter=MAX_ITER, random_state=SEED)
    model.fit(train_inputs, y_train)
    pred = model.predict(test_inputs)
    return {
        "input": name,
        "n_features": train_inputs.shape[1],
        "train_acc": accuracy_score(y_train, model.predict(train_inputs)),
        "test_acc": accuracy_score(y_test, pred),
        "test_balanced_acc": balanced_accuracy_score(y_test, pred),
        "fit_s": time.perf_counter() - start,
    }


def main() -> list[dict[str, float]]:
    windows = load_hapt()
    train, test = subject_split(windows)
    norm = Normalizer().fit(train)
    Xtr, Xte = norm.transform(train.X), norm.transform(test.X)
    feats_tr, feats_te = window_features(Xtr), window_features(Xte)
    scaler = StandardScaler().fit(feats_tr)  # fitted on training subjects only
    rows = [
        fit_and_score("raw", Xtr.reshape(len(Xtr), -1), train.y,
                      Xte.reshape(len(Xte), -1), test.y),
        fit_and_score("features", scaler.transform(feats_tr), train.y,
                      scaler.transform(feats_te), test.y),
    ]
    print(f"UCI HAPT, UCI-HAR subject split: {len(train)} train / {len(test)} test windows")
    print(f"{'input':<10}{'features':>9}{'train acc':>11}{'test acc':>10}{'bal. acc':>10}"
          f"{'fit s':>8}")
    for r in rows:
        print(f"{r['input']:<10}{r['n_features']:>9}{r['train_acc']:>11.4f}{r['test_acc']:>10.4f}"
              f"{r['test_balanced_acc']:>10.4f}{r['fit_s']:>8.1f}")
    return rows


if __name__ == "__main__":
    main()
