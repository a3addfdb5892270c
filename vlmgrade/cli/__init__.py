"""The `vlmgrade` command: thin subcommands over the library. Heavy imports happen inside each command
so `vlmgrade --help` stays instant. A user mistake prints one line on stderr and exits 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vlmgrade.core.errors import UserError


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _nonnegative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def _generation(args: argparse.Namespace):
    from vlmgrade.core.types import GenerationParams

    return GenerationParams(max_new_tokens=args.max_new_tokens, temperature=getattr(args, "temperature", 0.0),
                            top_k=getattr(args, "top_k", 0), top_p=getattr(args, "top_p", 1.0), seed=args.seed)


def _engine(args: argparse.Namespace):
    from vlmgrade.core.options import EngineOptions

    return EngineOptions(batch_size=args.batch_size, device=args.device, dtype=args.dtype,
                         allow_pickle=args.allow_pickle, download=args.download)


def cmd_caption(args: argparse.Namespace) -> int:
    from vlmgrade.data.datasets import load_samples
    from vlmgrade.pipeline import distributed
    from vlmgrade.pipeline.cache import Cache
    from vlmgrade.pipeline.captioning import caption_stage
    from vlmgrade.zoo import resolve

    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a .jsonl file path")
    resolve(args.model, args.download)  # an unknown model fails at once, before any picture is drawn or read
    samples = load_samples(args.data, args.limit)
    device = distributed.setup(args.device)  # under torchrun: one share of the samples per rank
    cache = Cache()
    try:
        captions, _ = caption_stage(args.model, samples, _generation(args), _engine(args), device, cache,
                                    progress=not args.quiet)
    finally:
        cache.close()
        distributed.teardown()
    if not distributed.is_main():
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for c in captions:
            f.write(json.dumps({"id": c.sample_id, "model": c.model, "text": c.text}) + "\n")
    if not args.quiet:
        from vlmgrade.report.terminal import caption_table

        caption_table(samples, captions)
    print(f"wrote {len(captions)} captions to {out}", file=sys.stderr)
    return 0


def cmd_data_export(args: argparse.Namespace) -> int:
    from vlmgrade.data.datasets import export

    manifest = export(args.name, Path(args.out), args.limit)
    print(f"wrote {manifest}", file=sys.stderr)
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    from vlmgrade.data.builder import BuildOptions, build
    from vlmgrade.judges import parse_judge

    spec, _ = parse_judge(args.llm, args.base_url)
    if spec.kind != "openai":
        raise UserError(f"--llm must be openai:MODEL (an OpenAI-compatible server), not {args.llm!r}")
    opts = BuildOptions(captions=args.captions, out=args.out, llm=spec, images=args.images, style=args.style,
                        test=args.test, seed=args.seed, max_attempts=args.max_attempts,
                        temperature=args.temperature, prompt=args.prompt, concurrency=args.concurrency, rpm=args.rpm,
                        tpm=args.tpm, dry_run=args.dry_run, max_cost=args.max_cost, price_table=args.price_table,
                        batch=args.batch, batch_poll_s=args.batch_poll, progress=not args.quiet)
    r = build(opts)
    cost = "unknown (no price for this model)" if r.est_usd is None else f"${r.est_usd:.4f}"
    if args.dry_run:
        print(f"dry run, nothing sent: {r.images} images, {r.est_requests} first requests to send (plus up to "
              f"{args.max_attempts - 1} re-asks each for out-of-spec answers); estimated cost {cost}")
        return 0
    print(f"{r.images} images: wrote train {r.written['train']}, val {r.written['val']}, test {r.written['test']}; "
          f"rejected {r.rejected} (listed in {args.out}/rejected.jsonl); requests sent {r.requests_sent}, from cache "
          f"{r.from_cache}, asked again {r.asked_again}; cost ${r.cost_usd:.4f}", file=sys.stderr)
    return 0


def cmd_zoo_list(args: argparse.Namespace) -> int:
    from vlmgrade.zoo import cards

    rows = [c.to_dict() for c in cards()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Column, Table

    table = Table(Column("name", no_wrap=True), "kind", Column("params", justify="right"),
                  Column("source", overflow="fold"))
    for r in rows:
        table.add_row(r["name"], r["kind"], f"{r['params'] / 1e6:.2f}M", r["source"])
    Console().print(table)
    print("`vlmgrade zoo show NAME` prints a whole card.", file=sys.stderr)
    return 0


def cmd_zoo_show(args: argparse.Namespace) -> int:
    import yaml

    from vlmgrade.zoo import cards, find_card

    card = find_card(args.name)
    if card is None:
        raise UserError(f"no zoo card {args.name!r}; cards: {', '.join(c.name for c in cards())}")
    print(yaml.safe_dump(card.to_dict(), sort_keys=False, width=100).rstrip())
    if card.kind == "nanovlm":
        from vlmgrade.zoo import nanovlm_config
        from vlmgrade.zoo.nanovlm import component_shares

        shares = component_shares(nanovlm_config(card))
        print(f"parameters: {shares['params']:,} (encoder {shares['encoder']:.1%}, connector "
              f"{shares['connector']:.1%}, decoder {shares['decoder']:.1%}; the paper: encoder 70-78%, "
              "connector 6-14%, decoder 16-21%)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from vlmgrade.zoo.train import TrainConfig, train

    summary = train(TrainConfig.load(args.config), progress=not args.quiet)
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}))
    return 0


def run_config(args: argparse.Namespace):
    """The CLI's flags as a RunConfig, grouped the way the stages read them."""
    from vlmgrade.core.options import BudgetOptions, JudgingOptions, OutputOptions, RunConfig

    judging = JudgingOptions(judge=args.judge, base_url=args.judge_base_url, concurrency=args.concurrency,
                             repeats=args.repeats, temperature=args.judge_temperature, image=args.judge_image,
                             logprobs=args.judge_logprobs, rpm=args.rpm, tpm=args.tpm, batch=args.batch,
                             batch_poll_s=args.batch_poll, baseline=args.baseline, timeout=args.judge_timeout,
                             deadline=args.deadline,
                             train_data=args.train_data)
    return RunConfig(models=tuple(args.model), data=args.data, captions=tuple(args.captions),
                     controls=args.controls or args.controls_limit is not None, controls_limit=args.controls_limit,
                     rubrics=tuple(args.rubric or ()), limit=args.limit,
                     seed=args.seed, generation=_generation(args), engine=_engine(args), judging=judging,
                     budget=BudgetOptions(max_cost=args.max_cost, price_table=args.price_table, dry_run=args.dry_run),
                     output=OutputOptions(out=args.out, ci=args.ci, progress=not args.quiet,
                                          overwrite=args.overwrite))


