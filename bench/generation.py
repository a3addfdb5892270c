"""Generation speed: NanoVLM batched with the KV cache vs one sample at a time without it, and vs GIT.

All three caption the same images with the same token budget (every row writes exactly
--tokens tokens: end-of-text is disabled), greedy, in this one process:
  (a) NanoVLM (the shipped model's architecture) batched, with the KV cache;
  (b) the same model one sample at a time, recomputing the whole sequence each step (no cache);
  (c) a GIT model of similar parameter count through transformers' own `generate`.
Random weights: speed does not depend on what the weights say. Each figure is the best of three
passes after a warm-up (the naive baseline: one pass).

    python bench/generation.py [--images 64] [--tokens 32] [--batch-size 32]

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from vlmgrade.core.assets import zoo_dir
from vlmgrade.data.datasets import load_samples
from vlmgrade.zoo.nanovlm import NanoVLM, NanoVLMConfig, image_to_tensor


def nanovlm_model() -> NanoVLM:
    raw = json.loads((zoo_dir() / "nanovlm-mini-scenes" / "config.json").read_text())
    names = set(NanoVLMConfig.__dataclass_fields__) - {"decoder_width", "n_patches", "n_image_tokens"}
    torch.manual_seed(0)
    return NanoVLM(NanoVLMConfig(**{k: v for k, v in raw.items() if k in names})).eval()


def git_model(target_params: int):
    from transformers import GitConfig, GitForCausalLM

    torch.manual_seed(0)
    cfg = GitConfig(vision_config=dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=2,
                                       num_attention_heads=4, image_size=96, patch_size=16),
                    vocab_size=512, hidden_size=192, num_hidden_layers=4, num_attention_heads=4,
                    intermediate_size=768, max_position_embeddings=128, bos_token_id=1, eos_token_id=2,
                    pad_token_id=0)
    model = GitForCausalLM(cfg).eval()
    return model, sum(p.numel() for p in model.parameters())


def timed(fn, repeats: int = 3) -> float:
    """Best of `repeats` wall times: the least disturbed by whatever else the machine is doing."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--naive-images", type=int, default=16, help="the no-cache baseline is slow: fewer images")
    args = ap.parse_args()
    torch.set_flush_denormal(True)

    samples = load_samples("scenes-short:test", args.images)
    model = nanovlm_model()
    img = image_to_tensor([s.image for s in samples], model.config.image_size)
    prompt = [1]  # BOS only: every row writes the whole budget
    never = -1  # an end-of-text id no token has
    n, T, B = len(samples), args.tokens, args.batch_size

    def batched():
        for i in range(0, n, B):
            model.generate(img[i:i + B], [prompt] * len(img[i:i + B]), never, max_new_tokens=T)

    def naive():
        for i in range(args.naive_images):
            model.generate(img[i:i + 1], [prompt], never, max_new_tokens=T, use_cache=False)

    git, git_params = git_model(model.num_params())
    pixels = torch.nn.functional.interpolate(img, size=96)  # the images (a) and (b) saw, at GIT's input size

    def git_generate():
        with torch.no_grad():
            for i in range(0, n, B):
                chunk = pixels[i:i + B]
                git.generate(pixel_values=chunk, input_ids=torch.ones(len(chunk), 1, dtype=torch.long),
                             max_new_tokens=T, min_new_tokens=T, do_sample=False)

    batched()  # warm-up: first calls pay for allocation
    git_generate()
    a = timed(batched)
    b = timed(naive, repeats=1)  # 16x slower: one pass is long enough to be steady
    c = timed(git_generate)
    tok_a, tok_b, tok_c = n * T / a, args.naive_images * T / b, n * T / c
    print(f"NanoVLM ({model.num_params() / 1e6:.1f}M) batched+cache: {n / a:8.1f} images/s {tok_a:9.0f} tokens/s")
    print(f"NanoVLM one at a time, no cache:  {args.naive_images / b:8.1f} images/s {tok_b:9.0f} tokens/s")
    print(f"GIT ({git_params / 1e6:.1f}M) transformers generate: {n / c:8.1f} images/s {tok_c:9.0f} tokens/s")
    print(json.dumps({"images": n, "tokens_per_image": T, "batch_size": B, "nanovlm_params": model.num_params(),
                      "git_params": git_params, "nanovlm_batched_tokens_per_s": round(tok_a, 1),
                      "nanovlm_naive_tokens_per_s": round(tok_b, 1), "git_tokens_per_s": round(tok_c, 1),
                      "nanovlm_batched_vs_naive": round(tok_a / tok_b, 2),
                      "nanovlm_vs_git_tokens_per_s": round(tok_a / tok_c, 2)}))


if __name__ == "__main__":
    main()
