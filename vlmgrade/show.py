"""Terminal tables (rich) for what the commands print."""

from __future__ import annotations

from collections.abc import Sequence

from vlmgrade.fmt import interval, num
from vlmgrade.stats import mean_ci
from vlmgrade.types import Caption, Sample


def caption_table(samples: Sequence[Sample], captions: Sequence[Caption], max_rows: int = 12) -> None:
    """Prefix and completion per sample, plus grounded scores where the data has object annotations."""
    from rich.console import Console
    from rich.table import Table

    from vlmgrade.judges.grounded import judge

    by_id = {s.id: s for s in samples}
    grounded = any(s.objects for s in samples)
    table = Table("id", "prefix", "completion", *(("halluc.", "coverage") if grounded else ()), show_lines=False)
    hall, cov, unscored = [], [], 0
    for i, c in enumerate(captions):
        s = by_id[c.sample_id]
        cells = [c.sample_id, s.prefix, c.text]
        if grounded:
            j = judge(s, c)
            h, v = j.scores["hallucination"], j.scores["coverage"]
            unscored += h is None
            hall.append(h)
            cov.append(v)
            cells += [num(h), num(v)]
        if i < max_rows:
            table.add_row(*cells)
    console = Console()
    console.print(table)
    if len(captions) > max_rows:
        console.print(f"... {len(captions) - max_rows} more rows in the output file")
    if grounded:
        for name, values in (("hallucination", hall), ("coverage", cov)):
            e = mean_ci(values)
            if e.mean is None:
                console.print(f"grounded {name}: no scored texts")
                continue
            console.print(f"grounded {name}: {num(e.mean, 3)} 95% CI {interval(e.ci_low, e.ci_high, 3)} n={e.n}"
                          + (f", unscored {unscored} (no object named)" if name == "hallucination" else ""))