def cmd_run(args: argparse.Namespace) -> int:
    from vlmgrade.core.fmt import num
    from vlmgrade.judges import parse_judge
    from vlmgrade.pipeline.runner import evaluate
    from vlmgrade.report.folder import print_controls, print_table

    cfg = run_config(args)
    _, note = parse_judge(cfg.judging.judge, cfg.judging.base_url)
    if note:
        print(f"vlmgrade: {note}", file=sys.stderr)
    result = evaluate(cfg)
    if result is None:  # a torchrun rank other than 0: it captioned its share, rank 0 reports
        return 0
    if cfg.budget.dry_run:
        e = result.stats["estimate"]
        cost = "unknown (no price for this judge model)" if e["est_usd"] is None else f"${e['est_usd']:.4f}"
        print(f"dry run, nothing sent: {e['judge_requests']} judge requests, {e['from_cache']} from cache, "
              f"{e['to_send']} to send; estimated {e['est_prompt_tokens']} prompt + {e['est_completion_tokens']} "
              f"completion tokens, cost {cost}")
        return 0
    from vlmgrade.judges.offline.memorisation import BASELINE, CRITERIA

    # the memorisation rubric's test-reference rows are the baseline its figures are read against
    print_table([r for r in result.rows if not r.control or (r.model == BASELINE and r.criterion in CRITERIA)],
                title=f"judge: {result.judge}" + (WEIGHTED if result.stats.get("weighted") else ""))
    for p in result.summary.pairwise:
        print(f"{p.rubric} (pairwise, each pair of models asked in both orders; strength: Bradley-Terry log "
              f"scale): {p.n_pairs} sample-pairs, {p.n_verdicts} verdict pairs over the criteria; position bias "
              f"{num(p.position_bias)}, inconsistent {num(p.inconsistent)}, unscored {p.unscored}", file=sys.stderr)
    checks = result.summary.checks
    if checks:
        from vlmgrade.analysis.controls import flags

        print_controls(result.rows, checks)
        failed = flags(checks)
        print(f"judge controls: {sum(c.passes for c in checks)} of {len(checks)} checks pass "
              "(reference above shuffled / other)" + (": " if failed else ""), file=sys.stderr)
        for line in failed:
            print(f"vlmgrade: warning: {line}", file=sys.stderr)
    s = result.stats
    batch = f", through the Batch API {s['batch_requests']}" if s.get("batch_requests") else ""
    print(f"judge requests sent {s['requests_sent']}{batch}, from cache {s['cache_hits']}, retries {s['retries']}, "
          f"failed {s['failed_requests']}; wrote {result.out} (report.md, report.html)", file=sys.stderr)
    unscored = [j for j in result.judgments if j.unscored_reason]
    if result.judgments and 2 * len(unscored) > len(result.judgments) and not args.allow_unscored:
        from collections import Counter

        common = Counter(j.unscored_reason for j in unscored).most_common(1)[0][0]
        print(f"vlmgrade: {len(unscored)} of {len(result.judgments)} judgments are unscored (most often: "
              f"{common[:160]}); the run folder is complete, see report.md (--allow-unscored to accept)",
              file=sys.stderr)
        return 3
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    import pandas as pd

    from vlmgrade.core.files import read_json
    from vlmgrade.pipeline.runner import runs_dir
    from vlmgrade.report.tables import render

    base = Path(args.dir) if args.dir else runs_dir()
    if not base.is_dir():
        raise UserError(f"no run folders at {base}")
    rows = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        record = folder / "run.json"
        if not record.exists():
            continue
        try:
            run = read_json(record, "run record")
        except UserError:
            rows.append({"run": folder.name, "created": "", "models": "", "data": "", "judge": "", "status": "corrupt"})
            continue
        whole = all((folder / f).exists() for f in ("scores.json", "judgments.jsonl", "report.html"))
        rows.append({"run": folder.name, "created": run.get("created", ""), "models": ", ".join(run.get("models", [])),
                     "data": (run.get("data") or {}).get("name", ""), "judge": (run.get("judge") or {}).get("spec", ""),
                     "status": "complete" if whole else "incomplete"})
    header = ["run", "created", "models", "data", "judge", "status"]
    frame = pd.DataFrame(rows, columns=header)
    print(render(header, frame.values.tolist(), args.format, frame, key="runs"))
    return 0


