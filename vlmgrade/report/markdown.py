"""report.md: what a run computed, formatted as Markdown. It opens with the verdicts (per criterion: which
model is better, by how much, how sure, on what judge, and whether the judge passed its controls), then the
tables and the figures. Every name and text goes through `md_cell` (or `md_code` in a code span): a model
name with `|`, a newline, `<script>` or a link cannot break the report or add to it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlmgrade.core.fmt import interval, md_cell, md_code, num, pvalue
from vlmgrade.core.types import Caption, Judgment, Sample, ScoreRow

if TYPE_CHECKING:
    from vlmgrade.analysis.agreement import Correlation
    from vlmgrade.analysis.controls import Check
    from vlmgrade.analysis.pairwise import PairwiseSummary
    from vlmgrade.judges.offline.references import CorpusFigure
    from vlmgrade.pipeline.summary import Summary
    from vlmgrade.report.plots import Figure
    from vlmgrade.report.tables import Verdict
    from vlmgrade.rubrics import Rubric

METHOD = ("Best model against each other one, paired over the samples both have: mean difference (best - other) "
          "with its 95% t interval, Wilcoxon signed-rank p Holm-adjusted across the rubric's comparisons; "
          "\"not separated\" when that p is 0.05 or more. The interval is not adjusted, so it can leave out 0 "
          "where the adjusted p is 0.05 or more; and below 6 samples the signed-rank p cannot reach 0.05 at all.")
NO_CONTROLS = ("Judge controls: not run (`--controls` checks that the judge scores the reference above shuffled, "
               "empty and other pictures' texts).")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A Markdown table's lines, every cell escaped."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]


def report(run: dict, summary: Summary, judgments: Sequence[Judgment], rubrics: Iterable[Rubric],
           samples: Sequence[Sample], captions: Sequence[Caption], verdicts: Sequence[Verdict] | None = None,
           figures: Sequence[Figure] = ()) -> str:
    """The whole report.md; `verdicts` as report/tables.run_verdicts gives them (computed here when None),
    `figures` the plots written beside it (linked)."""
    from vlmgrade.report.tables import run_verdicts

    found = run_verdicts(summary, judgments) if verdicts is None else verdicts
    opening = openings(run, summary, found, rubrics)
    return (f"# vlmgrade run {md_cell(run['run'])}\n\n" + verdicts_markdown(opening, bool(summary.checks))
            + scores_markdown(run, summary.rows, judgments) + figures_markdown(figures)
            + pairwise_markdown(summary.pairwise)
            + metrics_markdown(summary.corpus, summary.judge_vs_metrics) + controls_markdown(summary.checks)
            + model_checks_markdown(summary.model_checks)
            + examples_markdown(samples, captions))


@dataclass(frozen=True)
class Opening:
    """One criterion's verdict as a report opens with it (report.md and report.html alike)."""

    rubric: str
    title: str  # the criterion, with its direction when lower is better
    judge: str
    verdict: str  # Verdict.sentence()
    description: str  # from the rubric
    notes: tuple[tuple[str, bool], ...] = ()  # (line, is a warning): judge controls, picture checks


def openings(run: dict, summary: Summary, verdicts: Sequence[Verdict], rubrics: Iterable[Rubric]) -> list[Opening]:
    """Per criterion of the verdicts: its verdict, what it measures and who judged it, and what the controls
    said about the judge on it (with --controls)."""
    by_name = {r.name: r for r in rubrics}
    out = []
    for v in verdicts:
        rubric = by_name.get(v.rubric)
        criterion = next((c for c in rubric.criteria if c.name == v.criterion), None) if rubric else None
        judge = rubric.judge.model if rubric is not None and rubric.offline else run["judge"]["spec"]
        notes = _control_notes(summary.checks, v.rubric, v.criterion)
        notes += tuple((c.line(), not c.passes) for c in summary.model_checks
                       if (c.rubric, c.criterion) == (v.rubric, v.criterion))
        out.append(Opening(v.rubric, v.better.label(v.criterion), judge, v.sentence(),
                           criterion.description if criterion else "", notes))
    return out


