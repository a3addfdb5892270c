"""report.html: one self-contained page per run (inline CSS, figures and thumbnails; no network).

Sections: the verdicts (as report.md opens with them), the run's metadata, the scores with each criterion's
figure (plots/, embedded), a paired comparison when the run has two or more models, judge noise and length
bias, and a per-sample browser (beginning, references, each model's text, its scores).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING

from vlmgrade.core.better import Better
from vlmgrade.core.fmt import interval, num

if TYPE_CHECKING:
    from PIL import Image

    from vlmgrade.analysis.agreement import AgreementRow
    from vlmgrade.analysis.controls import Check
    from vlmgrade.analysis.pairwise import PairwiseSummary
    from vlmgrade.core.types import Caption, Judgment, Sample, ScoreRow
    from vlmgrade.pipeline.runner import Summary
    from vlmgrade.report.markdown import Opening
    from vlmgrade.report.plots import Figure
    from vlmgrade.report.tables import Verdict
    from vlmgrade.rubrics import Rubric

MAX_SAMPLES = 300  # the browser shows the first samples; the JSONL files hold them all

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta td:first-child{color:#666}.unscored{color:#b00}.plot{display:inline-block;margin:4px 18px 10px 0}
.plot h3{font-size:13px;margin:0 0 2px}img.thumb{width:72px;height:72px;image-rendering:pixelated}
.prefix{color:#777}div.model{border-top:1px dashed #ddd;padding:3px 0}div.model:first-child{border-top:0}
ul.claims{margin:0;padding-left:16px;font-size:12px}ul.verdicts li{margin:3px 0}.ref{color:#2a6b2a}
ul.verdicts ul{margin:0;padding-left:18px;font-size:12px;color:#555}
input{padding:4px 8px;width:320px;margin:6px 0}.small{color:#666;font-size:12px}
"""

FILTER_JS = """
function filterRows(q){q=q.toLowerCase();for(const r of document.querySelectorAll('#samples tbody tr'))
{r.style.display=r.textContent.toLowerCase().includes(q)?'':'none';}}
"""


