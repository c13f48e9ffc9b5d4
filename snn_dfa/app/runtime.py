"""Process settings of the application (never applied by the library on import).

:func:`tune_allocator` keeps large freed memory blocks in glibc's heap for reuse.  NumPy's
large temporaries of a training step (a layer's patches, currents, gradients: 1–9 MB each
for the SFCN at batch 64) are otherwise served from freshly mapped pages at every call, and
the kernel's page faults and zeroing then cost about a fifth of a batch-64 forward+BPTT step
(benchmarks/RESULTS.md).  The command line applies it at start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: glibc's largest mmap threshold (32 MiB on 64-bit): blocks up to this size come from the heap
MMAP_THRESHOLD_BYTES = 32 << 20
#: free heap memory kept before returning any to the system [assumption: 1 GiB, a few times
#: the peak of the main job's training step]
TRIM_THRESHOLD_BYTES = 1 << 30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter codes of glibc


def tune_allocator() -> bool:
    """Apply the thresholds to this process (``mallopt``) and, through the environment, to
    the worker processes it starts.  Returns False where the C library is not glibc."""
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD_BYTES))
    os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", str(TRIM_THRESHOLD_BYTES))
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
