"""The local judge (`--judge hf:PATH`): a tiny random chat model made here scores a run end to end, and
its own next-token distribution weights scores exactly."""

import json
import math

import pytest
import torch

from tests.helpers import PAPER, distinct_completions
from vlmgrade.cli import main
from vlmgrade.judges.llm.hf import compact_logprobs
from vlmgrade.judges.llm.logprobs import weighted_scores
from vlmgrade.rubrics import load_rubric, parse_reply


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["grammar creativity consistency meaningfulness plot feedback student picture"] * 20,
                            trainer)  # letters only: every digit stays a token of its own
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>", pad_token="<|end|>")
    fast.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"
    return fast


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("chat")
    tok = _tokenizer()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=2048, n_embd=16, n_layer=1, n_head=2,
                                       eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_a_local_model_judges_a_run_end_to_end(tiny_model, tiny_chat_model, env, capsys):
    args = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "2", "--rubric",
            "nanovlm-paper", "--judge", f"hf:{tiny_chat_model}", "--max-new-tokens", "4", "--out", str(env / "r"),
            "--quiet"]
    assert main(args) == 3  # every judgment unscored: the run says so with exit 3
    assert "2 of 2 judgments are unscored" in capsys.readouterr().err  # the folder is written all the same
    judged = [json.loads(x) for x in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    assert len(judged) == 2
    for j in judged:  # a random model writes nonsense: unscored, with the reason, the text kept
        assert j["unscored_reason"].startswith("unparsable reply") and j["raw"]
        assert j["usage"]["prompt_tokens"] > 100 and j["usage"]["completion_tokens"] > 0
    run = json.loads((env / "r" / "run.json").read_text())
    assert run["judge"]["spec"] == f"hf:{tiny_chat_model}"
    assert run["requests_sent"] == distinct_completions(tiny_model, 2, 4)  # identical prompts are asked once
    again = args[:-3] + ["--out", str(env / "again"), "--quiet", "--allow-unscored"]
    assert main(again) == 0  # accepted; the answers come from the cache
    assert json.loads((env / "again" / "run.json").read_text())["requests_sent"] == 0
    assert main(["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "1", "--judge",
                 f"hf:{env / 'nowhere'}", "--rubric", "nanovlm-paper", "--quiet", "--out", str(env / "x")]) == 2
    assert f"judge model folder not found: {env / 'nowhere'}" in capsys.readouterr().err


def test_weighting_with_the_models_own_distribution_is_exact():
    tok = _tokenizer()
    rubric = load_rubric("nanovlm-paper")
    reply = json.dumps({c: 7 for c in PAPER} | {"feedback": "ok"})
    ids = tok(reply)["input_ids"]
    pieces = [tok.decode([i]) for i in ids]
    assert "".join(pieces) == reply and pieces.count("7") == len(PAPER)
    # scripted next-token distributions: at each score, 7 (p 0.5), 9 (0.3) and 2 (0.2); elsewhere one token
    logits = []
    for i in ids:
        row = torch.full((len(tok),), -1e9, dtype=torch.float64)
        if tok.decode([i]) == "7":
            for digit, p in (("7", 0.5), ("9", 0.3), ("2", 0.2)):
                row[tok.convert_tokens_to_ids(digit)] = math.log(p)
        else:
            row[i] = 0.0
        logits.append(row)
    tokens = compact_logprobs(tok, ids, logits, top=20)
    plain, reason = parse_reply(rubric, reply)
    scores, weighted = weighted_scores(rubric, reply, tokens, plain)
    assert reason is None and set(weighted) == set(PAPER)
    for c in PAPER:
        assert abs(scores[c] - (0.5 * 7 + 0.3 * 9 + 0.2 * 2)) < 1e-9
