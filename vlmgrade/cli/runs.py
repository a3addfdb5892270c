"""Commands over runs: `run` (caption, judge, report), `runs`, `leaderboard`, `compare` and `agree`.
Thin: parse, call the library, print. The run options come from the one table in core/options.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vlmgrade.core.errors import MostlyUnscored, UserError
from vlmgrade.core.options import OPTIONS_BY_NAME, checked, run_config

WEIGHTED = "; LLM scores are probability-weighted (the expectation over the judge's top-20 score tokens)"


def say(line: str) -> None:
    """One line on stderr, as printable text (it may quote model, rubric and criterion names)."""
    from vlmgrade.core.fmt import printable

    print(printable(line), file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from vlmgrade.pipeline.runner import prepare, run_prepared

    cfg = run_config(checked({k: v for k, v in vars(args).items() if k in OPTIONS_BY_NAME}, api=False))
    prep = prepare(cfg, None, {})  # a mistake ends here, in one line, before anything is said or done
    if prep.judge_note and not cfg.rubrics:  # the default rubric follows the judge: say which
        say(f"vlmgrade: {prep.judge_note}")
    result = run_prepared(cfg, prep)
    if result is None:  # a torchrun rank other than 0: it captioned its share, rank 0 reports
        return 0
    if result.stats is None:
        _print_estimate(result.estimate)
        return 0
    _print_results(result)
    problem = result.mostly_unscored()
    if problem and not cfg.output.allow_unscored:
        raise MostlyUnscored(problem)
    return 0


def _print_estimate(e) -> None:  # noqa: ANN001 - a pipeline.plan.Estimate
    cost = "unknown (no price for this judge model)" if e.est_usd is None else f"${e.est_usd:.4f}"
    print(f"dry run, nothing sent: {e.judge_requests} judge requests, {e.from_cache} from cache, {e.to_send} to "
          f"send; estimated {e.est_prompt_tokens} prompt + {e.est_completion_tokens} completion tokens, cost {cost}")


def _print_results(result) -> None:  # noqa: ANN001 - a pipeline.runner.RunResult
    from vlmgrade.core.fmt import num
    from vlmgrade.report.terminal import print_controls, print_table

    s = result.stats
    print_table(result.summary.shown_rows(), title=f"judge: {result.judge}" + (WEIGHTED if s.weighted else ""))
    for p in result.summary.pairwise:
        say(f"{p.rubric} (pairwise, each pair of models asked in both orders; strength: Bradley-Terry log "
            f"scale): {p.n_pairs} sample-pairs, {p.n_verdicts} verdict pairs over the criteria; position bias "
            f"{num(p.position_bias)}, inconsistent {num(p.inconsistent)}, unscored {p.unscored}")
    checks = result.summary.checks
    if checks:
        from vlmgrade.analysis.controls import flags

        print_controls(result.rows, checks)
        failed = flags(checks)
        say(f"judge controls: {sum(c.passes for c in checks)} of {len(checks)} checks pass "
            "(reference above shuffled / other / constant)" + (": " if failed else ""))
        for line in failed:
            say(f"vlmgrade: warning: {line}")
    for check in result.summary.model_checks:
        say(("" if check.passes else "vlmgrade: warning: ") + check.line())
    ledger = s.ledger
    if ledger.implausible_line():
        say(f"vlmgrade: warning: {ledger.implausible_line()}")
    batch = f", through the Batch API {ledger.batch_requests}" if ledger.batch_requests else ""
    say(f"judge requests sent {ledger.requests_sent}{batch}, from cache {ledger.cache_hits}, retries "
        f"{ledger.retries}, failed {ledger.failed_requests}; wrote {result.out} (report.md, report.html)")


def cmd_runs(args: argparse.Namespace) -> int:
    from dataclasses import asdict, fields

    import pandas as pd

    from vlmgrade.report.folder import RunListing, list_runs, runs_dir
    from vlmgrade.report.tables import render

    header = [f.name for f in fields(RunListing)]
    frame = pd.DataFrame([asdict(r) for r in list_runs(Path(args.dir) if args.dir else runs_dir())], columns=header)
    print(render(header, frame.values.tolist(), args.format, frame, key="runs"))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from vlmgrade.api import leaderboard
    from vlmgrade.report.folder import load_run
    from vlmgrade.report.tables import leaderboard_table, render

    # judgments read now: a damaged line is one line naming it, not a quiet fall back to ranking by intervals
    runs = [load_run(path, eager=True) for path in args.runs]
    board = leaderboard(runs, allow_mixed=args.allow_mixed)  # the DataFrame the Python API gives
    header, body = leaderboard_table(board)
    print(render(header, body, args.format, board,
                 title="Ranks (#) come from paired tests on the samples two models share (Wilcoxon, Holm across "
                 "the pairs): a model is ranked below every model that beats it, and models not separated share a "
                 "rank; a criterion scored on fewer than 10 samples, or on under half the best covered, is not "
                 "ranked."))
    if board.attrs["mixed"]:
        say(f"vlmgrade: warning: ranking runs that are not comparable: {'; '.join(board.attrs['mixed'])}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from vlmgrade.api import compare
    from vlmgrade.report.tables import compare_table, render

    models = args.models or [None, None]
    result = compare(args.run_a, args.run_b, models[0], models[1], allow_mixed=args.allow_mixed)
    header, body = compare_table(result)
    a, b = result["model_a"].iloc[0], result["model_b"].iloc[0]
    print(render(header, body, args.format, result, title=f"a = {a} ({result.attrs['run_a']}), b = {b} "
                 f"({result.attrs['run_b']}); paired on the samples both have"))
    return 0


def cmd_agree(args: argparse.Namespace) -> int:
    import pandas as pd

    from vlmgrade.analysis.agreement import agree
    from vlmgrade.report.folder import load_run
    from vlmgrade.report.tables import agreement_table, render

    run_a, run_b = load_run(args.run_a), load_run(args.run_b)
    contestants = [(r["rubric"], r["criterion"]) for r in run_a.rows if not r.get("control")]
    in_b = {(r["rubric"], r["criterion"]) for r in run_b.rows}
    criteria = [c for c in dict.fromkeys(contestants) if c in in_b]
    if not criteria:
        raise UserError("the two runs share no rubric criterion")
    rows = agree(run_a.judgment_records, run_b.judgment_records, criteria, seed=args.seed)
    frame = pd.DataFrame([r.to_dict() for r in rows])
    if frame.empty:
        raise UserError("the two runs share no judged sample of the same model")
    frame.attrs.update(run_a=str(run_a.folder), run_b=str(run_b.folder))
    header, body = agreement_table(frame)
    print(render(header, body, args.format, frame,
                 title=f"a = {run_a.folder}, b = {run_b.folder}; paired on the samples both scored (repeats "
                 "averaged); 95% bootstrap intervals over samples"))
    return 0