def cmd_rubric_list(args: argparse.Namespace) -> int:
    from vlmgrade.rubrics.rubric import builtin_names, load_rubric

    for name in builtin_names():
        r = load_rubric(name)
        crit = ", ".join(f"{c.name} " + ("A|B|tie" if r.pairwise else f"{c.lo:g}-{c.hi:g}") for c in r.criteria)
        kind = "  pairwise" if r.pairwise else ""
        print(f"{r.name}  v{r.version}{kind}  judge {r.judge['model']}  [{crit}]\n    {r.description}")
    return 0


def cmd_rubric_check(args: argparse.Namespace) -> int:
    from vlmgrade.analysis.controls import continuation
    from vlmgrade.core.types import Caption
    from vlmgrade.data.datasets import load_samples
    from vlmgrade.judges.llm.openai import build_messages
    from vlmgrade.rubrics.rubric import json_schema, load_rubric

    rubric = load_rubric(args.path)
    sample = load_samples(args.data, 1)[0]
    caption = Caption(sample.id, "example", args.text)
    # a pairwise rubric shows the given text as A and the sample's reference continuation as B
    second = Caption(sample.id, "reference", continuation(sample)) if rubric.pairwise else None
    messages = build_messages(rubric, sample, caption, second=second)
    print(f"rubric {rubric.name} v{rubric.version} (hash {rubric.hash}): {len(rubric.criteria)} criteria, "
          f"judge defaults {json.dumps(rubric.judge)}")
    for m in messages:
        content = m["content"] if isinstance(m["content"], str) else next(
            p["text"] for p in m["content"] if p["type"] == "text") + "\n[+ image attached]"
        print(f"--- {m['role']} (rendered on {sample.id})\n{content}")
    print("--- JSON schema sent as structured output")
    print(json.dumps(json_schema(rubric), indent=2))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from vlmgrade.api import leaderboard
    from vlmgrade.report.tables import leaderboard_table, render

    board = leaderboard(args.runs, allow_mixed=args.allow_mixed)  # the DataFrame the Python API gives
    header, body = leaderboard_table(board)
    print(render(header, body, args.format, board,
                 title="Ranks (#) only separate models whose 95% intervals do not overlap."))
    if board.attrs["mixed"]:
        print(f"vlmgrade: warning: ranking runs that are not comparable: {'; '.join(board.attrs['mixed'])}",
              file=sys.stderr)
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
    from vlmgrade.analysis.comparison import load_run
    from vlmgrade.report.tables import agreement_table, render

    run_a, run_b = load_run(args.run_a), load_run(args.run_b)
    contestants = [(r["rubric"], r["criterion"]) for r in run_a.scores["rows"] if not r.get("control")]
    in_b = {(r["rubric"], r["criterion"]) for r in run_b.scores["rows"]}
    criteria = [c for c in dict.fromkeys(contestants) if c in in_b]
    if not criteria:
        raise UserError("the two runs share no rubric criterion")
    frame = pd.DataFrame([r.to_dict() for r in agree(run_a.judgments, run_b.judgments, criteria, seed=args.seed)])
    if frame.empty:
        raise UserError("the two runs share no judged sample of the same model")
    frame.attrs.update(run_a=str(run_a.folder), run_b=str(run_b.folder))
    header, body = agreement_table(frame)
    print(render(header, body, args.format, frame,
                 title=f"a = {run_a.folder}, b = {run_b.folder}; paired on the samples both scored (repeats "
                 "averaged); 95% bootstrap intervals over samples"))
    return 0


