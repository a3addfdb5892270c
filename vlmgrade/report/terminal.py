"""Terminal tables (rich) for what the commands print.

Every name in them stays whole at any width: a model, criterion or control name is never cut to '…'. A
table is laid out at the console's width (the terminal's; 80, or COLUMNS, when stdout is no terminal):
figures wrap (or fold) in their cells, names get the room they need; where even that does not fit, the
table goes vertical (a block per model, one `name: figure` line each). Lines are soft-wrapped: one line
at any width. Cells are plain text (no rich markup: a label with `[...]` in it is printed as it is), and every cell and
line is one line of printable text (`core.fmt.printable`): a model name or a caption holding a newline, an
escape sequence or a bidi override cannot add lines, drive the terminal or reverse what is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vlmgrade.analysis.stats import mean_ci
from vlmgrade.core.fmt import interval, num, printable
from vlmgrade.core.types import Caption, Judgment, Sample, ScoreRow

if TYPE_CHECKING:
    from rich.console import Console

    from vlmgrade.analysis.controls import Check

PADDING = 2  # a rich table's cell padding, one space either side


def _console() -> Console:
    from rich.console import Console

    return Console()


def _line(console: Console, text: str) -> None:
    """One line, never wrapped or cut by rich (a terminal folds it for display; a pipe gets it whole)."""
    from rich.text import Text

    console.print(Text(printable(text)), soft_wrap=True)


def _longest_word(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(w) for w in text.split()), default=0)


def _widths(natural: list[int], least: list[int], room: int) -> list[int] | None:
    """Column widths (content only) within `room`: each column its natural width if all fit, else at least
    its `least`, the rest of the room handed to the columns furthest short of their natural width; None
    when even the least widths do not fit."""
    if sum(least) > room:
        return None
    widths = list(least)
    spare = room - sum(widths)
    while spare > 0:
        short = [i for i in range(len(widths)) if widths[i] < natural[i]]
        if not short:
            break
        i = max(short, key=lambda k: natural[k] - widths[k])
        widths[i] += 1
        spare -= 1
    return widths


def print_rows(header: Sequence[str], body: Sequence[Sequence[str]], whole: Sequence[Sequence[str]] = (),
               justify: Sequence[str] = (), fold: Sequence[int] = (), title: str = "") -> None:
    """A table on stdout, every string in `whole[i]` (the names in column i; the headers always) on one
    line of its own; where the terminal is too narrow for that, a block per row (`header: cell` lines).
    Columns listed in `fold` may fold a word (a long URL, say) across lines."""
    console = _console()
    if not _grid(console, header, body, whole, justify, title, fold):
        _vertical(console, [(row[0], list(zip(header[1:], row[1:]))) for row in body], title=title)


def _printable(header: Sequence[str], body: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    return [printable(h) for h in header], [[printable(c) for c in row] for row in body]


def _grid(console: Console, header: Sequence[str], body: Sequence[Sequence[str]], whole: Sequence[Sequence[str]] = (),
          justify: Sequence[str] = (), title: str = "", fold: Sequence[int] = ()) -> bool:
    """Print a table whose header and strings in `whole[i]` (the names in column i) each keep one line of
    their own (figures and other text wrap at spaces; a word wider than its cell folds only in the columns
    in `fold`); False, printing nothing, where the console is too narrow for that."""
    from rich.cells import cell_len
    from rich.table import Column, Table
    from rich.text import Text

    header, body = _printable(header, body)
    whole = [[printable(name) for name in names] for names in whole]
    columns = list(zip(header, *body)) if body else [(h,) for h in header]
    whole = list(whole) + [()] * (len(header) - len(whole))
    natural = [max(cell_len(line) for cell in cells for line in (cell.splitlines() or [""])) for cells in columns]
    least = [max([0 if i in fold else _longest_word(c) for c in cells] + [cell_len(w) for w in (h, *names)] + [1])
             for i, (h, cells, names) in enumerate(zip(header, columns, whole))]
    borders = len(header) + 1  # the box's edges and the lines between columns
    widths = _widths(natural, least, console.width - borders - PADDING * len(header))
    if widths is None:
        return False
    justify = list(justify) + ["left"] * (len(header) - len(justify))
    table = Table(*(Column(Text(h), width=w, justify=j, overflow="fold") for h, w, j in zip(header, widths, justify)))
    for row in body:
        table.add_row(*(Text(c) for c in row))
    if title:
        _line(console, title)
    console.print(table)
    return True


def _vertical(console: Console, blocks: Sequence[tuple[str, Sequence[tuple[str, str]]]], title: str = "") -> None:
    """The table as blocks: a heading (a model, say), then one `name: figure` line per cell."""
    if title:
        _line(console, title)
    for heading, pairs in blocks:
        _line(console, f"  {heading}")
        for name, value in pairs:
            _line(console, f"    {name}: {value}")


def _criterion(r: ScoreRow) -> str:
    return r.better.label(r.criterion)


def _cell(r: ScoreRow | None) -> str:
    if r is None:
        return num(None)
    unscored = f", {r.n_unscored} unscored" if r.n_unscored else ""
    return f"{num(r.mean)} {interval(r.ci_low, r.ci_high)} n={r.n}{unscored}"


def print_table(rows: list[ScoreRow], title: str = "") -> None:
    """One table per rubric, the models side by side: each cell the mean, its 95% interval and n. Model
    and criterion names stay whole: too narrow a terminal gets a block per model instead."""
    console = _console()
    if title:
        _line(console, title)
    for rubric in dict.fromkeys(r.rubric for r in rows):
        mine = [r for r in rows if r.rubric == rubric]
        models = list(dict.fromkeys(r.model for r in mine))
        heading = rubric + (" (pairwise: Bradley-Terry log-strength, mean 0)" if mine[0].pairwise else "")
        cells = {(r.criterion, r.model): r for r in mine}
        criteria = list(dict.fromkeys(r.criterion for r in mine))
        labels = {c: _criterion(next(r for r in mine if r.criterion == c)) for c in criteria}
        body = [[labels[c], *(_cell(cells.get((c, m))) for m in models)] for c in criteria]
        if not _grid(console, ["criterion", *models], body, [criteria], justify=["left"] + ["right"] * len(models),
                     title=heading):
            _vertical(console, [(m, [(labels[c], _cell(cells.get((c, m)))) for c in criteria]) for m in models],
                      title=heading)


def print_controls(rows: list[ScoreRow], checks: Sequence[Check]) -> None:
    """Each control's mean per criterion and whether the judge put the reference above the ones it must beat."""
    from vlmgrade.analysis.controls import CONTROLS

    means = {(r.rubric, r.criterion, r.model): r.mean for r in rows if r.control}
    verdict: dict[tuple[str, str], bool] = {}
    for c in checks:
        verdict[(c.rubric, c.criterion)] = verdict.get((c.rubric, c.criterion), True) and c.passes
    keys = list(dict.fromkeys((r.rubric, r.criterion) for r in rows if r.control))
    header = ["judge controls", *CONTROLS, "discriminates"]
    body = [[f"{criterion} ({rubric})", *(num(means.get((rubric, criterion, m))) for m in CONTROLS),
             "yes" if verdict.get((rubric, criterion), True) else "NO"] for rubric, criterion in keys]
    print_rows(header, body, [[criterion for _, criterion in keys]], justify=["left"] + ["right"] * len(CONTROLS))