def _thumb(image: Image.Image, size: int = 72) -> str:
    """A small JPEG data URL: pictures with noise compress badly as PNG, and each sample shows one."""
    buf = io.BytesIO()
    image.convert("RGB").resize((size, size)).save(buf, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def interval_plot(criterion: str, rows: Sequence[ScoreRow], lo: float, hi: float) -> str:
    """An SVG: one line per model from ci_low to ci_high, a dot at the mean, on the criterion's scale."""
    width, left, row_h = 360, 150, 22
    height = 26 + row_h * len(rows)

    def x(v: float) -> float:
        return left + (width - left - 12) * (v - lo) / ((hi - lo) or 1)

    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{escape(criterion)} intervals">',
             f'<line x1="{x(lo)}" y1="{height - 16}" x2="{x(hi)}" y2="{height - 16}" stroke="#999"/>',
             f'<text x="{x(lo)}" y="{height - 3}" font-size="10" text-anchor="middle">{lo:g}</text>',
             f'<text x="{x(hi)}" y="{height - 3}" font-size="10" text-anchor="middle">{hi:g}</text>']
    for i, r in enumerate(rows):
        y = 12 + i * row_h
        parts.append(f'<text x="{left - 6}" y="{y + 4}" font-size="11" text-anchor="end">'
                     f'{escape(r.model[-24:])}</text>')
        if r.mean is not None and r.ci_low is not None and r.ci_high is not None:  # no interval: a dot only
            parts.append(f'<line x1="{x(r.ci_low)}" y1="{y}" x2="{x(r.ci_high)}" y2="{y}" stroke="#3568d4" '
                         'stroke-width="3"/>')
        if r.mean is not None:
            parts.append(f'<circle cx="{x(r.mean)}" cy="{y}" r="4" fill="#d43c35"><title>{r.mean:.3f} '
                         f'{interval(r.ci_low, r.ci_high, 3)} n={r.n}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _feedback_html(j: Judgment) -> str:
    """The LLM judge's feedback, or the grounded judge's claims with their verdicts (wrong ones in red)."""
    if not j.details:
        return escape(_feedback(j.raw))
    claims = "".join(f"<li class='{'' if v['true'] else 'unscored'}'>{escape(v['kind'])}: {escape(v['claim'])} "
                     f"{'✓' if v['true'] else '✗'}</li>" for v in j.details.get("claims", []))
    unscored = "".join(f"<li class='small'>{escape(k)} unscored: {escape(why)}</li>"
                       for k, why in j.details.get("unscored", {}).items())
    return f"<ul class='claims'>{claims}{unscored}</ul>"


def _feedback(raw: str) -> str:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return ""
    return str(data.get("feedback", "")) if isinstance(data, dict) else ""


def _table(header: list[str], rows: list[list[str]], cls: str = "", table_id: str = "") -> str:
    head = "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    ident = f' id="{table_id}"' if table_id else ""
    return f'<table class="{cls}"{ident}>{head}<tbody>{body}</tbody></table>'


def render_html(run: dict, summary: Summary, judgments: Sequence[Judgment], rubrics: Iterable[Rubric],
                samples: Sequence[Sample], captions: Iterable[Caption], verdicts: Sequence[Verdict] | None = None,
                figures: Sequence[Figure] = ()) -> str:
    """The page for a run: `summary` (runner.Summary) holds every figure shown; this only formats it.
    `verdicts` as report/tables.run_verdicts gives them (computed here when None); `figures` the plots
    written beside it (embedded; a criterion without one gets a small drawn interval plot)."""
    from vlmgrade.report.markdown import openings
    from vlmgrade.report.tables import run_verdicts

    rubrics = list(rubrics)
    found = run_verdicts(summary, judgments) if verdicts is None else verdicts
    texts = {(c.model, c.sample_id): c.text for c in captions}
    html = [f"<!doctype html><html><head><meta charset='utf-8'><title>vlmgrade {escape(run['run'])}</title>",
            f"<style>{CSS}</style><script>{FILTER_JS}</script></head><body>",
            f"<h1>vlmgrade run {escape(run['run'])}</h1>",
            _verdicts_html(openings(run, summary, found, rubrics), bool(summary.checks)),
            _table([], _meta_rows(run), "meta"), "<h2>Scores</h2>"]
    html += _scores_html(summary, rubrics, figures)
    if summary.comparison:
        html += _comparison_html(summary.comparison)
    if summary.checks:
        html.append(_controls_html(summary.checks))
    if summary.model_checks:
        html.append("<h2>Does each model read the picture?</h2><p class='small'>Each model against a constant text "
                    "naming every kind, and against its own captions of rotated pictures, paired over samples.</p>"
                    + "".join(f"<p{'' if c.passes else ' class=unscored'}>{'' if c.passes else '<b>'}"
                              f"{escape(c.line())}{'' if c.passes else '</b>'}</p>" for c in summary.model_checks))
    html.append("<h2>Judge noise and length bias</h2><p class='small'>Spearman ρ of each score with the "
                "completion's length in words (tiny models' lengths vary a lot); with --repeats, the judge's mean "
                "within-sample standard deviation and ICC(1) across repeats.</p>")
    html.append(_table(["rubric", "criterion", "ρ with length", "repeats", "within-sample SD", "ICC(1)",
                        "Krippendorff α (interval)"],
                       [[escape(n.rubric), escape(n.criterion), num(n.rho_length), str(n.repeats), num(n.within_sd),
                         num(n.icc), num(n.alpha)] for n in summary.noise]))
    if summary.agreement:
        html.append(_agreement_html(summary.agreement))
    html.append(_sample_browser(judgments, samples, texts))
    html.append("</body></html>")
    return "\n".join(html)


def _meta_rows(run: dict) -> list[list[str]]:
    """The run's metadata table: what was run on what, and what the judging cost."""
    data = f"{run['data']['name']} ({run['data']['version']}, {run['n_samples']} samples)"
    return [["run", escape(run["run"])], ["data", escape(data)],
            ["models", escape(", ".join(run["models"]))], ["judge", escape(run["judge"]["spec"])],
            ["rubrics", escape(", ".join(f"{n} v{v['version']} ({v['hash']})" for n, v in run["rubrics"].items()))],
            ["judge requests", f"{run['requests_sent']} sent, {run['cache_hits']} from cache, {run['retries']} "
                               f"retries, {run['failed_requests']} failed; {run['usage']['total_tokens']} tokens"],
            ["timings", escape(json.dumps(run.get("timings", {})))], ["seed", str(run["seed"])],
            ["LLM scores", "probability-weighted: the expectation over the judge's top-20 score tokens"
             if run.get("weighted") else "as the judge wrote them"]]


def _verdicts_html(opening: Sequence[Opening], controls: bool) -> str:
    """What the page opens with: report.md's verdicts, a line per criterion, warnings in red."""
    from vlmgrade.report.markdown import METHOD, NO_CONTROLS

    items = []
    for o in opening:
        notes = "".join(f"<li{' class=unscored' if warn else ''}>{escape(note)}</li>" for note, warn in o.notes)
        about = f"<li>{escape(o.description)}</li>" if o.description else ""
        items.append(f"<li><b>{escape(o.title)}</b> <span class='small'>({escape(o.rubric)}, judge "
                     f"{escape(o.judge)})</span>: {escape(o.verdict)}<ul>{about}{notes}</ul></li>")
    return ("<h2>Verdicts</h2><ul class='verdicts'>" + "".join(items) + "</ul><p class='small'>"
            + escape((METHOD + ("" if controls else " " + NO_CONTROLS)).replace("`", "")) + "</p>")


def _figure_html(f: Figure) -> str:
    """A criterion's figure, embedded (the web PNG: see plots._web), its width read from the PNG header."""
    width = int.from_bytes(f.web_png[16:20], "big")
    return (f"<div class='plot'><img alt='{escape(f.rubric)} · {escape(f.criterion)}' width='{width}' "
            f"src='data:image/png;base64,{base64.b64encode(f.web_png).decode()}'></div>")


def _scores_html(summary: Summary, rubrics: Iterable[Rubric], figures: Sequence[Figure] = ()) -> list[str]:
    """The scores section's parts: the score table, pairwise figures, corpus metrics, judge against metrics,
    then each absolute criterion's figure."""
    rows = summary.rows
    absolute = [r for r in rows if not r.pairwise]
    score_rows = [[escape(r.model), escape(r.rubric), escape(r.criterion) + _direction(r.better), num(r.mean),
                   f"{interval(r.ci_low, r.ci_high)} {escape(r.ci_method)}", str(r.n),
                   f"<span class='unscored'>{r.n_unscored}</span>" if r.n_unscored else "0"] for r in absolute]
    html = [_table(["model", "rubric", "criterion", "mean", "95% interval", "n", "unscored"], score_rows)]
    if summary.pairwise:
        html.append(_pairwise_html([r for r in rows if r.pairwise], summary.pairwise))
    if summary.corpus:
        html.append("<h2>Corpus-level reference metrics</h2><p class='small'>BLEU-4 from the pooled n-gram counts "
                    "(brevity penalty over the corpus), CIDEr-D's corpus mean; 95% bootstrap intervals over "
                    "samples.</p>" + _table(["model", "metric", "value", "95% interval", "n"], [
                        [escape(f.model), escape(f.metric), num(f.value, 3), interval(f.ci_low, f.ci_high, 3),
                         str(f.n)] for f in summary.corpus]))
    if summary.judge_vs_metrics:
        html.append("<h2>Judge against reference metrics</h2><p class='small'>Spearman ρ of each judge criterion "
                    "with each metric across captions (model × sample); 95% bootstrap intervals over captions."
                    "</p>" + _table(["judge criterion", "metric", "n", "ρ", "95% interval"], [
                        [escape(f"{c.judge_criterion} ({c.judge_rubric})"), escape(c.metric), str(c.n), num(c.rho),
                         interval(c.ci_low, c.ci_high)] for c in summary.judge_vs_metrics]))
    drawn = {(f.rubric, f.criterion): f for f in figures if f.web_png}
    for rubric in (r for r in rubrics if not r.pairwise):
        for c in rubric.criteria:
            if (rubric.name, c.name) in drawn:
                html.append(_figure_html(drawn[(rubric.name, c.name)]))
                continue
            mine = [r for r in rows if r.rubric == rubric.name and r.criterion == c.name]
            html.append(f"<div class='plot'><h3>{escape(rubric.name)} · {escape(c.name)}{_direction(c.better)}</h3>"
                        f"{interval_plot(c.name, mine, c.lo, c.hi)}</div>")
    return html


def _comparison_html(comparison: dict) -> list[str]:
    """The paired comparison of the run's first two models: a heading with its method, and the table."""
    a, b = comparison["rows"][0]["model_a"], comparison["rows"][0]["model_b"]
    return [f"<h2>Comparison: {escape(a)} − {escape(b)}</h2><p class='small'>Paired on the samples "
            "both have; t interval of the mean difference; Wilcoxon signed-rank p, Holm-adjusted.</p>",
            _table(["rubric", "criterion", "n", "diff", "95% interval", "p", "p (Holm)"],
                   [[escape(r["rubric"]), escape(r["criterion"]) + _direction(r["better"]), str(r["n"]),
                     num(r["diff"], 3), interval(r["ci_low"], r["ci_high"], 3), num(r["p"], 4),
                     num(r["p_holm"], 4)] for r in comparison["rows"]])]


def _controls_html(checks: list[Check]) -> str:
    from vlmgrade.analysis.controls import flags

    rows = [[escape(c.rubric), escape(c.criterion), escape(c.control), str(c.n), num(c.diff, 3),
             interval(c.ci_low, c.ci_high, 3), num(c.p, 4),
             "passes" if c.passes else "<span class='unscored'>does not discriminate</span>"] for c in checks]
    warnings = "".join(f"<p class='unscored'><b>{escape(flag)}</b></p>" for flag in flags(checks))
    return ("<h2>Judge controls</h2><p class='small'>The reference continuation against controls of known "
            "quality (shuffled words, another picture's text), per criterion in its better direction: the "
            "judge discriminates when the paired 95% interval is above 0 and Wilcoxon p &lt; 0.05.</p>"
            + warnings + _table(["rubric", "criterion", "control", "n", "reference − control", "95% interval",
                                 "p", "verdict"], rows))


def _pairwise_html(rows: Iterable[ScoreRow], summaries: Iterable[PairwiseSummary]) -> str:
    """Strengths and win rates of the pairwise rubrics, and how the judge treated the order."""
    body = [[escape(r.model), escape(r.rubric), escape(r.criterion), num(r.mean), interval(r.ci_low, r.ci_high),
             (f"{num(r.win_rate)} {interval(r.win_ci_low, r.win_ci_high)}" if r.win_rate is not None
              else "baseline" if r.model == r.baseline else num(None)), str(r.n)] for r in rows]
    order = [[escape(p.rubric), escape(p.baseline), str(p.n_pairs), num(p.position_bias), num(p.inconsistent),
              str(p.unscored)] for p in summaries]
    return ("<h2>Pairwise</h2><p class='small'>Each pair of models on each sample was asked in both orders; only "
            "order-consistent verdicts count as wins, inconsistent ones as ties. Strength: Bradley-Terry "
            "log-strength, mean 0 over the models, P(i beats j) = 1/(1+exp(s<sub>j</sub>−s<sub>i</sub>)); "
            "95% bootstrap intervals over samples. Win rate: win 1, tie 0.5, loss 0 against the baseline.</p>"
            + _table(["model", "rubric", "criterion", "strength", "95% interval", "win rate vs baseline [95%]",
                      "sample-pairs"], body)
            + "<p class='small'>Position bias: the share of sample-pairs whose two verdicts (one per order) name "
            "the same position; a judge that reads only the content has 0.</p>"
            + _table(["rubric", "baseline", "sample-pairs", "position bias", "inconsistent", "unscored"], order))


def _agreement_html(rows: Iterable[AgreementRow]) -> str:
    from vlmgrade.analysis.agreement import FIGURES

    body = [[escape(r.model), escape(r.rubric), escape(r.criterion), str(r.n)]
            + [f"{num(getattr(r, k))} {interval(getattr(r, k + '_ci_low'), getattr(r, k + '_ci_high'))}"
               for k in FIGURES] for r in rows]
    return ("<h2>Judge agreement with itself (repeat 1 against repeat 2)</h2><p class='small'>On the samples "
            "both repeats scored; 95% bootstrap intervals over samples. A difference between models smaller than "
            "the judge's own disagreement is not evidence.</p>"
            + _table(["model", "rubric", "criterion", "n", "Spearman ρ", "kappa (quadratic)", "α (interval)",
                      "α (ordinal)", "mean |a − b|"], body))


def _direction(better: str) -> str:
    return " <span class='small'>(lower is better)</span>" if Better.of(better) is Better.LOWER else ""


def _verdict(value: float | None) -> str:
    from vlmgrade.rubrics import VERDICTS

    return {share: name for name, share in VERDICTS.items()}.get(value, num(value))


def _sample_browser(judgments: Iterable[Judgment], samples: Sequence[Sample],
                    texts: dict[tuple[str, str], str]) -> str:
    """One row per sample: its picture once, its beginning and references, then each model side by side with
    what it wrote (after the beginning, greyed) and every judgment of it (scores, unscored reasons, feedback
    or claims)."""
    shown = samples[:MAX_SAMPLES]
    by_sample: dict[str, list] = {}
    for j in judgments:
        by_sample.setdefault(j.sample_id, []).append(j)
    rows = []
    for s in shown:
        by_model: dict[str, list] = {}
        for j in by_sample.get(s.id, []):
            by_model.setdefault(j.model, []).append(j)
        blocks = [_model_block(s, model, theirs, texts) for model, theirs in by_model.items()]
        references = "".join(f"<br><span class='ref'>reference: {escape(r)}</span>" for r in s.references)
        rows.append([f"<img class='thumb' alt='{escape(s.id)}' src='{_thumb(s.image)}'>",
                     f"{escape(s.id)}<br><span class='prefix'>{escape(s.prefix)}</span>{references}",
                     "".join(blocks)])
    note = f" (the first {MAX_SAMPLES} of {len(samples)})" if len(samples) > MAX_SAMPLES else ""
    return (f"<h2>Samples{note}</h2><input placeholder='filter: id, words, model, unscored…' "
            f"oninput='filterRows(this.value)'>"
            + _table(["picture", "sample · beginning · references",
                      "each model: beginning + completion, scores, judge feedback or claims"], rows,
                     table_id="samples"))


def _model_block(s: Sample, model: str, theirs: list[Judgment], texts: dict[tuple[str, str], str]) -> str:
    """One model's text on one sample (the beginning greyed before it, so it reads as the whole text beside
    the references) and its judgments; a pairwise line shows both texts as A and B."""
    parts = []
    for j in theirs:
        scores = ", ".join(f"{k} {_verdict(v) if j.pair else num(v)}" for k, v in j.scores.items())
        verdict = (f"<span class='unscored'>unscored: {escape(j.unscored_reason)}</span>"
                   if j.unscored_reason else escape(scores))
        repeat = f" #{j.repeat}" if j.repeat else ""
        parts.append(f"<div class='small'>{escape(j.rubric)}{repeat}: {verdict}</div>{_feedback_html(j)}")
    prefix = f"<span class='prefix'>{escape(s.prefix)}</span> " if s.prefix else ""
    written = (" ".join(f"<br><b>{side}</b> ({escape(m)}): {prefix}{escape(texts.get((m, s.id), ''))}"
                        for side, m in zip("AB", theirs[0].pair)) if theirs[0].pair
               else prefix + escape(texts.get((model, s.id), "")))
    return f"<div class='model'><b>{escape(model)}</b>: {written}{''.join(parts)}</div>"