def _engine_options(p: argparse.ArgumentParser) -> None:
    """Generation options that `caption` and `run` share."""
    p.add_argument("--max-new-tokens", type=_positive, default=48)
    p.add_argument("--batch-size", type=_positive, default=32)
    p.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--dtype", default="auto", help="auto (float32 on CPU, float16 on GPU), float32, float16, "
                   "bfloat16")
    p.add_argument("--download", action="store_true", help="let a hub model be fetched from the Hugging Face hub "
                   "(off by default: no surprise downloads)")
    p.add_argument("--allow-pickle", action="store_true", help="load a checkpoint that has no safetensors, "
                   "with torch.load(weights_only=True)")


def build_parser() -> argparse.ArgumentParser:
    from vlmgrade import __version__

    parser = argparse.ArgumentParser(prog="vlmgrade", description="Evaluate tiny vision-language models.")
    parser.add_argument("--version", action="version", version=f"vlmgrade {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("caption", help="generate captions (completions of each sample's prefix) to a JSONL file")
    p.add_argument("--model", required=True, help="zoo card, model folder or hub id; LABEL=SOURCE names it LABEL")
    p.add_argument("--data", required=True, help="built-in NAME:SPLIT (scenes-short:test) or manifest path")
    p.add_argument("--out", required=True, help="output .jsonl file (id, model, text)")
    p.add_argument("--limit", type=_nonnegative, help="first N samples only")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-k", type=_nonnegative, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    _engine_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.set_defaults(func=cmd_caption)

    p = sub.add_parser("run", help="caption, judge on rubrics, and report scores with 95%% intervals")
    p.add_argument("--model", action="append", default=[], help="zoo card, model folder or hub id (LABEL=SOURCE "
                   "names it LABEL); repeatable")
    p.add_argument("--captions", action="append", default=[], metavar="FILE",
                   help="judge captions written elsewhere (captions.jsonl: id, model, text) against --data's "
                        "samples; no model is loaded; repeatable, and may go with --model")
    p.add_argument("--data", required=True, help="built-in NAME:SPLIT or manifest path")
    p.add_argument("--rubric", action="append", help="built-in rubric name or YAML path; repeatable "
                   "(default: nanovlm-paper with an LLM judge, grounded without)")
    p.add_argument("--judge", help="openai:MODEL or grounded (default: openai:gpt-4o when OPENAI_API_KEY or "
                   "OPENAI_BASE_URL is set, else grounded)")
    p.add_argument("--judge-base-url", help="OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp); "
                   "default $OPENAI_BASE_URL")
    p.add_argument("--limit", type=_nonnegative)
    p.add_argument("--concurrency", type=_positive, default=16, help="judge requests in flight (default 16)")
    p.add_argument("--repeats", type=_positive, default=1, help="judgments per caption and rubric (each cached "
                   "separately; intervals then resample whole samples)")
    p.add_argument("--judge-temperature", type=float, help="override the rubric's judge temperature")
    p.add_argument("--judge-timeout", type=_positive_float, default=60.0, metavar="SECONDS", help="per judge "
                   "request, its retries included (default 60); a request that takes longer is unscored "
                   "('timeout') and the run goes on")
    p.add_argument("--deadline", type=_positive_float, metavar="SECONDS", help="for the whole judging stage: "
                   "requests not answered by then are unscored ('deadline', not cached) and the run finishes")
    p.add_argument("--judge-image", action="store_true", help="send the picture with every LLM rubric's prompt")
    p.add_argument("--judge-logprobs", action="store_true", help="probability-weighted scores: the expectation "
                   "over the judge's top-20 score tokens (the plain score is kept beside it)")
    p.add_argument("--train-data", metavar="NAME|PATH", help="the memorisation rubric's training texts (default: "
                   "the train_data of each model's training.json)")
    p.add_argument("--baseline", metavar="MODEL", help="pairwise rubrics: win rates against this model "
                   "(default: the first model)")
    p.add_argument("--rpm", type=_positive, help="at most this many judge requests per minute")
    p.add_argument("--tpm", type=_positive, help="at most this many (estimated) judge tokens per minute")
    p.add_argument("--dry-run", action="store_true", help="caption, then print the judge requests, estimated "
                   "tokens and cost; send nothing")
    p.add_argument("--max-cost", type=float, help="USD: refuse a run whose estimate exceeds it, stop one that "
                   "reaches it")
    p.add_argument("--batch", action="store_true", help="judge through the OpenAI Batch API (half price); a killed "
                   "run picks up its submitted batches")
    p.add_argument("--batch-poll", type=float, default=10.0, help="seconds between batch status checks")
    p.add_argument("--price-table", help="YAML of USD per million tokens per judge model (default: built in)")
    p.add_argument("--controls", action="store_true", help="also judge control completions (the reference, its "
                   "words shuffled, another sample's reference, an empty one) and report whether the judge "
                   "tells them apart on each criterion")
    p.add_argument("--controls-limit", type=_positive, metavar="N", help="controls on the first N samples only "
                   "(implies --controls)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run folder (default $VLMGRADE_RUNS or reports, /<run-id>); a non-empty one is "
                   "refused unless it holds this same run (a resume) or --overwrite")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that holds another run")
    p.add_argument("--allow-unscored", action="store_true", help="exit 0 even when more than half the judgments "
                   "are unscored (default: exit 3)")
    p.add_argument("--ci", choices=("t", "bootstrap"), default="t", help="interval method (default Student t)")
    _engine_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("leaderboard", help="rank models across runs (reads each run's scores.json)")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--format", choices=("md", "csv", "json"), default="md")
    p.add_argument("--allow-mixed", action="store_true", help="rank runs with different judges or rubric versions")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("compare", help="paired comparison of two models on the samples both runs have")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B", nargs="?", help="omit to compare two models of RUN_A")
    p.add_argument("--models", nargs=2, metavar=("A", "B"), help="which models (default: the first of each run)")
    p.add_argument("--format", choices=("md", "csv", "json"), default="md")
    p.add_argument("--allow-mixed", action="store_true", help="compare runs with different judges, rubric "
                   "versions, data or weighting")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("runs", help="list run folders: date, models, data, judge, status")
    p.add_argument("dir", nargs="?", metavar="DIR", help="default $VLMGRADE_RUNS, else reports")
    p.add_argument("--format", choices=("md", "csv", "json"), default="md")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("agree", help="agreement of two runs' judgments of the same captions (two judges, or "
                       "two repeats): Spearman, weighted kappa, Krippendorff's alpha")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.add_argument("--format", choices=("md", "csv", "json"), default="md")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap over samples")
    p.set_defaults(func=cmd_agree)

    rub = sub.add_parser("rubric", help="rubrics").add_subparsers(dest="rubric_command", required=True)
    p = rub.add_parser("list", help="list the built-in rubrics")
    p.set_defaults(func=cmd_rubric_list)
    p = rub.add_parser("check", help="validate a rubric, render it on a sample, print the JSON schema")
    p.add_argument("path", help="rubric YAML path or built-in name")
    p.add_argument("--data", default="scenes-short:test", help="where the example sample comes from")
    p.add_argument("--text", default="see a big red ball and a small blue cup.", help="example completion")
    p.set_defaults(func=cmd_rubric_check)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("export", help="write a dataset as manifest.jsonl plus images")
    p.add_argument("name", help="built-in NAME:SPLIT or manifest path")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--limit", type=_nonnegative)
    p.set_defaults(func=cmd_data_export)

    p = data.add_parser("build", help="write a child-vocabulary dataset from images and captions with an LLM "
                        "(ShortDesc/LongDesc style)")
    p.add_argument("captions", metavar="CAPTIONS", help="COCO-style captions JSON (with --images), or a manifest "
                   "whose references are the captions")
    p.add_argument("--images", help="the image folder of a COCO-style JSON")
    p.add_argument("--style", choices=("short", "long"), default="short")
    p.add_argument("--llm", required=True, help="openai:MODEL (OPENAI_API_KEY, or --base-url for a local server)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint; default $OPENAI_BASE_URL")
    p.add_argument("--test", type=_nonnegative, default=0, help="held-out test images (with prefixes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder: images/, train/, val/, test/, rejected.jsonl")
    p.add_argument("--max-attempts", type=_positive, default=3, help="asks per image, the first included")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--prompt", help="a Jinja prompt replacing the built-in one (vlmgrade/data/prompts/data-build.jinja)")
    p.add_argument("--concurrency", type=_positive, default=16)
    p.add_argument("--rpm", type=_positive)
    p.add_argument("--tpm", type=_positive)
    p.add_argument("--dry-run", action="store_true", help="count and price the requests; send nothing")
    p.add_argument("--max-cost", type=float, metavar="USD")
    p.add_argument("--price-table", metavar="YAML")
    p.add_argument("--batch", action="store_true", help="through the OpenAI Batch API (half price): one round of "
                   "batches per ask; a killed build polls the same batches when restarted")
    p.add_argument("--batch-poll", type=float, default=10.0, metavar="SECONDS")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_data_build)

    zoo = sub.add_parser("zoo", help="model cards").add_subparsers(dest="zoo_command", required=True)
    p = zoo.add_parser("list", help="list every card with name, kind, params and source")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_zoo_list)
    p = zoo.add_parser("show", help="print one card in full")
    p.add_argument("name")
    p.set_defaults(func=cmd_zoo_show)

    p = sub.add_parser("train", help="train a NanoVLM from a YAML config (resumes from <out>/checkpoint)")
    p.add_argument("config")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)
    _add_examples(parser)
    return parser


