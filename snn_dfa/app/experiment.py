"""The main job: the one place that wires data, network, learning rules, crossbar and hwsim.

Protocol, for a :class:`~snn_dfa.app.config.RunConfig`:

1. Pre-train (cloud): the spiking network with surrogate-gradient BPTT on ideal weights,
   on the UCI-HAR training subjects of UCI HAPT.  Cached by a hash of the data, model,
   pre-training settings and seed, so repeated runs skip it.
2. Deploy: fold batch norm, program every layer into crossbar arrays.  Accuracy on each
   adaptation subject's held-out windows, ideal and deployed.
3. Adapt on-device, per subject and rule: the subject's windows are cut into blocks of
   consecutive windows; a random share of the blocks is the adaptation set, the rest the
   held-out test.  The chip adapts at batch 1 over the adaptation windows for a few epochs
   (shuffled by default: a chronological pass has long runs of one label, which a batch-1
   learner chases, so prequential accuracy then mostly measures label persistence), predict
   then update, with the crossbar in the loop (noisy forward reads, BP's backward through
   transposed reads of the same arrays, updates as programming pulses).  Every subject gets
   a fresh copy of the deployed chip.  Final accuracy on the subject's held-out windows.
4. Account: crossbar and digital events per layer and phase -> ``hwsim`` energy, area and
   latency per rule, and the DFA/BP and SFDFA/BP ratios.
5. Results: ``results.h5``, ``report.md``, ``report.html`` and ``figures/`` in the output folder,
   produced in a staging folder and moved into place only when complete.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import hwsim
from hwsim.sensitivity import sensitivity_table, sensitivity_to_dict
from snn_dfa.app.config import RunConfig
from snn_dfa.app.hardware import (
    PhaseMeter,
    advance_clock,
    architecture,
    assumptions,
    chip_weight_noise,
    cost_tech,
    deploy,
)
from snn_dfa.app.outdir import check_out, new_staging, public_modes, publish
from snn_dfa.app.progress import Progress, as_progress, format_duration
from snn_dfa.app.results import provenance, read_results, write_results
from snn_dfa.engine.io import load_network
from snn_dfa.engine.models import build_model
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.engine.optim import SGD
from snn_dfa.errors import ConfigError, DataError, ValidationError, notice
from snn_dfa.rules import registry
from snn_dfa.rules.estimator import SpikingClassifier
from snn_dfa.rules.online import OnlineAdapter


@dataclass
class SubjectData:
    """One adaptation subject: its adaptation windows and held-out test windows."""

    subject: int
    x_adapt: np.ndarray  # [N_a, T, C], recording order, unlabelled windows included
    y_adapt: np.ndarray  # [N_a], -1 for unlabelled
    x_test: np.ndarray  # [N_t, T, C], labelled only
    y_test: np.ndarray


def prepare_data(config: RunConfig) -> tuple[np.ndarray, np.ndarray, list[SubjectData], Any]:
    """Pre-training windows ``x [N, T, C]``, ``y [N]`` (normalised with their own
    statistics), the adaptation subjects' data and the class names."""
    from snn_dfa.data import Normalizer, load_hapt, subject_split, subject_stream

    windows = load_hapt(basic_only=False)
    train, test = subject_split(windows)
    if config.data.split == "tuning":
        # hyperparameters are chosen on training subjects, kept out of pre-training: the
        # held-out subjects of the study never inform a setting
        test = train.subset(np.isin(train.subject, config.data.adapt_subjects))
        train = train.subset(~np.isin(train.subject, config.data.adapt_subjects))
    available = sorted(set(np.unique(test.subject).tolist()))
    kind = "training" if config.data.split == "tuning" else "held-out (test)"
    for s in config.data.adapt_subjects:
        if s not in available:
            raise ValidationError(
                f"data.adapt_subjects: subject {s} is not a {kind} subject "
                f"(data.split={config.data.split!r}); expected some of {available}"
            )
    labelled = train.y >= 0
    x_train, y_train = train.X[labelled], train.y[labelled]
    rng = np.random.default_rng([config.seed, 1])
    if 0 < config.data.max_pretrain_windows < len(y_train):
        idx = np.sort(rng.choice(len(y_train), config.data.max_pretrain_windows, replace=False))
        x_train, y_train = x_train[idx], y_train[idx]
    norm = Normalizer().fit(x_train)
    subjects = []
    for s in config.data.adapt_subjects:
        stream = subject_stream(test, s)
        x = norm.transform(stream.X)
        # blocks of consecutive windows, a random share adapts and the rest tests: both
        # sets cover every activity and overlapping windows rarely straddle the two
        block = np.arange(len(stream.y)) // config.data.block_windows
        n_blocks = int(block[-1]) + 1
        n_adapt = int(round(config.data.adapt_fraction * n_blocks))
        chosen = rng.permutation(n_blocks)[:n_adapt]
        adapt = np.isin(block, chosen)
        keep = ~adapt & (stream.y >= 0)
        if not keep.any() or not (adapt & (stream.y >= 0)).any():
            raise ValidationError(
                f"data.adapt_fraction={config.data.adapt_fraction}: subject {s} gets no "
                "labelled adaptation or no held-out windows"
            )
        subjects.append(SubjectData(s, x[adapt], stream.y[adapt], x[keep], stream.y[keep]))
    return norm.transform(x_train), y_train, subjects, windows.class_names


