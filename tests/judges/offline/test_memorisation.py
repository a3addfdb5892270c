"""The memorisation check: a model that copies its training texts scores above the test references'
own baseline, the index finds what the loop over all pairs finds, and training.json names the data."""

import json
from pathlib import Path

from rouge_score import rouge_scorer

from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples, reference_texts
from vlmgrade.judges.offline.memorisation import TrainingIndex
from vlmgrade.judges.offline.references import words

N = 20


def test_a_copying_model_scores_above_the_reference_baseline(env, capsys):
    train = reference_texts("scenes-short:train", 400)
    manifest = env / "train.jsonl"  # only the texts are read: no pictures needed
    manifest.write_text("".join(json.dumps({"id": f"t{i}", "image": "none.png", "references": [t]}) + "\n"
                                for i, t in enumerate(train)))
    samples = load_samples("scenes-short:test", N)
    rows = []
    for i, s in enumerate(samples):
        rows += [{"id": s.id, "model": "copier", "text": " ".join(train[i].split()[len(s.prefix.split()):])},
                 {"id": s.id, "model": "fresh", "text": s.references[0][len(s.prefix):].strip()}]
    caps = env / "caps.jsonl"
    caps.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["run", "--captions", str(caps), "--data", "scenes-short:test", "--limit", str(N), "--rubric",
                 "memorisation", "--train-data", str(manifest), "--judge", "grounded", "--out", str(env / "r"),
                 "--quiet"]) == 0
    scores = json.loads((env / "r" / "scores.json").read_text())
    means = {(r["model"], r["criterion"]): r for r in scores["rows"]}
    baseline = means[("reference", "train_rouge_l")]
    assert baseline["control"] is True and baseline["n"] == N
    assert means[("copier", "train_rouge_l")]["ci_low"] > baseline["ci_high"]
    assert means[("copier", "train_4gram_share")]["mean"] > means[("fresh", "train_4gram_share")]["mean"]
    assert abs(means[("fresh", "train_rouge_l")]["mean"] - baseline["mean"]) < 1e-9  # fresh is the reference

    index = TrainingIndex.build(train)  # the index against the loop over all pairs
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    judged = [json.loads(x) for x in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    by_id = {s.id: s for s in samples}
    written = {(r["id"], r["model"]): r["text"] for r in rows}
    for j in judged[:30]:
        sample = by_id[j["sample_id"]]
        text = sample.references[0] if j["model"] == "reference" else \
            f"{sample.prefix} {written[(j['sample_id'], j['model'])]}"
        exact = max(scorer.score(t, words(text))["rougeL"].fmeasure for t in index.texts)
        assert abs(j["scores"]["train_rouge_l"] - exact) < 1e-12


def test_the_training_data_comes_from_training_json_or_is_unscored_with_a_reason(tiny_model, env, capsys):
    assert main(["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "4", "--rubric",
                 "memorisation", "--judge", "grounded", "--max-new-tokens", "4", "--out", str(env / "r"),
                 "--quiet"]) == 0
    judged = [json.loads(x) for x in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    assert len(judged) == 8 and all(j["scores"]["train_4gram_share"] is not None or j["unscored_reason"] is None
                                    for j in judged)
    caps = env / "caps.jsonl"
    caps.write_text(json.dumps({"id": "test-000000", "model": "somebody", "text": "a red ball"}) + "\n")
    assert main(["run", "--captions", str(caps), "--data", "scenes-short:test", "--limit", "1", "--rubric",
                 "memorisation", "--judge", "grounded", "--out", str(env / "s"), "--quiet", "--allow-unscored"]) == 0
    judged = [json.loads(x) for x in (env / "s" / "judgments.jsonl").read_text().splitlines()]
    assert "pass --train-data" in judged[0]["unscored_reason"]


def test_a_labelled_model_is_checked_against_the_training_texts_of_its_source(env, monkeypatch):
    """`--model mine=SOURCE` gives the label to the captions; the training texts are those of SOURCE (before,
    they were looked up by the label, and every judgment was unscored). The lookup is recorded: it is the data
    and size SOURCE's training.json names (60000 texts for the shipped model, about 45 s to write out), of which
    the index is built from the first 2000."""
    from vlmgrade.judges.offline import memorisation
    from vlmgrade.zoo import resolve

    looked_up = []
    all_texts = memorisation.training_texts

    def first_texts(source, limit):
        looked_up.append((source, limit))
        return all_texts(source, 2000 if limit is None else min(limit, 2000))

    monkeypatch.setattr(memorisation, "training_texts", first_texts)
    assert main(["run", "--model", "mine=nanovlm-tiny-scenes", "--data", "scenes-short:test", "--limit", "3",
                 "--rubric", "memorisation", "--judge", "grounded", "--max-new-tokens", "8", "--out",
                 str(env / "r"), "--quiet"]) == 0
    record = json.loads((Path(str(resolve("nanovlm-tiny-scenes")[1])) / "training.json").read_text())
    assert looked_up == [(record["train_data"], record["train_size"])]
    judged = [json.loads(line) for line in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    mine = [j for j in judged if j["model"] == "mine"]
    assert len(mine) == 3 and all(j["unscored_reason"] is None for j in mine)
    assert all(0 <= j["scores"]["train_rouge_l"] <= 1 for j in mine)


def test_a_broken_training_record_or_model_config_is_one_line(tiny_model, tmp_path, capsys):
    """A model folder's training.json (where the memorisation rubric learns the training data) and config.json
    are read as any file a user names: not JSON is one line and exit 2, never a traceback."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "training.json").write_text("{not json")
    args = ["run", "--model", f"mine={broken}", "--data", "scenes-short:test", "--limit", "2", "--rubric",
            "memorisation", "--judge", "grounded", "--max-new-tokens", "4", "--out", str(tmp_path / "r"), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vlmgrade: error:") and "training record" in err and "not valid JSON" in err
    assert "\n" not in err
    record = json.loads((tiny_model / "training.json").read_text())
    for content, says in (("[1, 2]", "must be a JSON object, got list"),
                          (json.dumps({**record, "train_size": "abc"}), "train_size must be a positive whole number"),
                          (json.dumps({**record, "train_data": 7}), "train_data must be a data name or path"),
                          (None, "not a regular file")):  # a directory in its place: refused, not "unknown"
        (broken / "training.json").unlink(missing_ok=True)
        if content is None:
            (broken / "training.json").mkdir()
        else:
            (broken / "training.json").write_text(content)
        assert main(args) == 2, content
        err = capsys.readouterr().err.strip()
        assert says in err and "\n" not in err, err
    (broken / "training.json").rmdir()
    (broken / "training.json").write_text(json.dumps(record))
    for config, says in (("[1, 2]", "config.json must be a JSON object"),
                         ('{"kind": ["nanovlm"]}', "kind ['nanovlm'] is not a supported kind")):
        (broken / "config.json").write_text(config)
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and "\n" not in err, err