WEIGHTED = "; LLM scores are probability-weighted (the expectation over the judge's top-20 score tokens)"

EXAMPLES = {
    "caption": "vlmgrade caption --model nanovlm-mini-scenes --data scenes-short:test --limit 20 --out caps.jsonl",
    "run": "vlmgrade run --model nanovlm-mini-scenes --model nanovlm-tiny-scenes --data scenes-short:test "
           "--limit 50 --judge grounded",
    "runs": "vlmgrade runs reports --format csv",
    "agree": "vlmgrade agree reports/gpt4o-run reports/local-judge-run --format json",
    "leaderboard": "vlmgrade leaderboard reports/run-a reports/run-b --format csv",
    "compare": "vlmgrade compare reports/run-a reports/run-b --models nanovlm-mini-scenes nanovlm-mini-scenes",
    "rubric list": "vlmgrade rubric list",
    "rubric check": "vlmgrade rubric check my-rubric.yaml --text \"see a big red ball\"",
    "data export": "vlmgrade data export scenes-short:test --out my-scenes --limit 50",
    "data build": "vlmgrade data build captions.json --images images/ --style short --llm openai:gpt-4o --test 100 "
                  "--out my-data",
    "zoo list": "vlmgrade zoo list",
    "zoo show": "vlmgrade zoo show nanovlm-mini-scenes",
    "train": "vlmgrade train zoo/nanovlm-mini-scenes/train.yaml",
}


def _add_examples(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Every command's --help ends with an example."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix}{name}"
                if path in EXAMPLES:
                    sub.epilog = f"example:\n  {EXAMPLES[path]}"
                    sub.formatter_class = argparse.RawDescriptionHelpFormatter
                _add_examples(sub, f"{path} ")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"vlmgrade: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vlmgrade: interrupted (finished captions and judgments are cached; rerun to resume)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
