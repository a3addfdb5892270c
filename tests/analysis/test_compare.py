"""compare and leaderboard against scipy recomputed from the runs' own judgments.jsonl."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.helpers import PAPER, distinct_completions
from vlmgrade.cli import main
from vlmgrade.testing.server import FakeOpenAI, Reply, body_digest, scripted_scores


def reply(body, count):
    if int(body_digest(body), 16) % 9 == 0:
        return Reply("no idea")  # unparsable: must show up as unscored
    return Reply(json.dumps({**scripted_scores(body, PAPER), "feedback": "fine"}))


@pytest.fixture(scope="module")
def two_runs(tiny_model, tmp_path_factory):
    import os

    base = tmp_path_factory.mktemp("cmp")
    os.environ["VLMGRADE_CACHE"] = str(base / "cache.sqlite")
    os.environ["OPENAI_API_KEY"] = "sk-test"
    try:
        with FakeOpenAI(reply) as server:  # module-scoped: the function-scoped judge_server cannot serve it
            for name, tokens in (("a", "8"), ("b", "3")):  # two "models": the same weights, other budgets
                assert main(["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "30",
                             "--rubric", "nanovlm-paper", "--judge", "openai:gpt-4o", "--judge-base-url",
                             server.base_url, "--out", str(base / name), "--max-new-tokens", tokens, "--quiet"]) == 0
    finally:
        del os.environ["VLMGRADE_CACHE"], os.environ["OPENAI_API_KEY"]
    return base / "a", base / "b"


def per_sample(folder, criterion):
    out = {}
    for line in (folder / "judgments.jsonl").read_text().splitlines():
        j = json.loads(line)
        if j["scores"][criterion] is not None:
            out[j["sample_id"]] = j["scores"][criterion]
    return out


def test_compare_agrees_with_scipy(two_runs, capsys):
    a, b = two_runs
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    rows = {r["criterion"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    ps = []
    for c in PAPER:
        sa, sb = per_sample(a, c), per_sample(b, c)
        both = sorted(set(sa) & set(sb))
        d = np.array([sa[s] - sb[s] for s in both])
        low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        p = stats.wilcoxon([sa[s] for s in both], [sb[s] for s in both]).pvalue
        r = rows[c]
        assert r["n"] == len(both) < 30  # unscored replies dropped out of the pairing
        assert r["diff"] == pytest.approx(d.mean()) and r["ci_low"] == pytest.approx(low)
        assert r["ci_high"] == pytest.approx(high) and r["p"] == pytest.approx(p)
        ps.append(p)
    order = np.argsort(ps)
    expected_holm = np.maximum.accumulate([min(1, (5 - i) * ps[k]) for i, k in enumerate(order)])
    for i, k in enumerate(order):
        assert rows[PAPER[k]]["p_holm"] == pytest.approx(expected_holm[i])
    assert main(["compare", str(a), str(b)]) == 0
    assert "p (Holm)" in capsys.readouterr().out


def test_leaderboard_reads_scores_and_shows_unscored(two_runs, capsys):
    a, b = two_runs
    assert main(["leaderboard", str(a), str(b), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    scores_a = json.loads((a / "scores.json").read_text())["rows"]
    assert len(rows) == 10 and all(r["rank"] in (1, 2) for r in rows)
    assert {k: rows[0][k] for k in scores_a[0]} == scores_a[0]
    assert all(r["n_unscored"] > 0 for r in rows)
    assert main(["leaderboard", str(a), str(b), "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    # tidy: one row per model x criterion, numbers in their own columns
    assert header.split(",")[:6] == ["model", "rubric", "criterion", "mean", "ci_low", "ci_high"]
    assert "rank" in header.split(",")
    assert main(["leaderboard", str(a), str(b)]) == 0
    table = capsys.readouterr().out
    assert "] #1" in table and "#1.0" not in table  # whole ranks, as the frame keeps them


def test_leaderboard_refuses_mixed_judges(two_runs, tmp_path, capsys):
    a, _ = two_runs
    other = tmp_path / "other"
    other.mkdir()
    scores = json.loads((a / "scores.json").read_text())
    (other / "scores.json").write_text(json.dumps({**scores, "judge": "openai:gpt-4o-mini"}))
    assert main(["leaderboard", str(a), str(other)]) == 2
    assert "refusing to rank runs that are not comparable: judges openai:gpt-4o vs openai:gpt-4o-mini" in \
        capsys.readouterr().err


def test_leaderboard_and_compare_refuse_runs_on_different_data(two_runs, tmp_path, capsys):
    a, _ = two_runs
    other = tmp_path / "other"
    other.mkdir()
    scores = json.loads((a / "scores.json").read_text())
    (other / "scores.json").write_text(json.dumps({**scores, "data": {"name": "my-photos", "version": "sha256:1",
                                                                      "samples": "abc"}}))
    assert main(["leaderboard", str(a), str(other)]) == 2
    assert "data my-photos vs scenes-short:test" in capsys.readouterr().err
    assert main(["leaderboard", str(a), str(other), "--allow-mixed"]) == 0
    assert main(["leaderboard", str(a), str(other), "--allow-mixed"]) == 0


def test_repeats_send_k_requests_and_intervals_resample_samples(tiny_model, tmp_path, monkeypatch, judge_server):
    monkeypatch.setenv("VLMGRADE_CACHE", str(tmp_path / "c.sqlite"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    s = judge_server(lambda body, n: Reply(json.dumps({**scripted_scores({"n": n}, PAPER), "feedback": ""})))
    assert main(["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "10", "--rubric",
                 "nanovlm-paper", "--judge", "openai:gpt-4o", "--judge-base-url", s.base_url, "--repeats", "3",
                 "--judge-temperature", "1.0", "--out", str(tmp_path / "r"), "--max-new-tokens", "6",
                 "--quiet"]) == 0
    distinct = distinct_completions(tiny_model, 10, 6)
    assert len(s.requests) == 3 * distinct and all(b["temperature"] == 1.0 for b in s.requests)
    lines = [json.loads(x) for x in (tmp_path / "r" / "judgments.jsonl").read_text().splitlines()]
    assert sorted({j["repeat"] for j in lines}) == [0, 1, 2] and len(lines) == 30
    rows = json.loads((tmp_path / "r" / "scores.json").read_text())["rows"]
    # n counts samples (the unit the interval resamples), the judgments beside it
    assert all(r["ci_method"].startswith("cluster-bootstrap") and r["n"] == 10 and r["n_judgments"] == 30 for r in rows)


def _in_memory_run(name: str, means: dict[str, float], better: str):
    from pathlib import Path

    from vlmgrade.core.run import Run

    rows = [{"model": m, "rubric": "r", "criterion": "errors", "mean": v, "ci_low": v - 0.1, "ci_high": v + 0.1,
             "ci_method": "t", "n": 10, "n_unscored": 0, "better": better} for m, v in means.items()]
    return Run.in_memory(Path(name), {"run": name, "judge": "grounded", "rows": rows, "rubrics": {}}, {}, [], [])


@pytest.mark.parametrize(("better", "first"), [("lower", "small"), ("higher", "big")])
def test_ranks_follow_the_direction_the_rubric_gives(better, first):
    from vlmgrade.analysis.comparison import leaderboard
    from vlmgrade.report.tables import leaderboard_table

    board = leaderboard([_in_memory_run("a", {"small": 0.2, "big": 0.9}, better)])
    ranks = {r["model"]: r["rank"] for r in board["rows"]}
    assert ranks[first] == 1 and ranks[{"small": "big", "big": "small"}[first]] == 2
    header, _ = leaderboard_table(pd.DataFrame(board["rows"]))
    assert ("errors (lower is better)" in header) == (better == "lower")


def test_a_criterion_says_which_way_is_better_in_the_rubric_and_in_scores_json(env, tmp_path):
    from vlmgrade.core.errors import UserError
    from vlmgrade.rubrics import load_rubric

    path = tmp_path / "r.yaml"
    path.write_text("name: r\ncriteria:\n  errors: {description: mistakes, scale: [0, 1], better: sideways}\n"
                    "prompt: x\n")
    with pytest.raises(UserError, match="better must be 'higher' or 'lower'"):
        load_rubric(str(path))
    assert {c.name: c.better for c in load_rubric("grounded").criteria}["hallucination"] == "lower"
    assert sum(c.better == "higher" for c in load_rubric("grounded").criteria) == 7
    assert main(["run", "--model", "nanovlm-mini-scenes", "--data", "scenes-short:test", "--limit", "3", "--judge",
                 "grounded", "--out", str(tmp_path / "g"), "--quiet"]) == 0
    rows = json.loads((tmp_path / "g" / "scores.json").read_text())["rows"]
    better = {r["criterion"]: r["better"] for r in rows}
    assert better.pop("hallucination") == "lower" and set(better.values()) == {"higher"} and len(better) == 7


def test_one_judge_model_at_two_endpoints_is_two_judges_and_runs_are_named_by_folder():
    """Issue 23, like with like: the same `openai:gpt-4o` behind two servers is not one judge."""
    from pathlib import Path

    from vlmgrade.analysis.comparison import leaderboard
    from vlmgrade.core.errors import UserError
    from vlmgrade.core.run import Run
    from vlmgrade.judges.spec import JudgeSpec

    def run(folder: str, endpoint: str) -> Run:
        rows = [{"model": "m", "rubric": "r", "criterion": "c", "mean": 0.5, "ci_low": 0.4, "ci_high": 0.6,
                 "ci_method": "t", "n": 10, "n_unscored": 0, "better": "higher"}]
        return Run.in_memory(Path("reports") / folder, {"run": f"id-{folder}", "judge": "openai:gpt-4o",
                                                        "judge_endpoint": endpoint, "rows": rows}, {}, [], [])

    a, b = run("gateway-run", "https://gw.example.com/v1"), run("local-run", "http://127.0.0.1:8000/v1")
    with pytest.raises(UserError, match="judge endpoints http://127.0.0.1:8000/v1 vs https://gw.example.com/v1"):
        leaderboard([a, b])
    board = leaderboard([a, b], allow_mixed=True)
    assert [r["run"] for r in board["rows"]] == ["gateway-run", "local-run"]  # folders, not internal ids
    assert leaderboard([a, run("again", "https://gw.example.com/v1")])["mixed"] == []
    spec = JudgeSpec("openai", "gpt-4o", "https://user:sk-secret@gw.example.com:8443/v1?api-key=sk-other#x")
    assert spec.public_endpoint == "https://gw.example.com:8443/v1"  # what records keep: no secret


def test_one_sample_gets_no_interval_and_no_rank():
    """Issue 23, item 1 (in part): a model scored once at 1.0 was ranked above one at 0.5 on ten samples, with
    a 95% interval of zero width."""
    from pathlib import Path

    from vlmgrade.analysis.comparison import leaderboard
    from vlmgrade.analysis.scores import score_rows
    from vlmgrade.core.run import Run
    from vlmgrade.core.types import Judgment
    from vlmgrade.rubrics import load_rubric

    rubric = load_rubric("references")
    once = [Judgment("s0", "once", rubric.name, {"bleu4": 1.0, "rouge_l": 1.0, "cider_d": 9.0})]
    often = [Judgment(f"s{i}", "often", rubric.name, {"bleu4": i / 9, "rouge_l": 0.5, "cider_d": 1.0 + i % 2})
             for i in range(10)]
    rows = {(r.model, r.criterion): r for r in score_rows(once + often, [rubric])}
    single = rows[("once", "bleu4")]
    assert (single.mean, single.ci_low, single.ci_high, single.n) == (1.0, None, None, 1)
    assert single.ci_method == "none: fewer than 2 samples"
    record = {"run": "r", "judge": "references", "rows": [r.to_dict() for r in rows.values()]}
    board = leaderboard([Run.in_memory(Path("r"), record, {}, [], [])])["rows"]
    ranks = {(r["model"], r["criterion"]): r["rank"] for r in board}
    assert ranks[("once", "bleu4")] is None and ranks[("often", "bleu4")] == 1


def test_ranks_come_from_paired_tests_and_models_not_separated_share_one():
    """Issue 23, item 2: two models of one quality and one worse, 40 shared samples; and a criterion scored on
    under half the samples of the best covered is shown, not ranked."""
    from pathlib import Path

    import numpy as np

    from vlmgrade.analysis.comparison import leaderboard
    from vlmgrade.analysis.scores import score_rows
    from vlmgrade.core.run import Run
    from vlmgrade.core.types import Judgment
    from vlmgrade.rubrics import load_rubric

    rubric = load_rubric("nanovlm-paper")
    rng = np.random.default_rng(0)
    quality = rng.normal(6, 1.5, 40)  # how hard each sample is: every model meets the same samples
    judged = []
    for model, shift in (("twin-a", 0.0), ("twin-b", 0.0), ("worse", -2.0)):
        for i, q in enumerate(quality):
            scores = {c.name: float(np.clip(np.round(q + shift + rng.normal(0, 0.7)), 1, 10)) for c in rubric.criteria}
            if model == "twin-b" and i >= 15:
                scores["plot"] = None  # plot scored on 15 of 40 samples for this one
            judged.append(Judgment(f"s{i}", model, rubric.name, scores))
    record = {"run": "r", "judge": "openai:gpt-4o", "rows": [r.to_dict() for r in score_rows(judged, [rubric])]}
    board = leaderboard([Run.in_memory(Path("r"), record, {}, judged, [])])["rows"]
    got = {(r["model"], r["criterion"]): (r["rank"], r["paired_n"]) for r in board}
    for c in ("grammar", "creativity", "consistency", "meaningfulness"):
        assert got[("twin-a", c)] == got[("twin-b", c)] == (1, 40), c  # not separated: one shared rank
        assert got[("worse", c)] == (2, 40), c  # both twins beat it: one rank below theirs
    assert got[("twin-b", "plot")] == (None, None)  # 15 samples, under half the 40 of the others
    assert "scored on 15 samples" in next(r["not_ranked"] for r in board if r["model"] == "twin-b"
                                         and r["criterion"] == "plot")
    assert got[("twin-a", "plot")][0] == 1 and got[("worse", "plot")][0] == 2


def _judged_run(folder: str, scores: dict[str, list[float | None]], criterion: str = "grammar"):
    """An in-memory run of one rubric criterion: {model: per-sample scores (None: unscored)}."""
    from pathlib import Path

    from vlmgrade.analysis.scores import score_rows
    from vlmgrade.core.run import Run
    from vlmgrade.core.types import Judgment
    from vlmgrade.rubrics import load_rubric

    rubric = load_rubric("nanovlm-paper")
    judged = [Judgment(f"s{i}", model, rubric.name, {c.name: (v if c.name == criterion else 5.0)
                                                     for c in rubric.criteria})
              for model, values in scores.items() for i, v in enumerate(values)]
    rows = [r.to_dict() for r in score_rows(judged, [rubric]) if r.criterion == criterion]
    return Run.in_memory(Path(folder), {"run": folder, "judge": "openai:gpt-4o", "rows": rows}, {}, judged, [])


def test_ranks_never_put_a_loser_above_its_winner_nor_trust_a_mean_the_test_did_not_test():
    """From a review: B beat C significantly yet C ranked above B (wins are not transitive); and a mean
    difference was called a significant win on a Wilcoxon test that favoured the other model."""
    from vlmgrade.analysis.comparison import leaderboard

    rng = np.random.default_rng(1)
    base = rng.integers(3, 8, 40).astype(float)
    # A and D beat B on every sample; B beats C on 20 samples; A and D meet C on 3 samples only
    run = _judged_run("r", {"A": list(base + 1), "D": list(base + 1), "B": list(base),
                            "C": [b - 1 if i < 20 else None for i, b in enumerate(base)]})
    ranks = {r["model"]: r["rank"] for r in leaderboard([run])["rows"] if r["criterion"] == "grammar"}
    assert ranks["C"] is None or ranks["C"] > ranks["B"] > ranks["A"] == ranks["D"], ranks

    # A is one point higher on 26 samples, ten lower on 4: the signed ranks favour A, the mean B
    a = [6.0] * 26 + [0.0] * 4
    b = [5.0] * 26 + [10.0] * 4
    ranks = {r["model"]: r["rank"] for r in leaderboard([_judged_run("q", {"A": a, "B": b})])["rows"]
             if r["criterion"] == "grammar"}
    assert ranks["A"] == ranks["B"] == 1  # no winner where the test and the direction disagree


def test_runs_with_one_folder_name_keep_their_own_judgments():
    """From a review: two runs in folders named `out` were paired with one run's judgments."""
    from vlmgrade.analysis.comparison import leaderboard

    low = _judged_run("/x/a/out", {"M": [2.0, 3.0] * 15})
    high = _judged_run("/x/b/out", {"M": [8.0, 9.0] * 15})
    rows = [r for r in leaderboard([low, high])["rows"] if r["criterion"] == "grammar"]
    assert {(r["run"], r["mean"], r["rank"]) for r in rows} == {("/x/a/out", 2.5, 2), ("/x/b/out", 8.5, 1)}


