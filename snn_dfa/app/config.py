"""The configuration of a run: TOML in, validated frozen records out.

Every section is a frozen dataclass; unknown keys raise :class:`ConfigError` with a
"did you mean", wrong types and out-of-range values raise it naming the key, the value and
what was expected.  :data:`EXAMPLE` is the documented example ``snn-dfa config --example``
prints, and :func:`demo_config` is the embedded default of ``snn-dfa demo``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from snn_dfa._validation import check_keys
from snn_dfa.errors import ConfigError, DataError, ValidationError
from snn_dfa.rules import optical, registry

#: the rules the main job adapts with by default (every registered rule is accepted)
RULES = ("bp", "dfa", "sfdfa")

# Upper bounds that catch a value which would crash or exhaust memory later, not settings
# anyone needs [assumption: 10-100x beyond any configuration of the papers or of this repo].
MAX_SEED = 2**63 - 1  # numpy's generators take any int; results files store int64
MAX_SUBJECT = 2**31 - 1
MAX_WINDOWS = 10_000_000
MAX_BLOCKS = 16
MAX_CHANNELS = 4096
MAX_KERNEL = 256
MAX_EPOCHS = 10_000
MAX_BATCH = 65_536
MAX_ARRAY = 4096  # crossbar rows = columns (SpikeSim and NeuRRAM use 64 and 256)
MAX_LR = 1e3
MAX_REAL = 1e6  # thresholds, noise spreads, drift exponents
MAX_TIME_S = 1e10  # about 300 years


def _canonical_rules(names: tuple[str, ...]) -> tuple[str, ...]:
    """Aliases (``"bptt"``) as their rule's canonical name; unknown names are left for
    ``check`` to report with the key."""
    out = []
    for name in names:
        try:
            out.append(registry.canonical(name))
        except ValidationError:
            out.append(name)
    return tuple(out)


@dataclass(frozen=True)
class DataSection:
    """``[data]``: which windows and which subjects adapt."""

    dataset: str = "hapt"
    split: str = "test"
    adapt_subjects: tuple[int, ...] = (2, 9)
    adapt_fraction: float = 0.5
    block_windows: int = 16
    max_pretrain_windows: int = 0

    def check(self) -> None:
        _choice("data.dataset", self.dataset, ("hapt",))
        _choice("data.split", self.split, ("test", "tuning"))
        if not self.adapt_subjects:
            raise ConfigError("data.adapt_subjects: expected at least one subject")
        _range("data.adapt_fraction", self.adapt_fraction, 0.0, 1.0, open_low=True, open_high=True)
        for i, s in enumerate(self.adapt_subjects):
            _range(f"data.adapt_subjects[{i}]", s, 1, MAX_SUBJECT)
        _range("data.block_windows", self.block_windows, 1, MAX_WINDOWS)
        _range("data.max_pretrain_windows", self.max_pretrain_windows, 0, MAX_WINDOWS)


@dataclass(frozen=True)
class ModelSection:
    """``[model]``: the network (SNN_HAR's SFCN by default)."""

    name: str = "sfcn"
    channels: tuple[int, ...] = (32, 64, 128)
    kernel_size: int = 8
    beta: float = 0.75
    threshold: float = 0.5
    file: str = ""  # a network file (snn_dfa.engine.io) used instead of pre-training

    def check(self) -> None:
        _choice("model.name", self.name, ("sfcn",))
        if self.file and not Path(self.file).expanduser().is_file():
            raise ConfigError(f"model.file={show(self.file)}: no such file (write one with "
                              "snn_dfa.engine.io.save_network)")
        if not 1 <= len(self.channels) <= MAX_BLOCKS:
            raise ConfigError(f"model.channels={list(self.channels)}: expected 1 to {MAX_BLOCKS} "
                              "blocks")
        for i, c in enumerate(self.channels):
            _range(f"model.channels[{i}]", c, 1, MAX_CHANNELS)
        _range("model.kernel_size", self.kernel_size, 1, MAX_KERNEL)
        _range("model.beta", self.beta, 0.0, 1.0)
        _range("model.threshold", self.threshold, 0.0, MAX_REAL, open_low=True)


@dataclass(frozen=True)
class PretrainSection:
    """``[pretrain]``: cloud pre-training on ideal weights."""

    rule: str = "matched"
    epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-3
    noise_aware: bool = False

    def __post_init__(self) -> None:
        if self.rule != "matched":
            object.__setattr__(self, "rule", _canonical_rules((self.rule,))[0])

    def check(self) -> None:
        _choice("pretrain.rule", self.rule, ("matched", *registry.names()))
        _range("pretrain.epochs", self.epochs, 1, MAX_EPOCHS)
        _range("pretrain.batch_size", self.batch_size, 1, MAX_BATCH)
        _range("pretrain.lr", self.lr, 0.0, MAX_LR, open_low=True)


@dataclass(frozen=True)
class CrossbarSection:
    """``[crossbar]``: device preset, array size, periphery, non-idealities, time, updates.

    The defaults are the measured chip (docs/crossbar.md): the Wan 2022 programming spread
    and relaxation, ADC ranges calibrated at deployment, updates that accumulate.
    """

    device: str = "neurram_hfo2"
    array_size: int = 64
    adc_bits: int = 6
    adc_range: str = "calibrated"
    adc_full_scale_fraction: float = 1.0
    dac_range: str = "dynamic"
    calibration_percentile: float = 99.9
    calibration_scope: str = "tile"
    calibration_windows: int = 64
    columns_per_adc: int = 8
    ir_drop: str = "fast"
    ir_fast_update: str = "incremental"
    noise_model: str = "wan2022"
    prog_noise_scale: float = 1.0
    prog_sigma_rel: float = 0.0
    read_sigma_rel: float = 0.01
    sa0_fraction: float = 0.0
    sa1_fraction: float = 0.0
    drift_nu: float = 0.0
    c2c_sigma_rel: float = 0.05
    time_at_deployment_s: float = 1.0
    window_period_s: float = 1.28
    update_mode: str = "accumulate"
    bit_length: int = 10

    def check(self) -> None:
        from crossbar import PRESETS
        from crossbar.noise import NOISE_MODELS
        from crossbar.periphery import ADC_RANGES, CALIBRATION_SCOPES, DAC_RANGES
        from crossbar.update import UPDATE_MODES

        _choice("crossbar.device", self.device, tuple(PRESETS))
        _range("crossbar.array_size", self.array_size, 1, MAX_ARRAY)
        _range("crossbar.adc_bits", self.adc_bits, 2, 16)
        _choice("crossbar.adc_range", self.adc_range, ADC_RANGES)
        _range("crossbar.adc_full_scale_fraction", self.adc_full_scale_fraction, 0.0, 1.0,
               open_low=True)
        if self.adc_range == "calibrated" and self.adc_full_scale_fraction != 1.0:
            raise ConfigError(
                f"crossbar.adc_full_scale_fraction={self.adc_full_scale_fraction!r}: expected "
                "1.0 with adc_range = 'calibrated' (the range comes from "
                "calibration_percentile)")
        _choice("crossbar.dac_range", self.dac_range, DAC_RANGES)
        _range("crossbar.calibration_percentile", self.calibration_percentile, 0.0, 100.0,
               open_low=True)
        _choice("crossbar.calibration_scope", self.calibration_scope, CALIBRATION_SCOPES)
        _range("crossbar.calibration_windows", self.calibration_windows, 1, MAX_WINDOWS)
        _range("crossbar.columns_per_adc", self.columns_per_adc, 1, MAX_ARRAY)
        _choice("crossbar.ir_drop", self.ir_drop, ("none", "fast", "exact"))
        _choice("crossbar.ir_fast_update", self.ir_fast_update, ("incremental", "full"))
        _choice("crossbar.noise_model", self.noise_model, NOISE_MODELS)
        for name in ("prog_noise_scale", "prog_sigma_rel", "read_sigma_rel", "drift_nu",
                     "c2c_sigma_rel"):
            _range(f"crossbar.{name}", getattr(self, name), 0.0, MAX_REAL)
        for name in ("time_at_deployment_s", "window_period_s"):
            _range(f"crossbar.{name}", getattr(self, name), 0.0, MAX_TIME_S)
        for name in ("sa0_fraction", "sa1_fraction"):
            _range(f"crossbar.{name}", getattr(self, name), 0.0, 1.0)
        if self.noise_model == "relative":
            if self.prog_noise_scale != 1.0:
                raise ConfigError(
                    f"crossbar.prog_noise_scale={self.prog_noise_scale!r}: expected 1.0 with "
                    "noise_model = 'relative' (use prog_sigma_rel)")
        else:
            for name in ("prog_sigma_rel", "drift_nu"):
                if getattr(self, name) != 0.0:
                    raise ConfigError(
                        f"crossbar.{name}={getattr(self, name)!r}: expected 0.0 with "
                        f"noise_model = {self.noise_model!r} (it belongs to the stress setting "
                        "noise_model = 'relative')")
        _choice("crossbar.update_mode", self.update_mode, UPDATE_MODES)
        _range("crossbar.bit_length", self.bit_length, 1, MAX_WINDOWS)


@dataclass(frozen=True)
class AdaptSection:
    """``[adapt]``: on-device adaptation, batch 1, predict then update."""

    rules: tuple[str, ...] = RULES
    epochs: int = 2
    order: str = "shuffled"
    lr: float = 3e-4
    lr_by_rule: dict[str, float] = field(default_factory=dict)
    sfdfa_feedback_lr: float = 1e-2

    def __post_init__(self) -> None:
        if isinstance(self.rules, tuple):
            object.__setattr__(self, "rules", _canonical_rules(self.rules))
        if isinstance(self.lr_by_rule, dict):
            keys = _canonical_rules(tuple(self.lr_by_rule))
            object.__setattr__(self, "lr_by_rule", dict(zip(keys, self.lr_by_rule.values())))

    def lr_for(self, rule: str) -> float:
        """The step size of ``rule``: its entry in ``lr_by_rule``, else the shared ``lr``."""
        return self.lr_by_rule.get(rule, self.lr)

    def check(self) -> None:
        if not self.rules:
            raise ConfigError("adapt.rules: expected at least one rule")
        for r in self.rules:
            _choice("adapt.rules", r, registry.names())
        if len(set(self.rules)) != len(self.rules):
            raise ConfigError(f"adapt.rules={list(self.rules)}: a rule is named twice")
        _range("adapt.epochs", self.epochs, 1, MAX_EPOCHS)
        _choice("adapt.order", self.order, ("shuffled", "recording"))
        _range("adapt.lr", self.lr, 0.0, MAX_LR, open_low=True)
        for r, lr in self.lr_by_rule.items():
            _choice("adapt.lr_by_rule", r, registry.names())
            _range(f"adapt.lr_by_rule.{r}", lr, 0.0, MAX_LR, open_low=True)
        _range("adapt.sfdfa_feedback_lr", self.sfdfa_feedback_lr, 0.0, 1.0, open_low=True)


@dataclass(frozen=True)
class HwsimSection:
    """``[hwsim]``: technology preset, learning units and the costing assumptions.

    The assumptions and their defaults are ``hwsim.Assumptions`` (docs/hwsim.md, section 4);
    the report shows how each one moves the rule/BP ratios whatever is chosen here.
    """

    tech: str = "spikesim65"
    feedback_storage: str = "sram"
    input_bits: int = 8
    delta_bits: int = 8
    leakage: str = "gated"
    multibit_reads: str = "bit_serial"
    update_arithmetic: str = "spike_gated"
    periphery: str = "shared"
    charge_storage: str = "all"

    def check(self) -> None:
        from hwsim import PRESETS
        from hwsim.assumptions import (
            LEAKAGE,
            MULTIBIT_READS,
            PERIPHERY,
            STORAGE,
            UPDATE_ARITHMETIC,
        )

        _choice("hwsim.tech", self.tech, tuple(PRESETS))
        _choice("hwsim.feedback_storage", self.feedback_storage, ("sram", "crossbar"))
        _range("hwsim.input_bits", self.input_bits, 1, 32)
        _range("hwsim.delta_bits", self.delta_bits, 1, 32)
        _choice("hwsim.leakage", self.leakage, LEAKAGE)
        _choice("hwsim.multibit_reads", self.multibit_reads, MULTIBIT_READS)
        _choice("hwsim.update_arithmetic", self.update_arithmetic, UPDATE_ARITHMETIC)
        _choice("hwsim.periphery", self.periphery, PERIPHERY)
        _choice("hwsim.charge_storage", self.charge_storage, STORAGE)


@dataclass(frozen=True)
class PrivacySection:
    """``[privacy]``: differentially private adaptation to each wearer (docs/privacy.md).

    When enabled, every adaptation rule runs as DP-DFA (DP-SGD for ``bptt``): Poisson-sampled
    steps over the wearer's adaptation windows (rate ``sampling_rate``, ``ceil(adapt.epochs /
    sampling_rate)`` steps), the projected error clipped to ``clip_backward``, every layer's
    per-window update to ``clip_backward * clip_forward``, Gaussian noise calibrated so that
    each wearer's windows spend at most ``epsilon`` at ``delta`` (add/remove one window).
    The learning rate is the rule's ``adapt`` rate times the expected batch, so that an epoch
    moves the weights as far as the streaming adaptation does.
    """

    enabled: bool = False
    epsilon: float = 4.0
    delta: float = 1e-5
    clip_backward: float = 0.05
    clip_forward: float = 50.0
    sampling_rate: float = 0.05
    max_noise_multiplier: float = 20.0

    def steps_for(self, epochs: int) -> int:
        """Private steps for ``epochs`` expected passes over the windows."""
        return math.ceil(epochs / self.sampling_rate)

    def check(self) -> None:
        _range("privacy.epsilon", self.epsilon, 0.0, MAX_REAL, open_low=True)
        _range("privacy.delta", self.delta, 0.0, 1.0, open_low=True, open_high=True)
        _range("privacy.clip_backward", self.clip_backward, 0.0, MAX_REAL, open_low=True)
        _range("privacy.clip_forward", self.clip_forward, 0.0, MAX_REAL, open_low=True)
        _range("privacy.sampling_rate", self.sampling_rate, 0.0, 1.0, open_low=True)
        _range("privacy.max_noise_multiplier", self.max_noise_multiplier, 0.0, MAX_REAL,
               open_low=True)


@dataclass(frozen=True)
class OpticalSection:
    """``[optical]``: the simulated optical co-processor (OPU) of the ``optical_dfa`` rule
    (docs/guide.md, "Optical DFA"; :mod:`snn_dfa.rules.optical`).  Read only when that rule runs."""

    threshold: float = optical.THRESHOLD
    photons_per_unit: float = optical.PHOTONS_PER_UNIT
    bit_depth: int = optical.BIT_DEPTH
    full_scale: float = optical.FULL_SCALE
    frame_rate_hz: float = optical.FRAME_RATE_HZ

    def check(self) -> None:
        _range("optical.threshold", self.threshold, 0.0, MAX_REAL)
        _range("optical.photons_per_unit", self.photons_per_unit, 0.0, MAX_REAL)
        _range("optical.bit_depth", self.bit_depth, 0, 32)
        _range("optical.full_scale", self.full_scale, 0.0, MAX_REAL, open_low=True)
        _range("optical.frame_rate_hz", self.frame_rate_hz, 0.0, MAX_REAL, open_low=True)


#: sections that configure one rule only: left out of :meth:`RunConfig.digest` unless that rule
#: runs (adapted or pre-trained with), so a configuration that does not use them keeps the
#: digest, the sweep point key and the cache key it had before they existed
RULE_SECTIONS = {"optical": "optical_dfa"}
#: Keys left out of :meth:`RunConfig.digest` at these values: keys added after results were
#: cached under digests that did not have them, at the value that reproduces those results
#: bit for bit, so old keys stay valid for exactly the computation that made them
#: (``crossbar.ir_fast_update = "full"``: the fast IR-drop model solved again from scratch, as
#: before the incremental update existed).  Any other value, including a new default that is
#: not bit-identical (the incremental update is within ``ir_fast_tolerance`` per array, but
#: runs diverge from there through spikes and pulses), gets keys of its own: a cache never
#: serves results of another computation.
DIGEST_DEFAULTS = {("crossbar", "ir_fast_update"): "full"}


@dataclass(frozen=True)
class RunConfig:
    """A whole run."""

    seed: int = 0
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    pretrain: PretrainSection = field(default_factory=PretrainSection)
    crossbar: CrossbarSection = field(default_factory=CrossbarSection)
    adapt: AdaptSection = field(default_factory=AdaptSection)
    hwsim: HwsimSection = field(default_factory=HwsimSection)
    privacy: PrivacySection = field(default_factory=PrivacySection)
    optical: OpticalSection = field(default_factory=OpticalSection)

    def check(self) -> None:
        _range("seed", self.seed, 0, MAX_SEED)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if hasattr(value, "check"):
                value.check()
        if self.privacy.enabled:
            self.noise_multiplier()

    def noise_multiplier(self) -> float:
        """The private adaptation's noise multiplier for ``[privacy]``'s budget; raises
        :class:`ConfigError` when the budget cannot be met."""
        from snn_dfa.privacy import BudgetError, noise_multiplier_for
        from snn_dfa.privacy.spiking import check_rule

        p = self.privacy
        for rule in self.adapt.rules:
            try:
                check_rule(rule)
            except ValidationError as exc:
                raise ConfigError(f"privacy.enabled=true with adapt.rules: {exc}") from None
        try:
            return noise_multiplier_for(p.epsilon, p.delta, p.sampling_rate,
                                        p.steps_for(self.adapt.epochs),
                                        max_noise_multiplier=p.max_noise_multiplier)
        except BudgetError as exc:
            raise ConfigError(f"privacy: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def digest(self, *sections: str, exclude: tuple[str, ...] = ()) -> str:
        """SHA-256 (16 hex digits) of the named sections (all when none), for cache keys;
        ``exclude`` names ``"section.key"`` entries left out."""
        d = self.to_dict()
        used = {*self.adapt.rules, self.pretrain.rule}
        for section, rule in RULE_SECTIONS.items():
            if rule not in used:
                d.pop(section)
        for (section, key), value in DIGEST_DEFAULTS.items():
            if d[section].get(key) == value:
                d[section].pop(key)
        for entry in exclude:
            section, key = entry.split(".", 1)
            d[section].pop(key, None)
        keys = sections or tuple(d)
        blob = json.dumps({k: d[k] for k in keys}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def show(value: Any) -> str:
    """``repr(value)`` for a one-line message: shortened, and safe for values whose repr
    fails (integers of thousands of digits, lists nested thousands deep)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= 60 else text[:57] + "..."


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={show(value)}: expected one of {', '.join(map(repr, choices))}")


def _range(name: str, value: Any, low: float | None, high: float | None,
           open_low: bool = False, open_high: bool = False) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name}={show(value)}: expected a finite number")
    bad_low = low is not None and (value < low or (open_low and value == low))
    bad_high = high is not None and (value > high or (open_high and value == high))
    if bad_low or bad_high:
        lo = "" if low is None else f"{'>' if open_low else '>='} {low}"
        hi = "" if high is None else f"{'<' if open_high else '<='} {high}"
        raise ConfigError(f"{name}={show(value)}: expected a value {' and '.join(filter(None, [lo, hi]))}")


def _coerce(where: str, hint: Any, value: Any) -> Any:
    """Check ``value`` against the annotation ``hint`` (int, float, str, bool, tuples)."""
    origin = getattr(hint, "__origin__", None)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}={show(value)}: expected a list")
        item = hint.__args__[0]
        return tuple(_coerce(f"{where}[{i}]", item, v) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}={show(value)}: expected a table")
        item = hint.__args__[1]
        return {str(k): _coerce(f"{where}.{k}", item, v) for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{where}={show(value)}: out of range for a float") from None
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise ConfigError(f"{where}={show(value)}: expected {hint.__name__}")
    return value


def _build(cls: type, where: str, data: dict[str, Any]) -> Any:
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    check_keys(where or "config", data, names)
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"[{key}]: expected a table, got {show(value)}")
            kwargs[name] = _build(hint, key, value)  # type: ignore[arg-type]  # is_dataclass(hint) holds for the class itself here, not an instance
        else:
            kwargs[name] = _coerce(key, hint, value)
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Validate a nested mapping (as TOML gives it) into a :class:`RunConfig`."""
    config = _build(RunConfig, "", data)
    config.check()
    return config


#: configuration and sweep files are small; anything larger is not one [assumption]
MAX_TOML_BYTES = 1 << 20


def read_toml(path: str | os.PathLike[str], what: str = "config file") -> dict[str, Any]:
    """Parse a TOML file; unreadable files raise DataError, malformed ones ConfigError."""
    path = Path(path)
    where = f"{what} {str(path)!r}"
    try:
        if not path.is_file():  # a folder, a device (/dev/zero) or nothing
            raise DataError(f"{where}: missing or not a regular file")
        if path.stat().st_size > MAX_TOML_BYTES:
            raise DataError(f"{where}: {path.stat().st_size} bytes; expected a TOML file of "
                            f"at most {MAX_TOML_BYTES}")
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DataError(f"{where}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML configuration file."""
    return config_from_dict(read_toml(path))


def demo_config(seed: int = 0) -> RunConfig:
    """The embedded default of ``snn-dfa demo`` (a few minutes on 2 cores)."""
    config = RunConfig(seed=seed)
    config.check()
    return config


EXAMPLE = """\
# snn-dfa run configuration (TOML). Every key is optional; the values shown are the defaults.
seed = 0                     # one seed drives data order, initialisation, devices and rules

[data]
dataset = "hapt"             # UCI HAPT windows (9 UCI-HAR channels, 128 samples, 6 classes)
split = "test"               # "test": adapt to held-out subjects; "tuning": adapt to the
                             #   training subjects named below, left out of pre-training
                             #   (for choosing settings without touching the held-out ones)
adapt_subjects = [2, 9]      # held-out subjects whose data the chip adapts to
adapt_fraction = 0.5         # share of each subject's blocks used for adaptation; the rest
block_windows = 16           #   (blocks of 16 consecutive windows, ~20 s) is the final test
max_pretrain_windows = 0     # 0: every training window; N: a random subset (quick runs)

[model]
name = "sfcn"                # SNN_HAR's spiking fully-convolutional network
channels = [32, 64, 128]
kernel_size = 8
beta = 0.75                  # membrane leak per step
threshold = 0.5
file = ""                    # a network file (snn_dfa.engine.io.save_network, e.g. an snntorch
                             #   net via snn_dfa.deep.snntorch_bridge.to_engine) deployed and
                             #   adapted instead of pre-training the network above

[pretrain]                   # cloud pre-training on ideal weights (cached by hash)
rule = "matched"             # each on-chip rule starts from a network trained with that rule
                             # (DFA/SFDFA keep their feedback), or a rule's name ("bp") for all
epochs = 2
batch_size = 64
lr = 1e-3                    # Adam
noise_aware = false          # inject the chip's noise model (crossbar section) into every
                             #   forward pass of pre-training (hardware-aware training)

[crossbar]                   # the measured chip by default (docs/crossbar.md)
device = "neurram_hfo2"      # or "generic_rram"
array_size = 64              # rows = columns per array (SpikeSim: 64)
adc_bits = 6
adc_range = "calibrated"     # full scale from a calibration batch at deployment, or "max"
                             #   (the largest possible column current)
adc_full_scale_fraction = 1.0  # "max" only: fraction of the largest possible current
dac_range = "dynamic"        # per-vector input scaling, or "calibrated" (fixed, percentile)
calibration_percentile = 99.9  # percentile of measured magnitudes taken as full scale
                               #   [assumption: clips ~1 output in 1000]
calibration_scope = "tile"   # one ADC range per tile, or "layer"
calibration_windows = 64     # training windows read once to calibrate [assumption]
columns_per_adc = 8          # sense lines sharing one ADC (SpikeSim: 8)
ir_drop = "fast"             # "none", "fast" (to tolerance; exact solve where it cannot) or "exact"
ir_fast_update = "incremental"  # "fast" after conductance changes: update each array's solution
                             #   within the fast model's tolerance (docs/crossbar.md), or "full":
                             #   solve every changed array again
noise_model = "wan2022"      # programming spread and relaxation fitted to NeuRRAM (Wan et al.
                             #   2022, aihwkit's fits), "gpr" (fitted table) or "relative"
prog_noise_scale = 1.0       # multiplier of the wan2022 / gpr spread
prog_sigma_rel = 0.0         # "relative" only: spread as a fraction of the range (stress)
read_sigma_rel = 0.01        # read noise, relative (aihwkit's note on Wan 2022: about 1 %)
sa0_fraction = 0.0           # stuck-at-G_min devices
sa1_fraction = 0.0           # stuck-at-G_max devices
drift_nu = 0.0               # "relative" only: generic drift exponent
c2c_sigma_rel = 0.05         # cycle-to-cycle write noise of programming pulses [assumption]
time_at_deployment_s = 1.0   # seconds from programming to the first inference [assumption:
                             #   the earliest time of the Wan 2022 fits]
window_period_s = 1.28       # seconds between adaptation windows (UCI HAR: 2.56 s windows,
                             #   50 % overlap); the chip relaxes along the stream
update_mode = "accumulate"   # per-weight accumulator (Nandakumar 2020), "stochastic"
                             #   rounding, "coincidence" (Gokmen & Vlasov 2016), "nearest"
                             #   (sub-pulse changes lost) or "reprogram"
bit_length = 10              # "coincidence": stochastic pulses per line per round

[adapt]                      # on-device, batch 1, predict then update (plain SGD)
rules = ["bp", "dfa", "sfdfa"]   # any of "bp" (alias "bptt"), "dfa", "sfdfa", "shallow",
                                 #   "none", "optical_dfa" (settings in [optical] below)
epochs = 2                   # passes over the adaptation windows
order = "shuffled"           # or "recording" (chronological: strongly correlated labels)
lr = 3e-4                    # SGD step of every rule, unless set per rule:
lr_by_rule = {}              #   e.g. {bp = 1e-3, dfa = 3e-4} (the study's, from a search)
sfdfa_feedback_lr = 1e-2     # SFDFA's feedback moving-average step (pre-training too)

[hwsim]
tech = "spikesim65"          # technology preset (SpikeSim 65 nm constants)
feedback_storage = "sram"    # where DFA/SFDFA keep B: "sram" or "crossbar"
input_bits = 8               # bit-serial passes of a multi-level input (direct-encoded data, tangents)
delta_bits = 8               # bit-serial passes of an error driven into the arrays
leakage = "gated"            # idle periphery power-gated; "always_on": all of it leaks in every phase
multibit_reads = "bit_serial"   # or "single_pass" (one read through a multi-level DAC)
update_arithmetic = "spike_gated"   # one add per input spike and output; or "dense_mac"
periphery = "shared"         # BP's transposed reads on a transposable periphery; or "duplicated"
charge_storage = "all"       # whose learning store is charged: "all", "bp_only", "none"

[privacy]                    # differentially private adaptation (docs/privacy.md)
enabled = false              # true: DP-DFA (DP-SGD for bptt) on Poisson-sampled steps
epsilon = 4.0                # budget per wearer, at delta, adjacency add/remove one window
delta = 1e-5                 # must stay below 1 / (a wearer's adaptation windows)
clip_backward = 0.05         # bound on the projected error B e of a window [assumption]
clip_forward = 50.0          # per-window update bound = clip_backward * clip_forward [assumption]
sampling_rate = 0.05         # Poisson rate of a window joining a step; steps = epochs / rate
max_noise_multiplier = 20.0  # refuse budgets that need more noise than this [assumption]

[optical]                    # the simulated optical co-processor of rule "optical_dfa"
threshold = 0.25             # ternarisation threshold on the error [assumption: TinyDFA's 0.1
                             #   sent a 10-class MLP to chance]
photons_per_unit = 1000.0    # photon budget: detected photons per unit intensity; 0 = no
                             #   shot noise [assumption: no published figure]
bit_depth = 8                # camera bits (LightOn's lightonml returns uint8); 0 = unquantised
full_scale = 16.0            # camera saturation, in units of intensity [assumption]
frame_rate_hz = 750.0        # OPU frames per second [assumption: 1500 TeraOPS at 10^6 x 10^6
                             #   means 2e12 operations per frame at 750 frames/s]
"""
