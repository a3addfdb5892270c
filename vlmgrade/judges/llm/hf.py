"""A local judge: a transformers chat model run in this process (`--judge hf:PATH|HUB_ID`), for users
without an API or a server. It takes the same request bodies as the OpenAI judge (so the same rubric
rendering, cache keys and reply parsing apply) and answers with the model's own generation: greedy at
temperature 0, sampled above. Structured output is not enforced (`response_format` is ignored; the
reply is parsed as any plain reply). With `logprobs`, each generated token carries the model's own
top-k next-token log-probabilities, so probability weighting works as with an API.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vlmgrade.core.errors import UserError
from vlmgrade.core.files import model_folder
from vlmgrade.judges import JudgeSpec
from vlmgrade.judges.llm.openai import Reply

MAX_NEW_TOKENS = 256  # a JSON object of scores and a sentence of feedback
MAX_PROMPT_CHARS = 2_000_000  # a rendered chat prompt longer than this is a template gone wrong, not a prompt
STOP_GRACE_S = 30.0  # how long a stopped request's worker may take to notice (a line, a token) before it is left


class Stopped(Exception):
    """The request this work was for has timed out (or the run's deadline passed): stop where it stands."""


@contextmanager
def stoppable(stop: threading.Event) -> Iterator[None]:
    """Within it, Python code run on this thread (a folder's chat template, compiled by Jinja, included)
    raises Stopped at its next line once `stop` is set. A template is data from the judge folder, and
    nested loops over `range(100000)` would otherwise run for hours past --judge-timeout and --deadline;
    a thread cannot be killed, so it is asked to stop at every line."""

    def line(frame: Any, event: str, arg: Any) -> Any:
        if stop.is_set():
            raise Stopped("stopped")
        return line

    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: line)  # this thread only
    try:
        yield
    finally:
        sys.settrace(previous)


class Retries:
    count = 0  # a local model never retries; the progress bar reads this


def _text_only(messages: list[dict]) -> list[dict]:
    """Chat messages with image parts dropped: a text model reads the text."""
    out = []
    for m in messages:
        content = m["content"]
        if not isinstance(content, str):
            content = "\n".join(p["text"] for p in content if p.get("type") == "text")
        out.append({"role": m["role"], "content": content})
    return out


def compact_logprobs(tokenizer: Any, token_ids: Sequence[int], step_logits: Sequence[Any], top: int) -> list:
    """(token text, [(alternative text, logprob), ...]) per generated token, the format of
    `logprobs.from_response`; step_logits[i] holds the logits that chose token_ids[i]."""
    import torch

    out = []
    for token, logits in zip(token_ids, step_logits):
        logp = torch.log_softmax(logits.double(), dim=-1)  # double: the weighting is then exact to 1e-12
        values, ids = logp.topk(min(top, logp.shape[-1]))
        alternatives = [(tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, ids)]
        out.append((tokenizer.decode([int(token)]), alternatives))
    return out


class HFJudge:
    def __init__(self, spec: JudgeSpec, device: str = "auto", concurrency: int = 1) -> None:
        # `concurrency` is accepted like every judge kind's, but the model answers one request at a time
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from vlmgrade.core.devices import pick_device

        self.spec = spec
        self.device = pick_device(device)
        if Path(spec.model).is_dir():
            model_folder(Path(spec.model), "judge model")  # a FIFO there would hang the load itself
        try:
            # never the judge folder's own code (transformers would ask on stdin, and a piped "y" runs it)
            self.tokenizer = AutoTokenizer.from_pretrained(spec.model, trust_remote_code=False)
            model = AutoModelForCausalLM.from_pretrained(spec.model, trust_remote_code=False)
            self.model = model.to(self.device).eval()
        except (OSError, ValueError) as e:
            raise UserError(f"cannot load the judge model {spec.model}: {str(e).splitlines()[0]} (offline, a hub id "
                            "must already be in the local Hugging Face cache)") from None
        self.torch = torch
        self.retries = Retries()
        self.lock = asyncio.Lock()  # one generation at a time: the model is not shared between threads

    def _prompt_ids(self, messages: list[dict], stop: threading.Event) -> Any:
        if getattr(self.tokenizer, "chat_template", None):
            with stoppable(stop):  # the folder's template: bounded by the request's time, as a server's answer is
                text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            if not isinstance(text, str) or len(text) > MAX_PROMPT_CHARS:
                size = f"{len(text):,} characters" if isinstance(text, str) else type(text).__name__
                raise ValueError(f"the judge's chat template rendered {size} (at most {MAX_PROMPT_CHARS:,})")
            # the template wrote the special tokens it wants: none are added again (as transformers does)
            ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        else:  # a base model: the conversation as plain text
            text = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant:"
            ids = self.tokenizer(text, return_tensors="pt")["input_ids"]
        return ids.to(self.device)

    def _generate(self, body: dict, stop: threading.Event) -> Reply:
        from transformers import StoppingCriteria, StoppingCriteriaList

        class WhenStopped(StoppingCriteria):
            """Generation ends at the next token once the request has timed out."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return stop.is_set()

        ids = self._prompt_ids(_text_only(body["messages"]), stop)
        temperature = float(body.get("temperature") or 0.0)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with self.torch.no_grad():
            out = self.model.generate(ids, attention_mask=self.torch.ones_like(ids),
                                      max_new_tokens=int(body.get("max_tokens") or MAX_NEW_TOKENS),
                                      do_sample=temperature > 0, temperature=temperature if temperature > 0 else None,
                                      top_p=None, top_k=None, output_scores=True, return_dict_in_generate=True,
                                      pad_token_id=pad, stopping_criteria=StoppingCriteriaList([WhenStopped()]))
        if stop.is_set():
            raise Stopped("stopped")
        new = out.sequences[0, ids.shape[1]:].tolist()
        special = set(self.tokenizer.all_special_ids)
        keep = [i for i, t in enumerate(new) if t not in special]
        pieces = [self.tokenizer.decode([new[i]]) for i in keep]
        logprobs = None
        if body.get("logprobs"):
            logprobs = compact_logprobs(self.tokenizer, [new[i] for i in keep], [out.scores[i][0] for i in keep],
                                        int(body.get("top_logprobs") or 20))
        usage = {"prompt_tokens": int(ids.shape[1]), "completion_tokens": len(new),
                 "total_tokens": int(ids.shape[1]) + len(new)}
        return Reply("".join(pieces), usage, logprobs)

    async def complete(self, body: dict) -> Reply:
        """The reply, generated on a worker thread. Cancelled (the judging stage's --judge-timeout or
        --deadline), the worker is told to stop and awaited before the model is free again: it is never
        left running, neither into the next request (the model is not shared between threads) nor past
        the end of the run (the process would wait for it)."""
        async with self.lock:
            stop = threading.Event()
            work = asyncio.ensure_future(asyncio.to_thread(self._generate, body, stop))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                stop.set()
                await asyncio.wait([work], timeout=STOP_GRACE_S)
                if work.done() and not work.cancelled():
                    work.exception()  # retrieved: Stopped is the expected end, not a log line at exit
                raise

    async def close(self) -> None:
        pass