def test_a_model_missing_a_criterion_gets_no_overall_and_repeated_yes_no_shares_keep_wilson():
    import pandas as pd

    from vlmgrade.analysis.scores import score_rows
    from vlmgrade.core.types import Judgment
    from vlmgrade.judges.spec import JudgeSpec
    from vlmgrade.report.tables import leaderboard_table
    from vlmgrade.rubrics import load_rubric

    rows = [{"model": m, "run": "r", "rubric": "x", "criterion": c, "mean": v, "ci_low": v, "ci_high": v, "n": 10,
             "n_unscored": 0, "rank": 1, "better": "higher", "scale": [0, 10]}
            for m, c, v in (("P", "a", 9.0), ("P", "b", 1.5), ("Q", "a", 9.25), ("Q", "b", None))]
    header, body = leaderboard_table(pd.DataFrame(rows))
    overall = header.index("overall (x)")
    assert {b[0]: b[overall] for b in body} == {"P": "5.25", "Q": "-"}

    rubric = load_rubric("grounded")
    repeated = [Judgment(f"s{i}", "m", "grounded", {c.name: 1.0 for c in rubric.criteria}, repeat=k)
                for i in range(30) for k in range(3)]
    row = next(r for r in score_rows(repeated, [rubric]) if r.criterion == "counts")
    assert (row.n, row.n_judgments, row.ci_method) == (30, 90, "wilson") and row.ci_low < 0.9
    assert JudgeSpec("openai", "m", "HTTP://gw.example.com/v1/").public_endpoint == "http://gw.example.com/v1"


def test_a_model_ranked_alone_claims_no_pairing():
    """From a review: with its only rival not ranked, a model read `#1 on 19 paired` though nothing was paired."""
    from vlmgrade.analysis.comparison import leaderboard

    run = _judged_run("r", {"alone": [5.0, 6.0] * 10, "sparse": [5.0] * 4 + [None] * 16})
    got = {r["model"]: (r["rank"], r["paired_n"]) for r in leaderboard([run])["rows"] if r["criterion"] == "grammar"}
    assert got == {"alone": (1, None), "sparse": (None, None)}
