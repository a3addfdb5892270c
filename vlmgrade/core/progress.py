"""Progress bars (rich, on stderr): done/total, rate, ETA, plus any extra fields a stage shows
(retries while judging, loss while training). The one bar implementation every stage uses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

RATE_EVERY_S = 0.5  # how often the rate field is recomputed
REFRESH_S = 0.1  # how often a bar refreshed from an event loop is redrawn (rich's own default rate)


class Bar:
    """A started bar, or a silent stand-in when progress is off (every method is then a no-op)."""

    def __init__(self, progress: Progress | None = None, task: TaskID | None = None) -> None:
        self.progress, self.task = progress, task
        self._rated = 0.0  # when the rate field was last recomputed

    def set(self, done: int, **fields: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done, **fields)
            self._rate()

    def advance(self, n: int = 1, retries: int | None = None) -> None:
        if self.progress is None:
            return
        fields = {} if retries is None else {"retries": f"retries {retries}"}
        self.progress.update(self.task, advance=n, **fields)
        self._rate()

    def _rate(self, force: bool = False) -> None:
        # rich's speed sums every sample of its 30 s window: per update, that made a 10,000-request
        # judging run spend seconds on the bar alone; twice a second is all a reader can see anyway
        now = time.monotonic()
        if now - self._rated < RATE_EVERY_S and not force:
            return
        self._rated = now
        speed = self.progress.tasks[0].speed
        self.progress.update(self.task, rate=f"{speed:.1f}/s" if speed else "")

    def print(self, message: str) -> None:
        """A line above the bar (or on stderr when there is no bar), one line at any width: the
        console soft-wraps (see `stderr_console`)."""
        if self.progress is not None:
            self.progress.console.print(message)
        else:
            stderr_console().print(message)

    @property
    def live(self) -> bool:
        """Whether a person watches it: without a terminal (logs, CI, nohup) a live bar shows nothing."""
        return self.progress is not None and self.progress.console.is_terminal

    async def keep_drawn(self) -> None:
        """Redraw the bar every REFRESH_S from the event loop, for a bar started with `on_loop=True`
        (run it as a task and cancel it when done). rich's own refresh thread must take the GIL from the
        loop ten times a second, and on a busy 2-core machine every such hand-over stalled the loop
        (a 10,000-request judging run was seconds slower with it); drawn from the loop, it costs the draw."""
        import asyncio

        if self.progress is None:
            return
        while True:
            self.progress.refresh()
            await asyncio.sleep(REFRESH_S)

    def stop(self) -> None:
        if self.progress is not None:
            self._rate(force=True)  # the last line shows the final rate
            self.progress.stop()


def stderr_console() -> Console:
    """The console for the bar and the lines printed above it. A message is one line at any width:
    rich hard-wraps at the console's width (80 when stderr is no terminal, or COLUMNS), which split a
    warning naming a long path; soft-wrapped, the terminal folds a long line for display and a log or a
    pipe gets it whole. The bar is drawn as before (it fits the width by itself). Messages are plain text:
    no markup, so a path or a reason with `[...]` in it is printed as it is."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, markup=False)


def start_bar(description: str, total: int, enabled: bool = True, done: int = 0, retries: bool = False,
              fields: tuple[str, ...] = (), on_loop: bool = False) -> Bar:
    """A running bar; call `stop()` when done (or use `progress_bar`). With `on_loop`, rich starts no
    refresh thread: the caller runs `keep_drawn()` on its event loop."""
    if not enabled:
        return Bar()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn(description), BarColumn(), MofNCompleteColumn(),
               *(TextColumn(f"{name} {{task.fields[{name}]}}") for name in fields), TextColumn("{task.fields[rate]}")]
    columns += [TimeElapsedColumn()] if fields else []
    columns += [TextColumn("ETA"), TimeRemainingColumn()]
    if retries:
        columns.append(TextColumn("{task.fields[retries]}"))
    progress = Progress(*columns, console=stderr_console(), auto_refresh=not on_loop)
    task = progress.add_task(description, total=total, completed=done, rate="", retries="retries 0",
                             **{name: "-" for name in fields})
    progress.start()
    return Bar(progress, task)


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True, done: int = 0,
                 retries: bool = False, on_loop: bool = False) -> Iterator[Bar]:
    bar = start_bar(description, total, enabled, done, retries, on_loop=on_loop)
    try:
        yield bar
    finally:
        bar.stop()
