"""Interruptions, damaged caches, sweeps' bad input and a busy port 8787: one line and nothing
lost.  (--out cases: tests/test_outdir.py; damaged results: tests/test_report_damaged.py;
configuration fuzzing: tests/test_fuzz_config.py.)"""

from __future__ import annotations

import math
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from snn_dfa.app import experiment
from snn_dfa.app.cli import main
from snn_dfa.app.config import config_from_dict
from snn_dfa.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BASE = {"seed": 3, "data": {"adapt_subjects": [2]}, "model": {"channels": [4, 8]},
        "pretrain": {"epochs": 1}, "adapt": {"rules": ["dfa"], "epochs": 1}}


# -- Ctrl-C at any moment: one line, exit 130 ------------------------------------------------------

@pytest.mark.parametrize("after_s", [0.3, 1.0, 3.0, 8.0])
def test_ctrl_c_gives_one_line_and_exit_130(tmp_path, after_s):
    """SIGINT while Python imports the command line, while data load and while the network
    trains: one line on stderr (after the stage lines so far), exit code 130, no output."""
    proc = subprocess.Popen([sys.executable, "-m", "snn_dfa", "demo", "--out",
                             str(tmp_path / "out")], cwd=tmp_path, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            # a shell's background job starts with SIGINT ignored, and an ignored
                            # signal stays ignored across exec: give the child the default
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    # progress lines may come first (one per stage); the interruption is one line, no traceback
    assert err.splitlines()[-1].startswith("snn-dfa: interrupted") and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


def test_console_command_exits_130_the_same_way(tmp_path):
    """The installed ``snn-dfa`` runs the same entry point as ``python -m snn_dfa``."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    scripts = cfg["options.entry_points"]["console_scripts"]
    assert "snn-dfa = snn_dfa.app.cli:run" in scripts
    proc = subprocess.Popen([sys.executable, "-c", "from snn_dfa.app.cli import run; run()",
                             "demo", "--out", str(tmp_path / "out")], cwd=tmp_path,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1].startswith("snn-dfa: interrupted") and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


# -- caches that heal ---------------------------------------------------------------------------

def test_unreadable_pretraining_cache_entries_are_rebuilt(tmp_path, capsys):
    """A 0-byte entry and a folder in place of an entry are rebuilt with one line each; the
    folder is moved aside, never deleted; entries are 0644 like any new file."""
    config = config_from_dict(BASE)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 16, 9)).astype(np.float32)
    y = np.arange(60) % 6
    cache = tmp_path / "cache"
    ref, _, cached = experiment.pretrained(config, "dfa", x, y, cache, False)
    (entry,) = cache.glob("*.npz")
    assert not cached
    assert stat.S_IMODE(entry.stat().st_mode) == 0o666 & ~_umask()
    entry.write_bytes(b"")
    net, _, cached = experiment.pretrained(config, "dfa", x, y, cache, False)
    assert not cached and "is unreadable (EOFError); rebuilding it" in capsys.readouterr().err
    entry.unlink()
    entry.mkdir()
    (entry / "something").write_text("kept")
    net, _, cached = experiment.pretrained(config, "dfa", x, y, cache, False)
    err = capsys.readouterr().err
    assert not cached and err.count("\n") == 1 and "was a folder" in err
    assert entry.is_file() and list(cache.glob("*.not-a-file-*/something"))
    for a, b in zip(ref.state_dict().values(), net.state_dict().values()):
        np.testing.assert_array_equal(a, b)  # rebuilt exactly


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- sweeps ------------------------------------------------------------------------------------------

def test_sweep_nan_axis_values_and_huge_samples_fail_at_load():
    from snn_dfa.app.sweep import sweep_from_dict

    with pytest.raises(ConfigError, match="adapt.lr=nan: expected a finite number"):
        sweep_from_dict({"base": BASE, "axes": {"adapt.lr": [0.1, math.nan]}})
    with pytest.raises(ConfigError, match="random.samples=1000000000: expected an integer"):
        sweep_from_dict({"base": BASE, "random": {"samples": 10**9,
                                                  "adapt.lr": {"low": 0.1, "high": 0.2}}})


def test_unreachable_scheduler_leaves_nothing_in_out(tmp_path, capsys):
    pytest.importorskip("distributed")
    path = tmp_path / "sweep.toml"
    path.write_text('[base]\nseed = 3\n[axes]\n"crossbar.adc_bits" = [4]\n')
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--scheduler",
                 f"tcp://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("snn-dfa: error: scheduler=") and "Traceback" not in err
    assert not out.exists()


@pytest.fixture
def port_8787_taken():
    """Hold 127.0.0.1:8787 (if another process already holds it, that serves as well)."""
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", 8787))
        held.listen()
    except OSError:
        pass
    yield
    held.close()


def test_local_cluster_works_while_port_8787_is_taken(port_8787_taken):
    """The sweep's local cluster binds no fixed port (no dashboard, free ports for the rest):
    with port 8787 taken it starts without a warning (warnings are errors in this suite)."""
    distributed = pytest.importorskip("distributed")
    from snn_dfa.app.sweep import _client

    with _client(distributed, None, 1) as client:
        assert client.submit(int, "3").result() == 3
