"""A local judge folder whose chat template never ends (nested loops over range(100000): 10^10 steps): each
request is unscored with 'timeout: ...' at --judge-timeout, and the run finishes by its --deadline instead of
rendering for hours."""

import json
import subprocess
import sys
import time

import torch

from tests.helpers import child_env

ENDLESS = ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
           "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:")


def endless_judge(folder):
    """A tiny random GPT-2 chat model whose tokenizer carries the ENDLESS chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["grammar creativity consistency plot feedback"] * 10, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>", pad_token="<|end|>")
    fast.chat_template = ENDLESS
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_positions=2048, n_embd=16, n_layer=1, n_head=2,
                                       eos_token_id=fast.eos_token_id, bos_token_id=fast.eos_token_id))
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_an_endless_chat_template_times_out_and_the_run_finishes(tiny_model, tmp_path):
    judge = endless_judge(tmp_path / "judge")
    args = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "2", "--rubric",
            "nanovlm-paper", "--judge", f"hf:{judge}", "--judge-timeout", "2", "--deadline", "8",
            "--max-new-tokens", "4", "--out", str(tmp_path / "r"), "--quiet", "--allow-unscored"]
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "vlmgrade", *args], capture_output=True, text=True,
                              env=child_env(), timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("the run was still going after 120 s (--judge-timeout 2, --deadline 8)") from None
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "exception was never retrieved" not in done.stderr
    judged = [json.loads(x) for x in (tmp_path / "r" / "judgments.jsonl").read_text().splitlines()]
    assert judged and all(j["unscored_reason"].startswith(("timeout: ", "deadline: ")) for j in judged)
    assert any(j["unscored_reason"].startswith("timeout: no answer within 2 s") for j in judged)
    assert seconds < 60, f"{seconds:.0f} s"
