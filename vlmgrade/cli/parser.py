"""The `vlmgrade` argument parser: one builder per command group. `run`'s flags (and the generation and
engine flags `caption` shares) come from the options table in core/options.py, the same table
`vlmgrade.evaluate` takes its keywords from."""

from __future__ import annotations

import argparse
from typing import NoReturn

from vlmgrade.cli import commands, runs
from vlmgrade.core.options import (
    CAPTION_OPTIONS,
    add_arguments,
    flag_type,
    nonnegative,
    positive,
    seconds,
    seed,
    temperature,
    usd,
)

FORMATS = ("md", "csv", "json")
TABLE_FORMATS = (*FORMATS, "latex")  # the tables a paper takes: a booktabs tabular


POSITIVE, NONNEGATIVE, SECONDS, USD, SEED, TEMPERATURE = (
    flag_type(f) for f in (positive, nonnegative, seconds, usd, seed, temperature))


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (and exit 2), like every other error of vlmgrade."""

    def error(self, message: str) -> NoReturn:
        from vlmgrade.cli import one_line

        self.exit(2, f"vlmgrade: error: {one_line(message)} (`{self.prog} --help` lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    from vlmgrade import __version__

    parser = Parser(prog="vlmgrade", description="Evaluate tiny vision-language models.")
    parser.add_argument("--version", action="version", version=f"vlmgrade {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _caption(sub)
    _run(sub)
    _runs(sub)
    _rubric(sub)
    _data(sub)
    _zoo(sub)
    _export(sub)
    p = sub.add_parser("train", help="train a NanoVLM from a YAML config (resumes from <out>/checkpoint)")
    p.add_argument("config")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.cmd_train)
    _add_examples(parser)
    parser.epilog = f"example:\n  {EXAMPLES['']}"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _caption(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("caption", help="generate captions (completions of each sample's prefix) to a JSONL file")
    p.add_argument("--model", required=True, help="zoo card, model folder or hub id; LABEL=SOURCE names it LABEL")
    p.add_argument("--data", required=True, help="built-in NAME:SPLIT (scenes-short:test) or manifest path")
    p.add_argument("--out", required=True, help="output .jsonl file (id, model, text)")
    add_arguments(p, CAPTION_OPTIONS)
    p.set_defaults(func=commands.cmd_caption)


def _run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="caption, judge on rubrics, and report scores with 95%% intervals")
    add_arguments(p)
    from vlmgrade.judges import JUDGE_KINDS

    judge = next(a for a in p._actions if a.dest == "judge")
    kinds = ", ".join(k.usage for k in JUDGE_KINDS.values())
    judge.help = judge.help.replace("{kinds}", kinds)
    p.set_defaults(func=runs.cmd_run)


def _runs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="rank models across runs (reads each run's scores.json)")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--format", choices=TABLE_FORMATS, default="md")
    p.add_argument("--allow-mixed", action="store_true", help="rank runs with different judges or rubric versions")
    p.set_defaults(func=runs.cmd_leaderboard)

    p = sub.add_parser("compare", help="paired comparison of two models on the samples both runs have")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B", nargs="?", help="omit to compare two models of RUN_A")
    p.add_argument("--models", nargs=2, metavar=("A", "B"), help="which models (default: the first of each run)")
    p.add_argument("--format", choices=TABLE_FORMATS, default="md")
    p.add_argument("--allow-mixed", action="store_true", help="compare runs with different judges, rubric "
                   "versions, data or weighting")
    p.set_defaults(func=runs.cmd_compare)

    p = sub.add_parser("runs", help="list run folders: date, models, data, judge, status")
    p.add_argument("dir", nargs="?", metavar="DIR", help="default $VLMGRADE_RUNS, else reports")
    p.add_argument("--format", choices=FORMATS, default="md")
    p.set_defaults(func=runs.cmd_runs)

    p = sub.add_parser("agree", help="agreement of two runs' judgments of the same captions (two judges, or "
                       "two repeats): Spearman, weighted kappa, Krippendorff's alpha")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.add_argument("--format", choices=FORMATS, default="md")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the bootstrap over samples")
    p.set_defaults(func=runs.cmd_agree)


def _rubric(sub: argparse._SubParsersAction) -> None:
    rub = sub.add_parser("rubric", help="rubrics").add_subparsers(dest="rubric_command", required=True)
    p = rub.add_parser("list", help="list the built-in rubrics")
    p.set_defaults(func=commands.cmd_rubric_list)
    p = rub.add_parser("check", help="validate a rubric, render it on a sample, print the JSON schema")
    p.add_argument("path", help="rubric YAML path or built-in name")
    p.add_argument("--data", default="scenes-short:test", help="where the example sample comes from")
    p.add_argument("--text", default="see a big red ball and a small blue cup.", help="example completion")
    p.set_defaults(func=commands.cmd_rubric_check)


def _data(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("export", help="write a dataset as manifest.jsonl plus images")
    p.add_argument("name", help="built-in NAME:SPLIT or manifest path")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--limit", type=NONNEGATIVE)
    p.set_defaults(func=commands.cmd_data_export)

    p = data.add_parser("build", help="write a child-vocabulary dataset from images and captions with an LLM "
                        "(ShortDesc/LongDesc style)")
    p.add_argument("captions", metavar="CAPTIONS", help="COCO-style captions JSON (with --images), or a manifest "
                   "whose references are the captions")
    p.add_argument("--images", help="the image folder of a COCO-style JSON")
    p.add_argument("--style", choices=("short", "long"), default="short")
    p.add_argument("--llm", required=True, help="openai:MODEL (OPENAI_API_KEY, or --base-url for a local server)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint; default $OPENAI_BASE_URL")
    p.add_argument("--test", type=NONNEGATIVE, default=0, help="held-out test images (with prefixes)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--out", required=True, help="output folder: images/, train/, val/, test/, rejected.jsonl")
    p.add_argument("--max-attempts", type=POSITIVE, default=3, help="asks per image, the first included")
    p.add_argument("--temperature", type=TEMPERATURE, default=0.7)
    p.add_argument("--prompt", help="a Jinja prompt replacing the built-in one "
                   "(vlmgrade/data/prompts/data-build.jinja)")
    p.add_argument("--concurrency", type=POSITIVE, default=16)
    p.add_argument("--rpm", type=POSITIVE)
    p.add_argument("--tpm", type=POSITIVE)
    p.add_argument("--dry-run", action="store_true", help="count and price the requests; send nothing")
    p.add_argument("--max-cost", type=USD, metavar="USD")
    p.add_argument("--price-table", metavar="YAML")
    p.add_argument("--batch", action="store_true", help="through the OpenAI Batch API (half price): one round of "
                   "batches per ask; a killed build polls the same batches when restarted")
    p.add_argument("--batch-poll", type=SECONDS, default=10.0, metavar="SECONDS")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.cmd_data_build)


def _zoo(sub: argparse._SubParsersAction) -> None:
    top = sub.add_parser("zoo", help="model cards (`vlmgrade zoo` alone lists them)")
    top.set_defaults(func=commands.cmd_zoo_list, json=False)
    zoo = top.add_subparsers(dest="zoo_command")
    p = zoo.add_parser("list", help="list every card with name, kind, params and source")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=commands.cmd_zoo_list)
    p = zoo.add_parser("show", help="print one card in full")
    p.add_argument("name")
    p.set_defaults(func=commands.cmd_zoo_show)


def _export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write run folders' results for a paper: table.tex (booktabs), samples.csv "
                       "and samples.jsonl (per sample and model), scores.csv")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--allow-mixed", action="store_true", help="put runs with different judges, rubric versions "
                   "or data in one table")
    p.set_defaults(func=commands.cmd_export)


EXAMPLES = {
    "": "vlmgrade run --model nanovlm-mini-scenes --data scenes-short:test --limit 20   (then: vlmgrade COMMAND "
        "--help)",
    "rubric": "vlmgrade rubric check my-rubric.yaml",
    "data": "vlmgrade data export scenes-short:test --out my-scenes --limit 50",
    "zoo": "vlmgrade zoo show nanovlm-mini-scenes",
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
    "export": "vlmgrade export reports/run-a --out paper/",
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
