"""GIT and BLIP through transformers, with tiny random configs built here (no download)."""

import pytest
import torch

from tests.helpers import run_cli
from vlmgrade.core.errors import UserError
from vlmgrade.core.types import GenerationParams
from vlmgrade.data.datasets import load_samples
from vlmgrade.zoo import load_captioner, resolve

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "ball", "the", "is", "cup", "blue", ".", "we",
         "are", "at", "park", "today", "it", "sunny", "day", "beach", "this", "my", "room", "i", "see", "there"]


def _tokenizer(folder):
    from transformers import BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
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
    (snapshot / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(UserError, match="model_type 'bert' is not a supported kind"):
        resolve("someone/captioner-x")
    for model_type, kind in [("blip-2", "blip-2"), ("vision-encoder-decoder", "vision-encoder-decoder"),
                             ("llava", "image-text-to-text"), ("paligemma", "image-text-to-text")]:
        (snapshot / "config.json").write_text(json.dumps({"model_type": model_type}))
        assert resolve("someone/captioner-x") == (kind, "someone/captioner-x")
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


def _with_image_token(folder):
    from transformers import AddedToken

    tok = _tokenizer(folder)
    tok.add_special_tokens({"additional_special_tokens": [AddedToken("<image>", normalized=False, special=True)]})
    return tok, tok.convert_tokens_to_ids("<image>")


def tiny_blip2(folder):
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, BlipImageProcessor

    torch.manual_seed(0)
    tok, image_id = _with_image_token(folder)
    cfg = Blip2Config(vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, image_size=32, patch_size=16),
                      qformer_config=dict(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=32, encoder_hidden_size=16),
                      text_config=dict(model_type="opt", vocab_size=len(tok), hidden_size=16, num_hidden_layers=1,
                                       ffn_dim=32, num_attention_heads=2, max_position_embeddings=64,
                                       word_embed_proj_dim=16, bos_token_id=2, eos_token_id=3, pad_token_id=0),
                      num_query_tokens=4, image_token_index=image_id)
    Blip2ForConditionalGeneration(cfg).save_pretrained(folder)
    Blip2Processor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok,
                   num_query_tokens=4).save_pretrained(folder)
    return folder


def tiny_ved(folder):
    from transformers import (
        BertConfig,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    torch.manual_seed(0)
    encoder = ViTConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                        image_size=32, patch_size=16)
    decoder = BertConfig(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=64, is_decoder=True, add_cross_attention=True)
    cfg = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    cfg.decoder_start_token_id, cfg.eos_token_id, cfg.pad_token_id = 2, 3, 0
    VisionEncoderDecoderModel(cfg).save_pretrained(folder)
    # the two halves without a processor config, as vit-gpt2-image-captioning ships
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    _tokenizer(folder).save_pretrained(folder)
    return folder


def tiny_llava(folder):
    """A LLaVA (any other image-text-to-text model) with a chat template, so the prefix opens the answer."""
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    torch.manual_seed(0)
    tok, image_id = _with_image_token(folder)
    cfg = LlavaConfig(vision_config=dict(model_type="clip_vision_model", hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=16,
                                         projection_dim=16),
                      text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=16, num_hidden_layers=1,
                                       intermediate_size=32, num_attention_heads=2, num_key_value_heads=2,
                                       max_position_embeddings=64, bos_token_id=2, eos_token_id=3, pad_token_id=0),
                      image_token_index=image_id, vision_feature_layer=-1)
    LlavaForConditionalGeneration(cfg).save_pretrained(folder)
    template = ("{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %}"
                "{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}{% if add_generation_prompt %} we see {% endif %}")
    image = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    LlavaProcessor(image_processor=image, tokenizer=tok, patch_size=16, vision_feature_select_strategy="full",
                   chat_template=template).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("build, kind", [(tiny_blip2, "blip-2"), (tiny_ved, "vision-encoder-decoder"),
                                         (tiny_llava, "image-text-to-text")])
def test_more_transformers_kinds_route_by_model_type_and_caption_after_the_prefix(build, kind, tmp_path):
    """BLIP-2, VisionEncoderDecoder and a generic image-text-to-text model load from a folder by its
    config.json's model_type; each caption is what the model's own generate adds after the prompt, by hand
    on one sample, at any batch size."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    folder = build(tmp_path / kind)
    assert resolve(str(folder)) == (kind, folder)
    captioner = load_captioner(f"tiny={folder}", "cpu")
    samples = load_samples("scenes-short:test", 4)
    model = captioner.model
    expected = {}
    for s in samples:
        if kind == "vision-encoder-decoder":
            tok = AutoTokenizer.from_pretrained(str(folder))
            pixels = AutoImageProcessor.from_pretrained(str(folder))(images=[s.image], return_tensors="pt").pixel_values
            prompt = [2, *tok(s.prefix, add_special_tokens=False).input_ids]
            out = model.generate(pixel_values=pixels, decoder_input_ids=torch.tensor([prompt]), max_new_tokens=5,
                                 do_sample=False)[0]
            assert out[:len(prompt)].tolist() == prompt  # the prefix is the decoder's start, not its output
        else:
            processor = AutoProcessor.from_pretrained(str(folder))
            tok = processor.tokenizer
            text = (processor.apply_chat_template([{"role": "user", "content": [
                {"type": "image"}, {"type": "text", "text": "Describe this picture."}]}], add_generation_prompt=True)
                if kind == "image-text-to-text" else "") + s.prefix
            inputs = processor(images=[s.image], text=[text], return_tensors="pt",
                               add_special_tokens=kind == "blip-2")
            prompt = inputs["input_ids"][0].tolist()
            assert prompt.count(tok.convert_tokens_to_ids("<image>")) == 4  # the image's tokens, expanded
            out = model.generate(**inputs, max_new_tokens=5, do_sample=False)[0]
            assert out[:len(prompt)].tolist() == prompt
        expected[s.id] = tok.decode(out[len(prompt):], skip_special_tokens=True).strip()
        assert len(out) > len(prompt)
    for batch_size in (1, 3):
        captions = captioner.caption(samples, GenerationParams(max_new_tokens=5), batch_size=batch_size)
        assert {c.sample_id: c.text for c in captions} == expected
        assert {c.model for c in captions} == {"tiny"}
    assert any(expected.values())

