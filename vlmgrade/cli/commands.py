"""Commands over models, data and rubrics: `caption`, `zoo`, `train`, `data`, `rubric` and `export`. Thin:
parse, call the library, print."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vlmgrade.core.errors import UserError
from vlmgrade.core.files import output_file, output_folder
from vlmgrade.core.fmt import json_text, printable
from vlmgrade.core.options import CAPTION_OPTIONS, checked, run_config


def _caption_config(args: argparse.Namespace):  # noqa: ANN202 - a core.options.RunConfig
    """`caption` shares its generation and engine flags with `run`: the same table builds them."""
    shared = {k: v for k, v in vars(args).items() if k in CAPTION_OPTIONS}
    return run_config(checked({**shared, "data": args.data}, api=False))


def cmd_caption(args: argparse.Namespace) -> int:
    from vlmgrade.core import distributed
    from vlmgrade.data.datasets import load_samples
    from vlmgrade.pipeline.cache import Cache
    from vlmgrade.pipeline.captioning import caption_stage, check_label
    from vlmgrade.zoo import resolve, split_label

    cfg = _caption_config(args)
    check_label(split_label(args.model)[0], "--model")  # at the door, as `vlmgrade run` does in prepare
    out = output_file(Path(args.out), "--out")
    resolve(args.model, args.download)  # an unknown model fails at once, before any picture is drawn or read
    samples = load_samples(args.data, args.limit)
    device = distributed.setup(args.device)  # under torchrun: one share of the samples per rank
    cache = Cache()
    try:
        captions, _ = caption_stage(args.model, samples, cfg.generation, cfg.engine, device, cache,
                                    progress=not args.quiet)
    finally:
        cache.close()
        distributed.teardown()
    if not distributed.is_main():
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", errors="replace") as f:
        for c in captions:
            f.write(json_text({"id": c.sample_id, "model": c.model, "text": c.text}) + "\n")
    if not args.quiet:
        _show_captions(samples, captions)
    print(f"wrote {len(captions)} captions to {out}", file=sys.stderr)
    return 0


def _show_captions(samples: list, captions: list) -> None:
    """The captions, with the offline judge's two headline figures where the data has annotations."""
    from vlmgrade.judges import DEFAULT_OFFLINE, judge_kind, offline_scorer
    from vlmgrade.judges.protocol import ScoringContext
    from vlmgrade.report.terminal import caption_table
    from vlmgrade.rubrics import load_rubric

    if not any(s.objects for s in samples):
        caption_table(samples, captions)
        return
    kind = judge_kind(DEFAULT_OFFLINE)
    rubric = load_rubric(kind.default_rubric)
    judged = offline_scorer(kind.name).judge_all(rubric, {s.id: s for s in samples}, captions, ScoringContext())
    caption_table(samples, captions, judged, kind.headline)


def cmd_data_export(args: argparse.Namespace) -> int:
    from vlmgrade.data.datasets import export

    manifest = export(args.name, output_folder(Path(args.out), "--out"), args.limit)
    print(f"wrote {manifest}", file=sys.stderr)
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    from vlmgrade.data.builder import BuildOptions, build
    from vlmgrade.judges import parse_judge

    spec, _ = parse_judge(args.llm, args.base_url, flags=("--llm", "--base-url"))
    if spec.offline or spec.declared.local:  # the builder talks to a server
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
        print(json_text(rows, indent=2))
        return 0
    from vlmgrade.report.terminal import print_rows

    print_rows(["name", "kind", "params", "source"],
               [[r["name"], r["kind"], f"{r['params'] / 1e6:.2f}M", r["source"]] for r in rows],
               [[r["name"] for r in rows]], justify=["left", "left", "right"], fold=[3])
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
    print(json_text({k: v for k, v in summary.items() if k != "history"}))
    return 0


def cmd_rubric_list(args: argparse.Namespace) -> int:
    from vlmgrade.rubrics import builtin_names, load_rubric

    for name in builtin_names():
        r = load_rubric(name)
        crit = ", ".join(f"{c.name} " + ("A|B|tie" if r.pairwise else f"{c.lo:g}-{c.hi:g}") for c in r.criteria)
        kind = "  pairwise" if r.pairwise else ""
        print(f"{r.name}  v{r.version}{kind}  judge {r.judge.model}  [{crit}]\n    {r.description}")
    return 0


def cmd_rubric_check(args: argparse.Namespace) -> int:
    from vlmgrade.analysis.controls import continuation
    from vlmgrade.core.types import Caption
    from vlmgrade.data.datasets import load_samples
    from vlmgrade.judges.llm.openai import build_messages
    from vlmgrade.rubrics import json_schema, load_rubric

    rubric = load_rubric(args.path)
    sample = load_samples(args.data, 1)[0]
    caption = Caption(sample.id, "example", args.text)
    # a pairwise rubric shows the given text as A and the sample's reference continuation as B
    second = Caption(sample.id, "reference", continuation(sample)) if rubric.pairwise else None
    if rubric.offline:  # the scorer must compute every criterion the rubric names: said now, not at run time
        from vlmgrade.judges import offline_scorer
        from vlmgrade.judges.protocol import ScoringContext

        offline_scorer(rubric.judge.model).judge_all(rubric, {sample.id: sample}, [caption], ScoringContext())
    messages = build_messages(rubric, sample, caption, second=second)
    print(f"rubric {rubric.name} v{rubric.version} (hash {rubric.hash}): {len(rubric.criteria)} criteria, "
          f"judge defaults {json_text(rubric.judge.to_dict())}")
    for m in messages:
        content = m["content"] if isinstance(m["content"], str) else next(
            p["text"] for p in m["content"] if p["type"] == "text") + "\n[+ image attached]"
        print(f"--- {m['role']} (rendered on {sample.id})\n{content}")
    print("--- JSON schema sent as structured output")
    print(json_text(json_schema(rubric), indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from vlmgrade.report.export import export

    done = export(args.runs, args.out, allow_mixed=args.allow_mixed)
    for note in done.notes:
        print(f"vlmgrade: warning: {printable(note)}", file=sys.stderr)
    print(f"wrote {', '.join(str(f) for f in done.files)} ({done.sample_rows} sample rows)", file=sys.stderr)
    return 0
