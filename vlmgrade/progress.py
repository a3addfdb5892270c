"""Progress bars (rich, on stderr): done/total, rate, ETA, and retries so far where asked for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Bar:
    def __init__(self, progress=None, task=None) -> None:
        self.progress, self.task = progress, task

    def set(self, done: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done)

    def advance(self, n: int = 1, retries: int | None = None) -> None:
        if self.progress is None:
            return
        fields = {} if retries is None else {"retries": f"retries {retries}"}
        self.progress.update(self.task, advance=n, **fields)
        speed = self.progress.tasks[0].speed
        self.progress.update(self.task, rate=f"{speed:.1f}/s" if speed else "")


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True, done: int = 0,
                 retries: bool = False) -> Iterator[Bar]:
    if not enabled:
        yield Bar()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn(description), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TextColumn("ETA"), TimeRemainingColumn()]
    if retries:
        columns.append(TextColumn("{task.fields[retries]}"))
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=total, completed=done, rate="", retries="retries 0")
        yield Bar(progress, task)
