"""Experiments: the one place that wires data, networks, learning and results together.

:func:`run_pretrain` is the engine's end-to-end job on real data: UCI HAPT windows
(UCI-HAR preprocessing, official subject split), the SFCN spiking network trained with
surrogate-gradient BPTT on the training subjects, evaluated on the held-out subjects, with
``results.h5``, ``report.md`` and a figure written to the output folder.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from snn_dfa._validation import check_scalar
from snn_dfa.errors import ValidationError
from snn_dfa.estimator import SpikingClassifier
from snn_dfa.results import provenance, write_results


@dataclass(frozen=True)
class PretrainConfig:
    """Settings of :func:`run_pretrain` (defaults: SNN_HAR's UCI-HAR training, shortened)."""

    seed: int = 0
    epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-3
    model: str = "sfcn"
    model_params: dict[str, Any] = field(default_factory=dict)
    max_train_windows: int | None = None

    def __post_init__(self) -> None:
        check_scalar("seed", self.seed, int, low=0)
        check_scalar("epochs", self.epochs, int, low=1)
        check_scalar("batch_size", self.batch_size, int, low=1)
        check_scalar("lr", self.lr, (int, float), low=0.0, low_inclusive=False)
        if self.max_train_windows is not None:
            check_scalar("max_train_windows", self.max_train_windows, int, low=1)


@dataclass
class PretrainResult:
    test_accuracy: float
    per_class_accuracy: dict[str, float]
    per_subject_accuracy: dict[int, float]
    n_train: int
    n_test: int
    train_seconds: float
    out_dir: Path


def run_pretrain(config: PretrainConfig, out_dir: str | Path, progress: bool = False
                 ) -> PretrainResult:
    """Train and evaluate on UCI HAPT; write ``results.h5``, ``report.md`` and figures.

    Everything is produced in a temporary folder next to ``out_dir`` and moved into place
    at the end, so an interrupted or failed run leaves nothing half-written in ``out_dir``.
    """
    from snn_dfa.data import Normalizer, load_hapt, subject_split

    started = datetime.now(timezone.utc)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValidationError(f"out={str(out_dir)!r}: exists and is not a folder")
    windows = load_hapt()
    train, test = subject_split(windows)
    rng = np.random.default_rng(config.seed)
    idx = np.arange(train.X.shape[0])
    if config.max_train_windows is not None and config.max_train_windows < idx.size:
        idx = np.sort(rng.choice(idx, config.max_train_windows, replace=False))
    norm = Normalizer().fit(train.X[idx])
    x_train, y_train = norm.transform(train.X[idx]), train.y[idx]
    x_test = norm.transform(test.X)

    clf = SpikingClassifier(model=config.model, model_params=config.model_params or None,
                            epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                            seed=rng, verbose=progress)
    t0 = time.perf_counter()
    clf.fit(x_train, y_train)
    train_seconds = time.perf_counter() - t0
    pred = clf.predict(x_test)
    correct = pred == test.y
    classes = list(windows.class_names)
    n_cls = len(classes)
    confusion = np.zeros((n_cls, n_cls), np.int64)
    np.add.at(confusion, (test.y, pred), 1)
    per_class = {classes[c]: float(correct[test.y == c].mean()) for c in range(n_cls)}
    subjects = np.unique(test.subject)
    per_subject = {int(s): float(correct[test.subject == s].mean()) for s in subjects}
    result = PretrainResult(float(correct.mean()), per_class, per_subject, int(idx.size),
                            int(test.X.shape[0]), train_seconds, out_dir)

    cfg = asdict(config) | {"dataset": "hapt", "split": "uci_har_subjects"}
    metrics = {
        "test_accuracy": result.test_accuracy,
        "per_class_accuracy": np.array([per_class[c] for c in classes]),
        "class_names": np.array(classes, dtype="S"),
        "per_subject_accuracy": np.array(list(per_subject.values())),
        "test_subjects": subjects,
        "confusion": confusion,
        "train_loss_per_epoch": np.array(clf.loss_curve_),
        "train_seconds": train_seconds,
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        write_results(staging / "results.h5", cfg, provenance(config.seed, started), metrics)
        _figures(staging, classes, confusion, clf.loss_curve_)
        (staging / "report.md").write_text(_report(result, config, classes))
        out_dir.mkdir(exist_ok=True)
        for item in staging.iterdir():
            target = out_dir / item.name
            if target.is_dir():
                shutil.rmtree(target)
            item.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _figures(folder: Path, classes: list[str], confusion: np.ndarray,
             loss_curve: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = folder / "figures"
    figs.mkdir()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(np.arange(1, len(loss_curve) + 1), loss_curve, marker="o")
    ax1.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (cross-entropy)")
    ax1.set_title("BPTT pre-training")
    norm = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    ax2.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax2.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax2.set_yticks(range(len(classes)), classes)
    ax2.set_xlabel("predicted")
    ax2.set_ylabel("true")
    ax2.set_title("test confusion (row-normalised)")
    fig.tight_layout()
    fig.savefig(figs / "pretrain.png", dpi=110)
    plt.close(fig)


def _report(result: PretrainResult, config: PretrainConfig, classes: list[str]) -> str:
    lines = [
        "# snn-dfa: spiking HAR network pre-trained with BPTT on UCI HAPT",
        "",
        f"Model `{config.model}`, {config.epochs} epoch(s), batch {config.batch_size}, "
        f"Adam lr {config.lr}, seed {config.seed}.",
        f"Training windows: {result.n_train}; test windows: {result.n_test} "
        "(UCI-HAR test subjects 2, 4, 9, 10, 12, 13, 18, 20, 24).",
        f"Training time: {result.train_seconds:.1f} s.",
        "",
        f"**Test accuracy: {100 * result.test_accuracy:.2f} %**",
        "",
        "| class | accuracy (%) |",
        "| --- | ---: |",
        *[f"| {c} | {100 * result.per_class_accuracy[c]:.1f} |" for c in classes],
        "",
        "| test subject | accuracy (%) |",
        "| --- | ---: |",
        *[f"| {s} | {100 * a:.1f} |" for s, a in result.per_subject_accuracy.items()],
        "",
        "![training loss and confusion](figures/pretrain.png)",
        "",
    ]
    return "\n".join(lines)
