"""A progress bar on stderr, drawn by hand: one line redrawn in place with a carriage return.

Live only on a terminal. When stderr is a file or a pipe (CI logs, ``nox``), redrawing
would fill it with carriage returns, so the bar prints a plain line every few seconds
instead: a short run prints nothing, a long one shows that it is alive. Output never goes
to stdout, which holds the summary a script may read.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO

import trio
from typing_extensions import final

PLAIN_INTERVAL_S = 5.0
"""How often a progress line is printed when stderr is not a terminal."""

LIVE_INTERVAL_S = 0.1
"""How often the live bar is redrawn: often enough to look smooth, rare enough to cost nothing."""

_MIN_BAR = 10


@final
class ProgressBar:
    """The progress of ``total`` steps, shown on ``out``.

    Args:
        out: Where to draw: stderr.
        total: The number of steps of the whole run.
        unit: What a step is, plural ("commands").
        live: Redraw one line in place; ``None`` means when ``out`` is a terminal.
        clock: Seconds, for the rate and the time left (tests pass their own).

    Example::

        bar = ProgressBar(sys.stderr, total=10_000, unit="commands")
        bar.show(2_500)
        bar.close(10_000)
    """

    __slots__ = (
        "_clock",
        "_drawn",
        "_fill",
        "_last_plain",
        "_live",
        "_out",
        "_started",
        "_total",
        "_unit",
    )

    def __init__(
        self,
        out: TextIO,
        total: int,
        unit: str,
        *,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = out
        self._total = max(total, 0)
        self._unit = unit
        self._live = _is_terminal(out) if live is None else live
        self._clock = clock
        self._started = clock()
        self._last_plain = self._started
        self._drawn = 0
        # Block characters where the terminal's encoding has them, else plain ASCII.
        self._fill = ("\u2588", "\u2591") if _can_encode(out, "\u2588\u2591") else ("#", "-")

    @property
    def live(self) -> bool:
        """Whether the bar is redrawn in place (stderr is a terminal)."""
        return self._live

    def show(self, done: int) -> None:
        """Show that ``done`` steps are done (a plain line only every few seconds)."""
        now = self._clock()
        if self._live:
            self._draw(self._line(done, now - self._started, self._width()))
        elif now - self._last_plain >= PLAIN_INTERVAL_S:
            self._last_plain = now
            print(self._plain(done, now - self._started), file=self._out, flush=True)

    def close(self, done: int, *, seconds: float | None = None) -> None:
        """Show the final count and end the line, so what follows starts on a new one.

        Args:
            done: The steps done in all.
            seconds: How long they took, as the caller measured it, so that the final rate
                is the one a summary shows beside it; ``None``: since the bar was made.
        """
        if self._live:
            elapsed = self._clock() - self._started if seconds is None else seconds
            self._draw(self._line(done, elapsed, self._width()))
            self._out.write("\n")
            self._out.flush()
            self._drawn = 0

    def clear(self) -> None:
        """Remove the live line (before a message that must not be mixed with it)."""
        if self._live and self._drawn:
            self._out.write("\r" + " " * self._drawn + "\r")
            self._out.flush()
            self._drawn = 0

    async def follow(self, done: Callable[[], int]) -> None:
        """Show ``done()`` again and again until cancelled (run it in a nursery)."""
        interval = LIVE_INTERVAL_S if self._live else min(PLAIN_INTERVAL_S, 1.0)
        while True:
            self.show(done())
            await trio.sleep(interval)

    def _figures(self, done: int, elapsed: float) -> tuple[float, str, str]:
        fraction = min(done / self._total, 1.0) if self._total else 1.0
        if done >= self._total:
            left = "done"
        elif done:
            left = f"ETA {_duration((self._total - done) * max(elapsed, 0.0) / done)}"
        else:
            left = "ETA --"
        return fraction, per_second(done, elapsed), left

    def _line(self, done: int, elapsed: float, width: int) -> str:
        fraction, rate, left = self._figures(done, elapsed)
        figures = f" {fraction:4.0%}  {done:,}/{self._total:,} {self._unit}  {rate}  {left}"
        room = width - len(figures) - 2
        if room < _MIN_BAR:
            return figures.strip()[: max(width, 1)]
        filled = round(room * fraction)
        full, empty = self._fill
        return f"[{full * filled}{empty * (room - filled)}]{figures}"

    def _plain(self, done: int, elapsed: float) -> str:
        fraction, rate, left = self._figures(done, elapsed)
        return f"{fraction:.0%}: {done:,} of {self._total:,} {self._unit}, {rate}, {left}"

    def _draw(self, line: str) -> None:
        # Pad over what the previous, possibly longer, line left on screen.
        padding = " " * max(self._drawn - len(line), 0)
        self._out.write("\r" + line + padding)
        self._out.flush()
        self._drawn = len(line)

    def _width(self) -> int:
        # One column short of the terminal: writing the last column wraps on some terminals.
        return shutil.get_terminal_size((80, 24)).columns - 1


def per_second(count: int, seconds: float) -> str:
    """``count`` over ``seconds`` as a rate, "4,166/s": the bar's and the summaries' form."""
    return f"{count / max(seconds, 1e-9):,.0f}/s"


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole}s"
    minutes, whole = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{whole:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        # A closed or stand-in stream: not a terminal.
        return False


def _can_encode(out: TextIO, text: str) -> bool:
    encoding = getattr(out, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return False
    return True
