"""One options table: every `run` flag is a keyword of `vlmgrade.evaluate`, and both build the same RunConfig."""

from __future__ import annotations

import pytest

import vlmgrade
from vlmgrade.cli import main
from vlmgrade.core import options as table
from vlmgrade.core.errors import UserError

SAMPLE_VALUES = {"models": ["nanovlm-tiny-scenes"], "captions": ["caps.jsonl"], "rubrics": ["references"],
                 "data": "scenes-short:val", "judge": "grounded", "device": "cpu", "cache": "c.sqlite",
                 "judge_base_url": "http://127.0.0.1:9/v1", "train_data": "scenes-short:train", "baseline": "m",
                 "out": "somewhere", "price_table": "prices.yaml"}


def _value(o: table.Option) -> object:
    """A valid value for the option that differs from its default."""
    if o.name in SAMPLE_VALUES:
        return SAMPLE_VALUES[o.name]
    if o.switch:
        return True
    if o.choices:
        return o.choices[-1]
    fraction = 0.25 if o.name.endswith(("temperature", "top_p")) else 7
    return {table.positive: 3, table.nonnegative: 4, table.seconds: 5.0, table.usd: 1.5}.get(o.convert, fraction)


def _argv(o: table.Option, value: object) -> list[str]:
    if o.switch:
        return [o.flag_name]
    return [a for v in (value if o.repeat else [value]) for a in (o.flag_name, str(v))]


class Captured(Exception):
    pass


@pytest.fixture
def captured(monkeypatch) -> list:
    """The RunConfig each call reaches the runner with (the run itself is not made)."""
    seen: list = []

    def stop(cfg, *args, **kwargs):
        seen.append(cfg)
        raise Captured

    monkeypatch.setattr("vlmgrade.pipeline.runner.prepare", stop)  # both faces check through it first
    return seen


@pytest.mark.parametrize("option", table.RUN_OPTIONS, ids=[o.name for o in table.RUN_OPTIONS])
def test_every_run_flag_is_an_evaluate_keyword_with_the_same_effect(option, captured):
    value = _value(option)
    base = ["run"] + ([] if option.name == "data" else ["--data", "scenes-short:test"]) + \
        ([] if option.name == "quiet" else ["--quiet"])
    with pytest.raises(Captured):
        main(base + _argv(option, value))
    with pytest.raises(Captured):
        main(base + (["--data", "scenes-short:test"] if option.name == "data" else []))
    with pytest.raises(Captured):
        vlmgrade.evaluate(**{"data": "scenes-short:test", "quiet": True, option.name: value})
    from_flag, plain, from_keyword = captured
    assert from_flag == from_keyword, option.name
    assert from_flag != plain, f"{option.name} changed nothing"


def test_every_config_field_has_an_option():
    """No RunConfig field is reachable from one face and not the other."""
    from dataclasses import fields

    targets = {o.target for o in table.RUN_OPTIONS}
    config = table.RunConfig
    for f in fields(config):
        if f.name in ("generation", "engine", "judging", "budget", "output"):
            group = {"generation": table.GenerationParams, "engine": table.EngineOptions,
                     "judging": table.JudgingOptions, "budget": table.BudgetOptions, "output": table.OutputOptions}
            for sub in fields(group[f.name]):
                assert f"{f.name}.{sub.name}" in targets or (f.name, sub.name) == ("generation", "seed"), sub.name
        elif f.name != "controls":  # --controls-limit implies --controls: both are options
            assert f.name in targets, f.name


def test_bad_keyword_values_are_user_errors_and_unknown_keywords_type_errors():
    with pytest.raises(UserError, match="concurrency"):
        vlmgrade.evaluate(models=["nanovlm-tiny-scenes"], concurrency=0)
    with pytest.raises(UserError, match="ci"):
        vlmgrade.evaluate(models=["nanovlm-tiny-scenes"], ci="wilson")
    with pytest.raises(TypeError, match="concurency"):
        vlmgrade.evaluate(models=["nanovlm-tiny-scenes"], concurency=4)
