"""Process settings of the application (snn_dfa.app.runtime)."""

import os
import platform

from snn_dfa.app.runtime import MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES, tune_allocator


def test_tune_allocator_sets_the_thresholds_here_and_for_workers(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    applied = tune_allocator()
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == str(MMAP_THRESHOLD_BYTES)
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == str(TRIM_THRESHOLD_BYTES)
    if platform.libc_ver()[0] == "glibc":
        assert applied  # glibc accepted both values (32 MiB is its largest mmap threshold)


def test_tune_allocator_keeps_a_users_environment(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    tune_allocator()
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "12345"