def _control_notes(checks: Sequence[Check], rubric: str, criterion: str) -> tuple[tuple[str, bool], ...]:
    """The judge controls' outcome on one criterion, in words: passed (against which controls), or the flag."""
    if not checks:
        return ()
    from vlmgrade.analysis.controls import flags

    mine = [c for c in checks if (c.rubric, c.criterion) == (rubric, criterion)]
    if not mine:
        return (("judge controls: none required on this criterion", False),)
    if all(c.passes for c in mine):
        return ((f"judge controls pass: the reference beats {', '.join(c.control for c in mine)} "
                 f"(n={min(c.n for c in mine)})", False),)
    return tuple((line, True) for line in flags(mine))


def verdicts_markdown(opening: Sequence[Opening], controls: bool) -> str:
    """The list a report opens with: a line per criterion, what it measures and the controls under it."""
    lines = ["## Verdicts", ""]
    for o in opening:
        lines.append(f"- **{md_cell(o.title)}** ({md_cell(o.rubric)}, judge {md_code(o.judge)}): "
                     f"{md_cell(o.verdict)}")
        lines += [f"  - {md_cell(o.description)}"] if o.description else []
        lines += [f"  - {'**' if warn else ''}{md_cell(note)}{'**' if warn else ''}" for note, warn in o.notes]
    if not opening:
        lines.append("- no absolute rubric criterion was scored")
    lines += ["", METHOD + ("" if controls else " " + NO_CONTROLS), ""]
    return "\n".join(lines) + "\n"


def figures_markdown(figures: Sequence[Figure]) -> str:
    """Each criterion's figure (plots/*.png, with its SVG beside it)."""
    if not figures:
        return ""
    lines = ["", "## Figures", "", "Per criterion: each model's mean with its 95% interval; on the right, the best "
             "model minus each other one, paired (red where Holm p < 0.05).", ""]
    for f in figures:
        alt = md_cell(f"{f.rubric} · {f.criterion}").replace("[", "\\[").replace("]", "\\]")
        lines += [f"![{alt}]({f.png_name}) ([SVG]({f.svg_name}))", ""]
    return "\n".join(lines)


def _header(run: dict) -> list[str]:
    return [f"- data: {md_code(run['data']['name'])} ({md_cell(run['data']['version'])}, {run['n_samples']} samples)",
            f"- models: {', '.join(md_code(m) for m in run['models'])}",
            f"- judge: {md_code(run['judge']['spec'])}; rubrics: "
            + ", ".join(f"{md_code(n)} ({md_cell(v['hash'])})" for n, v in run["rubrics"].items()),
            f"- judge requests sent: {run['requests_sent']}, from cache: {run['cache_hits']}, "
            f"retries: {run['retries']}, failed: {run['failed_requests']}",
            f"- tokens: {run['usage']['total_tokens']}, cost: ${run.get('cost_usd', 0):.4f}",
            *(["- LLM scores are **probability-weighted**: the expectation over the judge's top-20 score tokens "
               "(plain scores in judgments.jsonl)"] if run.get("weighted") else []), ""]


def scores_markdown(run: dict, rows: Sequence[ScoreRow], judgments: Sequence[Judgment]) -> str:
    lines = _header(run) + table(
        ["model", "rubric", "criterion", "mean", "95% CI", "n", "unscored", "win rate vs baseline"],
        ([r.model, r.rubric, r.better.label(r.criterion), num(r.mean),
          f"{interval(r.ci_low, r.ci_high)} ({r.ci_method})", r.n, r.n_unscored, _win(r)] for r in rows))
    from vlmgrade.analysis.controls import is_control

    reasons: dict[str, int] = {}
    for j in (j for j in judgments if not is_control(j.model)):  # the controls' gaps are by design (empty)
        why = [j.unscored_reason] if j.unscored_reason else [f"{k}: {v}" for k, v in (j.details or {}).get(
            "unscored", {}).items()]
        for reason in why:
            reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        lines += ["", "## Unscored", ""] + table(["reason", "count"], sorted(reasons.items(), key=lambda kv: -kv[1]))
    return "\n".join(lines) + "\n"


