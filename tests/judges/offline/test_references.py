"""The `references` rubric: BLEU-4, ROUGE-L and CIDEr-D equal the libraries called directly; corpus
figures and the judge-against-metrics correlations reach scores.json and the reports."""

import json

import numpy as np
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from rouge_score import rouge_scorer

from tests.helpers import PAPER, prompt_parts
from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples
from vlmgrade.judges.offline.references import words
from vlmgrade.testing.server import Reply

N = 20


def _captions(samples):
    """Three writers of known quality: the reference continuation, its first half, and another sample's."""
    rows = []
    for i, s in enumerate(samples):
        rest = s.references[0][len(s.prefix):].strip()
        other = samples[(i + 1) % len(samples)]
        rows += [{"id": s.id, "model": "copy", "text": rest},
                 {"id": s.id, "model": "half", "text": " ".join(rest.split()[: len(rest.split()) // 2])},
                 {"id": s.id, "model": "other", "text": other.references[0][len(other.prefix):].strip()}]
    return rows


def _direct(samples, texts):
    """The libraries on the same strings, as a user would call them."""
    tok = words  # the same strings: lower-cased words, as the README states
    # what the references say after the prefix, against what the model wrote (the prefix is the data's)
    gts = {s.id: [" ".join(tok(r).split()[len(tok(s.prefix).split()):]) for r in s.references] for s in samples}
    res = {s.id: [tok(texts[s.id])] for s in samples}
    corpus_bleu, bleu = Bleu(4).compute_score(gts, res, verbose=0)
    _, cider = Cider().compute_score(gts, res)
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rouge = [max(scorer.score(r, res[s.id][0])["rougeL"].fmeasure for r in gts[s.id]) for s in samples]
    return {"bleu4": bleu[3], "rouge_l": rouge, "cider_d": list(cider), "corpus_bleu4": corpus_bleu[3]}


def test_reference_metrics_equal_the_libraries_and_rank_the_writers(env, capsys):
    samples = load_samples("scenes-short:test", N)
    rows = _captions(samples)
    path = env / "caps.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["run", "--captions", str(path), "--data", "scenes-short:test", "--limit", str(N), "--rubric",
                 "references", "--judge", "grounded", "--out", str(env / "r"), "--quiet"]) == 0
    judged = [json.loads(x) for x in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    scores = json.loads((env / "r" / "scores.json").read_text())
    for model in ("copy", "half", "other"):
        direct = _direct(samples, {r["id"]: r["text"] for r in rows if r["model"] == model})
        mine = {j["sample_id"]: j["scores"] for j in judged if j["model"] == model}
        for metric in ("bleu4", "rouge_l", "cider_d"):
            ours = [mine[s.id][metric] for s in samples]
            assert np.max(np.abs(np.array(ours) - np.array(direct[metric]))) < 1e-9, (model, metric)
            row = next(r for r in scores["rows"] if r["model"] == model and r["criterion"] == metric)
            assert row["n"] == N and row["ci_low"] <= row["mean"] <= row["ci_high"]
        corpus = {f["metric"]: f for f in scores["corpus"] if f["model"] == model}
        assert abs(corpus["corpus_bleu4"]["value"] - direct["corpus_bleu4"]) < 1e-9
        for f in corpus.values():
            assert f["ci_low"] <= f["value"] <= f["ci_high"] and f["n"] == N
    means = {(r["model"], r["criterion"]): r["mean"] for r in scores["rows"]}
    for metric in ("bleu4", "rouge_l", "cider_d"):
        assert means[("copy", metric)] > means[("half", metric)] > means[("other", metric)], metric
    assert "## Corpus-level reference metrics" in (env / "r" / "report.md").read_text()


def test_judge_criteria_are_correlated_with_the_metrics(env, capsys, judge_server):
    samples = load_samples("scenes-short:test", 20)
    rows = _captions(samples)
    path = env / "caps.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    prefix = {s.id: s.prefix for s in samples}
    grade = {(prefix[r["id"]], r["text"]): {"copy": 9, "half": 5, "other": 2}[r["model"]] for r in rows}

    def judge(body, n):  # grades by which writer it was: it should agree with the metrics
        return Reply(json.dumps({**{c: grade.get(prompt_parts(body), 1) for c in PAPER}, "feedback": "ok"}))

    server = judge_server(judge)
    assert main(["run", "--captions", str(path), "--data", "scenes-short:test", "--limit", "20", "--rubric",
                 "nanovlm-paper", "--rubric", "references", "--judge", "openai:gpt-4o", "--judge-base-url",
                 server.base_url, "--out", str(env / "r"), "--quiet"]) == 0
    versus = json.loads((env / "r" / "scores.json").read_text())["judge_vs_metrics"]
    assert len(versus) == len(PAPER) * 3
    rouge = next(c for c in versus if c["judge_criterion"] == "grammar" and c["metric"] == "rouge_l")
    assert rouge["n"] == 60 and rouge["rho"] > 0.5 and rouge["ci_low"] <= rouge["rho"] <= rouge["ci_high"]
    assert "Judge against reference metrics" in (env / "r" / "report.html").read_text()


def test_an_empty_completion_scores_zero_and_the_prefix_earns_nothing(env):
    """Issue 23, item 4: with the prefix compared too, an empty completion scored ROUGE-L 0.45."""
    from vlmgrade.core.types import Caption
    from vlmgrade.judges.offline.references import judge_all
    from vlmgrade.rubrics import load_rubric

    samples = load_samples("scenes-short:test", 10)
    by_id = {s.id: s for s in samples}
    empty = [Caption(s.id, "empty", "") for s in samples]
    prefix_again = [Caption(s.id, "prefix", s.prefix) for s in samples]  # copying the beginning adds nothing true
    right = [Caption(s.id, "right", s.references[0][len(s.prefix):]) for s in samples]
    judged = judge_all(by_id, empty + prefix_again + right, load_rubric("references"))
    mean = {m: {c: np.mean([j.scores[c] for j in judged if j.model == m]) for c in ("bleu4", "rouge_l", "cider_d")}
            for m in ("empty", "prefix", "right")}
    assert mean["empty"] == {"bleu4": 0.0, "rouge_l": 0.0, "cider_d": 0.0}
    assert all(mean["right"][c] > 2 * mean["prefix"][c] for c in ("rouge_l", "cider_d")), mean
    assert mean["right"]["rouge_l"] > 0.95


def test_a_prefix_only_baseline_row_stands_beside_the_models(env, tiny_model):
    """Issue 23, item 4: what the prefix alone scores, as a control row, not a contestant."""
    assert main(["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "6", "--rubric",
                 "references", "--rubric", "grounded", "--judge", "grounded", "--max-new-tokens", "4", "--out",
                 str(env / "r"), "--quiet"]) == 0
    rows = json.loads((env / "r" / "scores.json").read_text())["rows"]
    baseline = [r for r in rows if r["model"] == "prefix-only"]
    assert {r["criterion"] for r in baseline} == {"bleu4", "rouge_l", "cider_d"}  # none in the grounded rubric
    assert all(r["control"] and r["rubric"] == "references" and r["n"] == 6 for r in baseline)
