"""What a command tells its user while it works.

One :class:`Progress` per command: :meth:`Progress.stage` writes one plain line per stage
(data, pre-training epochs, deployment, adaptation per subject and rule, costing, writing) to
stderr, whether or not stderr is a terminal, so a run whose output goes to a log file still
says where it is; :meth:`Progress.bar` gives a tqdm bar on a terminal only (a bar redrawn in a
log file is noise).  ``quiet`` silences both.  Every stage line is also kept, with its wall
clock time, for the run's ``log.txt``.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from tqdm.auto import tqdm


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"`` or ``"1 h 02 min"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Stage lines on ``stream`` (default stderr), bars on a terminal, a log of both.

    Parameters
    ----------
    stream : text stream, optional
        Where stage lines go (default ``sys.stderr``, looked up at each line).
    quiet : bool
        Print nothing (the log is still kept).
    bars : bool, optional
        Show tqdm bars; default: only when ``stream`` is a terminal.
    """

    def __init__(self, stream: TextIO | None = None, quiet: bool = False,
                 bars: bool | None = None) -> None:
        self._stream = stream
        self.quiet = quiet
        self._bars = bars
        self._start = time.monotonic()
        self._lines: list[str] = []

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def bars(self) -> bool:
        """Whether :meth:`bar` draws (a terminal, not quiet)."""
        if self.quiet:
            return False
        if self._bars is not None:
            return self._bars
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._start

    def stage(self, message: str) -> None:
        """One line: ``snn-dfa [elapsed] message``; kept for the log."""
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self._lines.append(f"{now}  +{format_duration(self.elapsed_s)}  {message}")
        if not self.quiet:
            line = f"snn-dfa [{format_duration(self.elapsed_s)}] {message}"
            if self.bars:
                tqdm.write(line, file=self.stream)  # above any running bar
            else:
                print(line, file=self.stream, flush=True)

    def bar(self, total: int, desc: str, unit: str) -> Any:
        """A tqdm bar over ``total`` items, drawn only on a terminal (see :attr:`bars`)."""
        return tqdm(total=total, desc=desc, unit=unit, disable=not self.bars, file=self.stream,
                    leave=False)

    def log_text(self) -> str:
        """Every stage line so far with its UTC time and elapsed time, one per line."""
        return "".join(line + "\n" for line in self._lines)


def as_progress(progress: Progress | bool | None) -> Progress:
    """``True``: stage lines and terminal bars on stderr; ``False``/``None``: silent (the log
    is still kept); a :class:`Progress` as given."""
    if isinstance(progress, Progress):
        return progress
    return Progress(quiet=not progress)