def metrics_markdown(corpus: Sequence[CorpusFigure], correlations: Sequence[Correlation]) -> str:
    """Corpus-level reference metrics, and how each judge criterion correlates with each metric."""
    lines = []
    if corpus:
        lines += ["", "## Corpus-level reference metrics", "",
                  "BLEU-4 from the pooled n-gram counts, CIDEr-D's corpus mean; 95% bootstrap intervals over samples.",
                  ""] + table(["model", "metric", "value", "95% CI", "n"],
                              ([f.model, f.metric, num(f.value, 3), interval(f.ci_low, f.ci_high, 3), f.n]
                               for f in corpus))
    if correlations:
        lines += ["", "## Judge against reference metrics", "",
                  "Spearman ρ across captions (model x sample), 95% bootstrap interval over captions.", ""] + table(
            ["judge criterion", "metric", "n", "ρ", "95% CI"],
            ([f"{c.judge_criterion} ({c.judge_rubric})", c.metric, c.n, num(c.rho), interval(c.ci_low, c.ci_high)]
             for c in correlations))
    return "\n".join(lines) + "\n" if lines else ""


def pairwise_markdown(summaries: Sequence[PairwiseSummary]) -> str:
    """How each pairwise rubric's judge treated the order of the two completions."""
    if not summaries:
        return ""
    lines = ["", "## Pairwise rubrics", "",
             "Each pair of models on each sample was asked in both orders; only order-consistent verdicts count "
             "as wins. Pairwise rows above: mean and interval are Bradley-Terry log-strengths (mean 0 over the "
             "models; P(i beats j) = 1 / (1 + exp(s_j - s_i))).", ""]
    lines += table(["rubric", "baseline", "sample-pairs", "position bias", "inconsistent", "unscored"],
                   ([p.rubric, p.baseline, p.n_pairs, num(p.position_bias), num(p.inconsistent), p.unscored]
                    for p in summaries))
    return "\n".join(lines) + "\n"


def controls_markdown(checks: Sequence[Check]) -> str:
    """The sensitivity verdicts: reference minus each control a criterion must beat, and the flags."""
    if not checks:
        return ""
    from vlmgrade.analysis.controls import flags

    lines = ["", "## Judge controls", "",
             "Reference minus control per criterion, in its better direction (paired t interval, Wilcoxon p).", ""]
    lines += table(["rubric", "criterion", "control", "n", "diff", "95% CI", "p", "verdict"],
                   ([c.rubric, c.criterion, c.control, c.n, num(c.diff, 3), interval(c.ci_low, c.ci_high, 3),
                     pvalue(c.p), "passes" if c.passes else "FLAGGED"] for c in checks))
    lines += [""] + [f"- **{md_cell(flag)}**" for flag in flags(checks)]
    return "\n".join(lines) + "\n"


def model_checks_markdown(checks: Sequence) -> str:
    """Does each model beat the picture-blind constant text, and its own captions of other pictures?"""
    if not checks:
        return ""
    lines = ["", "## Does each model read the picture?", "",
             "Each model against a constant text that names every kind, and against its own captions of rotated "
             "pictures (each picture swapped with another sample's), paired over samples (Holm p):", ""]
    lines += [f"- {'' if c.passes else '**'}{md_cell(c.line())}{'' if c.passes else '**'}" for c in checks]
    return "\n".join(lines) + "\n"


def examples_markdown(samples: Sequence[Sample], captions: Sequence[Caption], n: int = 5) -> str:
    """What the models wrote for the first few samples: numbers mean little without the text."""
    by_id = {s.id: s for s in samples}
    first = {s.id for s in samples[:n]}
    lines = ["", "## Examples", ""] + table(["sample", "model", "beginning", "completion"],
                                            ([c.sample_id, c.model, by_id[c.sample_id].prefix, c.text]
                                             for c in captions if c.sample_id in first))
    return "\n".join(lines) + "\n"


def _win(r: ScoreRow) -> str:
    if not r.pairwise:
        return ""
    if r.win_rate is None:
        return f"(baseline {r.baseline})" if r.model == r.baseline else num(None)
    return f"{num(r.win_rate)} {interval(r.win_ci_low, r.win_ci_high)} vs {r.baseline}"
