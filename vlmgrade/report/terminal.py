"""Terminal tables (rich) for what the commands print."""

from __future__ import annotations

from collections.abc import Sequence

from vlmgrade.analysis.stats import mean_ci
from vlmgrade.core.fmt import interval, num
from vlmgrade.core.types import Caption, Sample


def caption_table(samples: Sequence[Sample], captions: Sequence[Caption], max_rows: int = 12) -> None:
    """Prefix and completion per sample, plus grounded scores where the data has object annotations."""
    from rich.console import Console
    from rich.table import Table

    from vlmgrade.judges.offline.grounded import judge

    by_id = {s.id: s for s in samples}
    grounded = any(s.objects for s in samples)
    shown = ("hallucination", "grounded")
    table = Table("id", "prefix", "completion", *(("halluc.", "grounded") if grounded else ()), show_lines=False)
    values: dict[str, list] = {name: [] for name in shown}
    for i, c in enumerate(captions):
        s = by_id[c.sample_id]
        cells = [c.sample_id, s.prefix, c.text]
        if grounded:
            j = judge(s, c)
            for name in shown:
                values[name].append(j.scores[name])
            cells += [num(j.scores[name]) for name in shown]
        if i < max_rows:
            table.add_row(*cells)
    console = Console()
    console.print(table)
    if len(captions) > max_rows:
        console.print(f"... {len(captions) - max_rows} more rows in the output file")
    for name in shown if grounded else ():
        e = mean_ci(values[name])
        unscored = sum(v is None for v in values[name])
        console.print(f"grounded judge, {name}: {num(e.mean, 3)} 95% CI {interval(e.ci_low, e.ci_high, 3)} n={e.n}"
                      + (f", unscored {unscored}" if unscored else ""))