def caption_table(samples: Sequence[Sample], captions: Sequence[Caption], judged: Sequence[Judgment] = (),
                  shown: Sequence[str] = (), max_rows: int = 12) -> None:
    """Prefix and completion per sample, with the `shown` criteria of a judge's `judged` captions beside
    each (in caption order), then each criterion's mean with its interval."""
    by_id = {s.id: s for s in samples}
    header = ["id", "prefix", "completion", *shown]
    body = [[c.sample_id, by_id[c.sample_id].prefix, c.text, *(num(j.scores.get(name)) for name in shown)]
            for c, j in zip(captions[:max_rows], list(judged)[:max_rows] or [None] * max_rows)]
    print_rows(header, body, [[row[0] for row in body]], justify=["left"] * 3 + ["right"] * len(shown))
    console = _console()
    if len(captions) > max_rows:
        _line(console, f"... {len(captions) - max_rows} more rows in the output file")
    for name in shown:
        values = [j.scores.get(name) for j in judged]
        e = mean_ci(values)
        unscored = sum(v is None for v in values)
        _line(console, f"{judged[0].rubric} judge, {name}: {num(e.mean, 3)} 95% CI {interval(e.ci_low, e.ci_high, 3)} "
              f"n={e.n}" + (f", unscored {unscored}" if unscored else ""))