def _model_params(config: RunConfig) -> dict[str, Any]:
    m = config.model
    return {"channels": m.channels, "kernel_size": m.kernel_size, "beta": m.beta,
            "threshold": m.threshold}


def pretrain_sources(config: RunConfig) -> dict[str, str]:
    """For each on-chip rule, the rule its starting network is pre-trained with."""
    return {r: ((registry.get_rule(r).pretrained_as or r) if config.pretrain.rule == "matched"
                else config.pretrain.rule) for r in config.adapt.rules}


def pretrain_cache_path(config: RunConfig, rule: str,
                        cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache entry of the network pre-trained with ``rule`` under ``config`` (it may not
    exist yet); ``cache_dir`` defaults to ``pretrained/`` in the data cache folder."""
    from snn_dfa.data import default_cache_dir

    spec = registry.get_rule(rule)
    digest = (config.digest("seed", "data", "model", "pretrain",
                            exclude=("pretrain.noise_aware",))
              + f"-{spec.name}"
              + "".join(f"-{v}" for v in spec.select(_rule_options(config)).values()))
    if config.pretrain.noise_aware:  # the injected noise is the chip's
        digest += f"-aware-{config.digest('crossbar')}"
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "pretrained"
    return folder / f"{config.model.name}-{digest}.npz"


def pretrained(config: RunConfig, rule: str, x: np.ndarray, y: np.ndarray,
                cache_dir: Path | None, progress: Progress | bool = False
                ) -> tuple[SpikingNetwork, list[np.ndarray] | None, bool]:
    """The network pre-trained with ``rule``, its feedback matrices (None for a rule without
    feedback) and whether both came from the cache.

    Only arrays are returned, never the trained rule object: a rule's other state (the random
    stream of SFDFA's perturbations, say) would differ between a fresh and a cached run, so the
    adaptation rule is always built anew from the configuration's seed and these arrays.
    With ``[model] file`` set, the imported network (:func:`imported`) replaces pre-training.

    Entries are ``.npz`` files of plain arrays (read without pickle), keyed and checked by a
    hash of the settings that determine them, written under a temporary name and renamed.
    A corrupt or stale entry is never used: it is rebuilt and replaced.
    """
    progress = as_progress(progress)
    if config.model.file:
        progress.stage(f"pre-training: none, the imported network {config.model.file} is used")
        return imported(config.model.file, x, y), None, True
    spec = registry.get_rule(rule)
    feedback_opts = spec.select(_rule_options(config))
    path = pretrain_cache_path(config, rule, cache_dir)
    digest, folder = path.stem.removeprefix(f"{config.model.name}-"), path.parent
    n_classes = int(np.max(y)) + 1  # labels are 0..n_classes-1 (checked after training)
    if path.is_dir() and not path.is_symlink():  # not an entry: moved aside, never deleted
        aside = path.with_name(f"{path.name}.not-a-file-{os.getpid()}")
        os.rename(path, aside)
        notice(f"pre-training cache entry {str(path)!r} was a folder; moved it to "
               f"{str(aside)!r} and rebuilding the entry")
    if path.exists():
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
                if str(f["__digest__"]) == digest:
                    net = build_model(config.model.name, x.shape[2], n_classes, x.shape[1],
                                      _model_params(config),
                                      seed=0)
                    net.load_state_dict({k: f[k] for k in f.files if "." in k
                                         and not k.startswith("feedback.")})
                    n_feedback = sum(k.startswith("feedback.") for k in f.files)
                    mats = [f[f"feedback.{k}"] for k in range(n_feedback)] or None
                    progress.stage(f"pre-training with {spec.label}: taken from the cache "
                                   f"({path.name})")
                    return net.train(False), mats, True
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
                ValidationError) as exc:  # corrupt: rebuilt and replaced below
            notice(f"pre-training cache entry {str(path)!r} is unreadable "
                   f"({type(exc).__name__}); rebuilding it")
    epochs = config.pretrain.epochs
    progress.stage(f"pre-training with {spec.label}: {epochs} epoch(s) on {len(y)} windows "
                   "(ideal weights; cached for later runs)")
    clf = SpikingClassifier(model=config.model.name, model_params=_model_params(config),
                            epochs=epochs, batch_size=config.pretrain.batch_size,
                            lr=config.pretrain.lr, rule=spec.name, feedback=feedback_opts or None,
                            seed=np.random.default_rng([config.seed, 2]),
                            weight_noise=(chip_weight_noise(config.crossbar)
                                          if config.pretrain.noise_aware else None))
    with progress.bar(epochs, f"pre-training {spec.label}", "epoch") as bar:
        def on_epoch(epoch: int, loss: float) -> None:
            bar.update()
            progress.stage(f"pre-training with {spec.label}: epoch {epoch}/{epochs} done, "
                           f"mean loss {loss:.3f}")

        clf.fit(x, y, on_epoch=on_epoch)
    if list(clf.classes_) != list(range(n_classes)):
        raise DataError(f"pre-training data holds classes {clf.classes_.tolist()}, "
                        f"expected 0..{n_classes - 1}")
    arrays = dict(clf.network_.state_dict())
    projector = getattr(clf.rule_, "projector", None)
    mats = [m.copy() for m in projector.matrices] if projector is not None else None
    for k, m in enumerate(mats or []):
        arrays[f"feedback.{k}"] = m
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=folder)
    os.close(fd)
    try:
        with open(tmp, "wb") as out:
            # numpy's stub reads **arrays as its allow_pickle argument
            np.savez(out, __digest__=np.array(digest), **arrays)  # type: ignore[arg-type]  # see above
        public_modes(Path(tmp))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return clf.network_.train(False), mats, False


def imported(path: str, x: np.ndarray, y: np.ndarray) -> SpikingNetwork:
    """The network of ``[model] file`` (:func:`snn_dfa.engine.io.load_network`), checked
    against the data: its inputs must match the windows' channels and its outputs the classes.
    It replaces pre-training for every rule (feedback matrices are drawn afresh)."""
    net = load_network(Path(path).expanduser())
    n_classes = int(np.max(y)) + 1
    if net.n_in != x.shape[2] or net.n_classes != n_classes:
        raise ValidationError(f"model.file={path!r}: the network takes {net.n_in} channels and "
                              f"gives {net.n_classes} classes; the data has {x.shape[2]} "
                              f"channels and {n_classes} classes")
    return net.train(False)


def _rule_options(config: RunConfig) -> dict[str, object]:
    """Every rule option the configuration sets; each rule takes the ones it accepts.  The
    OPU of ``optical_dfa`` is the device of the run's seed: the same medium in pre-training and
    on the chip."""
    o = config.optical
    return {"feedback_lr": config.adapt.sfdfa_feedback_lr, "threshold": o.threshold,
            "photons_per_unit": o.photons_per_unit, "bit_depth": o.bit_depth,
            "full_scale": o.full_scale, "frame_rate_hz": o.frame_rate_hz,
            "device_seed": config.seed}


def adaptation_rule(config: RunConfig, rule_name: str, net: SpikingNetwork,
                    feedback: list[np.ndarray] | None) -> Any:
    """The rule that adapts ``net`` on the chip: built from the configuration's seed alone, then
    given the pre-trained feedback matrices when the network was pre-trained with the same rule
    (DFA keeps its fixed matrices, SFDFA continues from its learned ones)."""
    spec = registry.get_rule(rule_name)
    opts = spec.select(_rule_options(config))
    rng = np.random.default_rng([config.seed, 3])
    rule = spec.build(net, seed=rng, **opts)
    if feedback is not None and spec.feedback is not None:
        rule.projector = spec.projector_from(  # type: ignore[attr-defined]  # rules with feedback
            feedback, dtype=net.dtype, seed=rng, **opts)
    return rule


def calibration_windows(config: RunConfig, x_train: np.ndarray) -> np.ndarray:
    """``calibration_windows`` training windows (a seeded random subset) read once at
    deployment to calibrate the converters: ``[N_cal, T, C]``."""
    n = min(config.crossbar.calibration_windows, len(x_train))
    idx = np.random.default_rng([config.seed, 5]).choice(len(x_train), n, replace=False)
    return x_train[np.sort(idx)]


def _adapt_privately(config: RunConfig, sub: SubjectData, rule_name: str, rule: Any,
                     net: SpikingNetwork, meter: PhaseMeter, noise_multiplier: float,
                     on_window: Any) -> dict[str, Any]:
    """DP-DFA (DP-SGD for backprop) adaptation to one wearer under ``[privacy]``; returns the
    stream metrics (prequential accuracy over the sampled windows, each predicted before its
    step's update; the curve is one point per step: first window index, batch accuracy) and
    the privacy spent."""
    from snn_dfa.privacy.spiking import ClippedProjector, PrivateAdapter

    p = config.privacy
    if registry.get_rule(rule_name).feedback is not None:
        rule.projector = ClippedProjector(rule.projector, p.clip_backward)
    expected = p.sampling_rate * len(sub.y_adapt)
    adapter = PrivateAdapter(net, rule, SGD(lr=config.adapt.lr_for(rule_name) * expected),
                             clip_update=p.clip_backward * p.clip_forward,
                             noise_multiplier=noise_multiplier, sampling_rate=p.sampling_rate,
                             seed=np.random.default_rng([config.seed, 5, sub.subject]),
                             on_phase=meter.phase, on_window=on_window)
    logs = adapter.fit(sub.x_adapt, sub.y_adapt, p.steps_for(config.adapt.epochs))
    sizes = np.array([log.batch_size for log in logs])
    correct = np.array([log.n_correct for log in logs])
    with np.errstate(invalid="ignore", divide="ignore"):
        per_step = np.where(sizes > 0, correct / np.maximum(sizes, 1), np.nan)
    return {"prequential_accuracy_pct": 100 * float(correct.sum() / max(sizes.sum(), 1)),
            "stream_steps": np.cumsum(sizes) - sizes, "stream_correct": per_step,
            "epsilon_spent": adapter.epsilon(p.delta), "noise_multiplier": noise_multiplier,
            "private_steps": len(logs),
            "clipped_fraction": float(np.mean([log.clipped_fraction for log in logs]))}


def accuracy(net: SpikingNetwork, x: np.ndarray, y: np.ndarray) -> float:
    """Share of windows ``x [N, T, C]`` whose prediction is ``y [N]`` (eval mode, batches of
    128)."""
    net.train(False)
    correct = 0
    for s in range(0, len(y), 128):
        z, _ = net.forward(np.ascontiguousarray(x[s:s + 128].transpose(1, 0, 2)))
        correct += int(np.sum(np.argmax(z, axis=1) == y[s:s + 128]))
    return correct / len(y)


def _conductances(arrays: dict) -> dict[int, np.ndarray]:
    return {i: a.conductances_uS.astype(np.float32) for i, a in arrays.items()}


def _conductance_changes(net: SpikingNetwork, arrays: dict, before: dict[int, np.ndarray]
                         ) -> dict[str, np.ndarray]:
    """Per synaptic layer (``layer<i>``), every device's conductance change during adaptation
    (uS, flat)."""
    after = _conductances(arrays)
    return {f"layer{i}": (after[i] - before[i]).ravel() for i in net.synaptic_layers}


def first_run() -> bool:
    """Whether the data cache or the compiled kernels are missing (the first run builds them,
    which takes a few minutes once)."""
    from snn_dfa.data import hapt
    from snn_dfa.engine import _kernels

    kernels = Path(_kernels.__file__)
    compiled = any((kernels.parent / "__pycache__").glob(f"{kernels.stem}.*.nbi"))
    return not hapt.cache_path().is_file() or not compiled


@dataclass
class RunResult:
    out_dir: Path
    metrics: dict[str, Any]
    costs: dict[str, Any]
    summary: dict[str, Any]


def run(config: RunConfig, out_dir: str | Path, progress: Progress | bool = False,
        cache_dir: str | Path | None = None, force: bool = False) -> RunResult:
    """Run the whole protocol and write its outputs to ``out_dir`` (see module docstring).

    ``progress``: a :class:`~snn_dfa.app.progress.Progress` (stage lines, bars, the run log),
    ``True`` for stage lines on stderr, ``False`` for silence.  The stage lines are written to
    ``out_dir/log.txt`` either way.  ``out_dir`` is checked before any work
    (:func:`snn_dfa.app.outdir.check_out`; ``force`` as there) and published atomically.
    """
    config.check()
    progress = as_progress(progress)
    started = datetime.now(UTC)
    out_dir = check_out(out_dir, force=force)
    if first_run():
        progress.stage("first run: converting the data and compiling the kernels take a few "
                       "minutes once; later runs reuse both")
    progress.stage("data: loading UCI HAPT windows")
    x_train, y_train, subjects, class_names = prepare_data(config)
    progress.stage(f"data: {len(y_train)} pre-training windows; adaptation subjects "
                   + ", ".join(f"{s.subject} ({len(s.y_adapt)} adaptation, {len(s.y_test)} "
                               "held-out windows)" for s in subjects))
    x_cal = calibration_windows(config, x_train)
    noise_multiplier = config.noise_multiplier() if config.privacy.enabled else 0.0
    for sub in subjects if config.privacy.enabled else ():
        if config.privacy.delta * len(sub.y_adapt) >= 1:
            raise ConfigError(f"privacy.delta={config.privacy.delta:g}: subject {sub.subject} has "
                              f"{len(sub.y_adapt)} adaptation windows; delta must be below "
                              f"1/{len(sub.y_adapt)}")
    rules = config.adapt.rules
    source = pretrain_sources(config)
    starts = {}
    for src in dict.fromkeys(source.values()):
        net, feedback, cached = pretrained(config, src, x_train, y_train,
                                           Path(cache_dir) if cache_dir else None, progress)
        folded = copy.deepcopy(net)
        folded.fold_batch_norm()
        starts[src] = (net, folded, feedback, cached)

    metrics: dict[str, Any] = {
        "class_names": np.array(class_names, dtype="S"),
        "pretrain_cached": all(p[3] for p in starts.values()), "subjects": {}}
    meters: dict[str, list[PhaseMeter]] = {r: [] for r in rules}
    conductance: dict[str, dict[str, np.ndarray]] = {}
    for sub in subjects:
        sm: dict[str, Any] = {"n_adapt_windows": len(sub.y_adapt),
                              "n_test_windows": len(sub.y_test)}
        for rule_name in rules:
            label = registry.label(rule_name)
            ideal, folded, feedback, _ = starts[source[rule_name]]
            net = copy.deepcopy(folded)
            arrays = deploy(net, config.crossbar, config.seed, calibration=x_cal)
            deployed_acc = accuracy(net, sub.x_test, sub.y_test)
            progress.stage(f"subject {sub.subject}, {label}: deployed on the crossbar, "
                           f"held-out accuracy {100 * deployed_acc:.1f} %")
            for a in arrays.values():
                a.reset_counters()
            before = _conductances(arrays) if sub is subjects[0] else None
            rule = adaptation_rule(config, rule_name, net,
                                   feedback if source[rule_name] == rule_name else None)
            meter = PhaseMeter(net, arrays, rule_name, projector=getattr(rule, "projector", None),
                               arch=architecture(net, config.crossbar, config.hwsim, rule_name))
            opu = getattr(rule, "projector", None)  # kept: privacy wraps rule.projector
            frames_before = getattr(opu, "frames", None)

            def on_window(trace: Any, learned: bool, meter: PhaseMeter = meter,
                          arrays: dict = arrays) -> None:
                meter.add_digital(trace, learned)
                advance_clock(arrays, config.crossbar.window_period_s)  # the chip relaxes

            how = "privately (DP)" if config.privacy.enabled else "on-chip"
            progress.stage(f"subject {sub.subject}, {label}: adapting {how}, "
                           f"{config.adapt.epochs} epoch(s) over {len(sub.y_adapt)} windows")
            if config.privacy.enabled:
                stream = _adapt_privately(config, sub, rule_name, rule, net, meter,
                                          noise_multiplier, on_window)
            else:
                adapter = OnlineAdapter(net, rule, SGD(lr=config.adapt.lr_for(rule_name)),
                                        on_phase=meter.phase, on_window=on_window)
                order_rng = np.random.default_rng([config.seed, 4, sub.subject])
                for epoch in range(config.adapt.epochs):
                    idx = np.arange(len(sub.y_adapt))
                    if config.adapt.order == "shuffled":
                        idx = order_rng.permutation(idx)
                    log = adapter.run(sub.x_adapt[idx], sub.y_adapt[idx], progress=progress.bars,
                                      desc=f"subject {sub.subject} {label} epoch {epoch + 1}")
                steps, curve = log.curve("correct")
                stream = {"prequential_accuracy_pct": 100 * log.mean("correct"),
                          "stream_steps": steps, "stream_correct": curve}
            final_acc = accuracy(net, sub.x_test, sub.y_test)
            progress.stage(f"subject {sub.subject}, {label}: adapted, held-out accuracy "
                           f"{100 * final_acc:.1f} %")
            sm[rule_name] = {
                "ideal_accuracy_pct": 100 * accuracy(ideal, sub.x_test, sub.y_test),
                "deployed_accuracy_pct": 100 * deployed_acc,
                "final_accuracy_pct": 100 * final_acc,
                **stream,
                "write_pulses": float(sum(a.counters.totals()["programming_pulses"]
                                          for a in arrays.values())),
                "chip_time_at_end_s": float(next(iter(arrays.values())).time_s),
            }
            if opu is not None and frames_before is not None:  # an optical projector
                frames = float(opu.frames - frames_before)  # the OPU's camera frames
                sm[rule_name]["opu_frames"] = frames
                sm[rule_name]["opu_frames_per_learned_window"] = frames / max(meter.samples, 1)
            meters[rule_name].append(meter)
            if before is not None:
                conductance[rule_name] = _conductance_changes(net, arrays, before)
        metrics["subjects"][str(sub.subject)] = sm
    metrics["conductance_change_uS"] = conductance

    progress.stage("costing: energy, area and latency of every phase with hwsim ("
                   + ", ".join(registry.label(r) for r in rules) + ")")
    costs, reports = _costs(config, starts[source[rules[0]]][1], meters)
    summary = _summary(config, metrics, reports)
    metrics["summary"] = {k: v for k, v in summary.items() if not isinstance(v, dict)}
    progress.stage(f"writing results.h5, report.md, report.html and figures/ to {out_dir}")
    _write_outputs(config, out_dir, started, metrics, costs, progress.log_text(), force)
    progress.stage(f"done in {format_duration(progress.elapsed_s)}")
    return RunResult(out_dir, metrics, costs, summary)


def _merged_workload(meters: list[PhaseMeter]) -> hwsim.Workload:
    """One workload over every subject's stream (counts and windows add)."""
    works = [m.workload() for m in meters]
    layers = []
    for per_layer in zip(*(w.layers for w in works)):
        first = per_layer[0]
        phases = {}
        for p in hwsim.PHASES:
            total = hwsim.Counts()
            for lw in per_layer:
                total = total + lw.counts(p)
            phases[p] = total
        layers.append(hwsim.LayerWorkload(first.name, first.kind, first.n_in, first.n_out,
                                          first.time_steps, phases))
    return hwsim.Workload(tuple(layers), samples=sum(w.samples for w in works),
                          inference_windows=sum(w.windows("inference") for w in works))


def _costs(config: RunConfig, net: SpikingNetwork, meters: dict[str, list[PhaseMeter]]
           ) -> tuple[dict[str, Any], dict[str, hwsim.CostReport]]:
    """Cost reports per rule, and the sensitivity of the rule/BP ratios to the costing
    assumptions (``costs["sensitivity"]``, when BP ran beside another rule)."""
    tech = cost_tech(config.crossbar, config.hwsim)
    asm = assumptions(config.hwsim)
    reports, cases = {}, {}
    for rule, ms in meters.items():
        arch = architecture(net, config.crossbar, config.hwsim, rule)
        work = _merged_workload(ms)
        reports[rule] = hwsim.estimate(work, arch, tech, label=rule, assumptions=asm)
        cases[rule] = (work, arch)
    costs: dict[str, Any] = {rule: rep.to_dict() for rule, rep in reports.items()}
    bp = registry.baseline().name
    if bp in cases and len(cases) > 1:
        costs["sensitivity"] = sensitivity_to_dict(
            sensitivity_table(cases, tech, base=asm, baseline=bp))
    return costs, reports


def _ratio(a: float, b: float) -> float:
    """``a / b``; infinite when only ``b`` is zero (a rule without error delivery, say)."""
    return a / b if b else (float("nan") if a == 0 else float("inf"))


def _summary(config: RunConfig, metrics: dict[str, Any], reports: dict[str, hwsim.CostReport]
             ) -> dict[str, Any]:
    """Accuracies, each rule's cost summary (``<rule>_<CostReport.summary name>``, units in
    the names) and the rule/BP ratios."""
    subs = metrics["subjects"].values()
    out: dict[str, Any] = {}
    for rule in config.adapt.rules:
        for key in ("ideal", "deployed", "final", "prequential"):
            out[f"{rule}_{key}_accuracy_pct"] = float(np.mean(
                [s[rule][f"{key}_accuracy_pct"] for s in subs]))
        if config.privacy.enabled:
            out[f"{rule}_epsilon_spent_max"] = float(max(s[rule]["epsilon_spent"] for s in subs))
        for key, value in reports[rule].summary().items():
            out[f"{rule}_{key}"] = float(value)
    bp = registry.baseline().name
    if bp in config.adapt.rules:
        for rule in config.adapt.rules:
            if rule != bp:
                ratio = reports[rule].ratio(reports[bp])
                out[f"{rule}_vs_bp_energy_ratio"] = ratio["energy_pJ_per_learned_window"]
                out[f"{rule}_vs_bp_area_ratio"] = ratio["area_um2"]
                out[f"{rule}_vs_bp_latency_speedup"] = _ratio(
                    1.0, ratio["latency_ns_per_learned_window"])
                out[f"{rule}_vs_bp_delivery_energy_ratio"] = ratio[
                    "error_delivery_energy_pJ_per_learned_window"]
                out[f"{rule}_vs_bp_delivery_latency_speedup"] = _ratio(
                    1.0, ratio["error_delivery_latency_ns_per_learned_window"])
                out[f"{rule}_vs_bp_accuracy_gain_points"] = (
                    out[f"{rule}_final_accuracy_pct"] - out[f"{bp}_final_accuracy_pct"])
    return out


def _write_outputs(config: RunConfig, out_dir: Path, started: datetime, metrics: dict[str, Any],
                   costs: dict[str, Any], log: str, force: bool) -> None:
    from snn_dfa.app.report import write_report

    staging = new_staging(out_dir)
    try:
        write_results(staging / "results.h5", config.to_dict(),
                      provenance(config.seed, started), metrics, costs)
        # the report reads the file back: every number it shows is the file's
        write_report(staging, read_results(staging / "results.h5"))
        (staging / "log.txt").write_text(log)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish(staging, out_dir, force)

