"""GIT and BLIP through transformers, with tiny random configs built here (no download)."""

import pytest
import torch

from vlmgrade.data import load_samples
from vlmgrade.errors import UserError
from vlmgrade.types import GenerationParams
from vlmgrade.zoo import load_captioner, resolve

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "ball", "the", "is", "cup", "blue", ".", "we",
         "are", "at", "park", "today", "it", "sunny", "day", "beach", "this", "my", "room", "i", "see", "there"]


def _tokenizer(folder):
    from transformers import BertTokenizer

    (folder / "vocab.txt").write_text("\n".join(WORDS))
    return BertTokenizer(str(folder / "vocab.txt"))


def tiny_git(folder):
    from transformers import CLIPImageProcessor, GitConfig, GitForCausalLM, GitProcessor

    torch.manual_seed(0)
    image = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    cfg = GitConfig(vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       image_size=32, patch_size=16),
                    vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=64, bos_token_id=2, eos_token_id=3, pad_token_id=0)
    GitForCausalLM(cfg).save_pretrained(folder)
    GitProcessor(image_processor=image, tokenizer=_tokenizer(folder)).save_pretrained(folder)
    return folder


def tiny_blip(folder):
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    torch.manual_seed(0)
    image = BlipImageProcessor(size={"height": 32, "width": 32})
    cfg = BlipConfig(vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, image_size=32, patch_size=16),
                     text_config=dict(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=64, bos_token_id=2,
                                      eos_token_id=3, sep_token_id=3, pad_token_id=0, encoder_hidden_size=16))
    BlipForConditionalGeneration(cfg).save_pretrained(folder)
    BlipProcessor(image_processor=image, tokenizer=_tokenizer(folder)).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("build", [tiny_git, tiny_blip])
def test_hf_baselines_caption_and_exclude_the_prefix(build, tmp_path):
    folder = build(tmp_path / build.__name__)
    kind, _ = resolve(str(folder))
    assert kind == build.__name__.split("_")[1]
    captioner = load_captioner(str(folder), "cpu")
    samples = load_samples("scenes-short:test", 5)
    captions = captioner.caption(samples, GenerationParams(max_new_tokens=6), batch_size=2)
    assert [c.sample_id for c in captions] == [s.id for s in samples]
    assert sum(bool(c.text) for c in captions) >= 3  # a random model may stop at once on some samples
    tok = captioner.processor.tokenizer
    for s, c in zip(samples, captions):
        words = c.text.split()
        assert len(words) <= 6 and all(w in WORDS for w in words)
        # the same caption, computed by hand from the model's own generate on one sample
        prompt = captioner._prompt(s.prefix)
        pixels = captioner.processor(images=[s.image], return_tensors="pt").pixel_values
        out = captioner.model.generate(pixel_values=pixels, input_ids=torch.tensor([prompt]), max_new_tokens=6,
                                       do_sample=False)[0]
        # generate echoes the prompt (BLIP: its BOS instead of [CLS], and without the [SEP]); the caption is the rest
        given = prompt[1:] if captioner.kind == "git" else prompt[1:-1]
        assert out[1:1 + len(given)].tolist() == given
        assert c.text == tok.decode(out[1 + len(given):], skip_special_tokens=True).strip()
        assert tok.decode(out, skip_special_tokens=True).endswith(c.text)


def test_hub_ids_without_local_weights_are_user_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(UserError, match=r"not in the local Hugging Face cache: `(hf|huggingface-cli) download "
                                        r"Salesforce/blip2-opt-2.7b`"):
        load_captioner("Salesforce/blip2-opt-2.7b", "cpu")


def test_hub_ids_route_by_the_cached_model_type_and_labels_name_models(monkeypatch, tmp_path, capsys):
    """A cached hub model is routed by its config.json's model_type (not by its name); LABEL=SOURCE names it."""
    import json

    from huggingface_hub import constants

    from vlmgrade.cli import main

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    snapshot = cache / "models--someone--captioner-x" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (cache / "models--someone--captioner-x" / "refs").mkdir()
    (cache / "models--someone--captioner-x" / "refs" / "main").write_text("abc")
    (snapshot / "config.json").write_text(json.dumps({"model_type": "blip-2"}))
    with pytest.raises(UserError, match="model_type 'blip-2' is not a supported kind"):
        resolve("someone/captioner-x")
    (snapshot / "config.json").write_text(json.dumps({"model_type": "git"}))
    assert resolve("someone/captioner-x") == ("git", "someone/captioner-x")  # no "git" in the name needed
    folder = tiny_git(tmp_path / "git")
    out = tmp_path / "caps.jsonl"
    assert main(["caption", "--model", f"tiny-git={folder}", "--data", "scenes-short:test", "--limit", "2",
                 "--max-new-tokens", "3", "--out", str(out), "--quiet"]) == 0
    assert {json.loads(x)["model"] for x in out.read_text().splitlines()} == {"tiny-git"}


@pytest.mark.parametrize("build", [tiny_git, tiny_blip])
def test_caption_cli_matches_transformers_generate_at_any_batch_size(build, tmp_path, monkeypatch):
    """`vlmgrade caption --model FOLDER` writes what transformers' generate + the processor's decode give."""
    import json

    from transformers import AutoProcessor

    from vlmgrade.cli import main

    from .conftest import run_cli

    folder = build(tmp_path / build.__name__)
    model = load_captioner(str(folder), "cpu").model
    processor = AutoProcessor.from_pretrained(str(folder))
    samples = load_samples("scenes-short:test", 5)
    expected = {}
    for s in samples:  # one sample at a time, by hand
        ids = processor.tokenizer(s.prefix, add_special_tokens=False).input_ids
        tok = processor.tokenizer
        prompt = [tok.cls_token_id, *ids] + ([tok.sep_token_id] if build is tiny_blip else [])
        pixels = processor(images=[s.image], return_tensors="pt").pixel_values
        out = model.generate(pixel_values=pixels, input_ids=torch.tensor([prompt]), max_new_tokens=6,
                             do_sample=False)[0]
        full = processor.decode(out, skip_special_tokens=True)
        given = processor.decode(out[:1 + len(ids)], skip_special_tokens=True)
        expected[s.id] = full[len(given):].strip()
    kind = build.__name__.split("_")[1]
    for batch_size in ("1", "2", "5"):  # each with its own cache: captions are cached whatever the batch size
        out_file = tmp_path / f"caps{batch_size}.jsonl"
        argv = ["caption", "--model", str(folder), "--data", "scenes-short:test", "--limit", "5",
                "--max-new-tokens", "6", "--batch-size", batch_size, "--out", str(out_file), "--quiet"]
        monkeypatch.setenv("VLMGRADE_CACHE", str(tmp_path / f"cache{batch_size}.sqlite"))
        if batch_size == "5" and kind == "git":  # the real entry point once; in-process for the rest
            result = run_cli(*argv)
            assert result.returncode == 0, result.stderr
        else:
            assert main(argv) == 0
        got = {r["id"]: r["text"] for r in map(json.loads, out_file.read_text().splitlines())}
        assert got == expected
