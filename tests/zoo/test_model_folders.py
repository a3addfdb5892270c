"""Model folders and cards: the cards' sizes are the architectures', a caption is what the model wrote after
the prefix, pickle checkpoints are refused unless opted in, and untrusted configs are checked before any
allocation."""

import json
import os
import shutil

from tests.helpers import InProcess, assert_user_error, run_cli
from vlmgrade.cli import main


def test_zoo_card_params_match_the_architectures():
    from vlmgrade.zoo import cards
    from vlmgrade.zoo.nanovlm import NanoVLM, preset

    for card in cards():
        if card.trainable_only:
            assert NanoVLM(preset(card.source.split(":")[1])).num_params() == card.params


def test_caption_text_is_what_the_model_wrote_after_the_prefix(tiny_model):
    from vlmgrade.core.types import GenerationParams
    from vlmgrade.data.datasets import load_samples
    from vlmgrade.zoo import load_captioner
    from vlmgrade.zoo.nanovlm import image_to_tensor

    samples = load_samples("scenes-short:test", 3)
    cap = load_captioner(str(tiny_model), "cpu")
    captions = cap.caption(samples, GenerationParams(max_new_tokens=8))
    for s, c in zip(samples, captions):
        prompt = cap.tokenizer.prompt(s.prefix)
        img = image_to_tensor([s.image], cap.model.config.image_size)
        ids = cap.model.generate(img, [prompt], cap.tokenizer.eos_id, max_new_tokens=8)[0]
        assert c.text == cap.tokenizer.decode(ids).strip()
        assert not c.text.startswith(s.prefix)


def test_pickle_checkpoints_are_refused_unless_opted_in(tiny_model, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file

    cli = InProcess(capsys)
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model, folder)
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    out = tmp_path / "o.jsonl"
    args = ["caption", "--model", str(folder), "--data", "scenes-short:test", "--limit", "3", "--max-new-tokens", "5",
            "--out", str(out), "--quiet"]
    assert_user_error(run_cli(*args), "holds only a pickle checkpoint (pytorch_model.bin)")
    assert cli(*args, "--allow-pickle").returncode == 0
    reference = tmp_path / "ref.jsonl"
    assert cli(*args[:-3], "--out", str(reference), "--quiet", "--model", str(tiny_model)).returncode == 0
    assert out.read_text().replace(str(folder), "M") == reference.read_text().replace(str(tiny_model), "M")


def test_untrusted_model_configs_are_checked_before_allocation(tiny_model, tmp_path, capsys):
    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "decoder_layers": 1_000_000}))
    args = ["caption", "--model", str(folder), "--data", "scenes-short:test", "--limit", "1", "--out",
            str(tmp_path / "c.jsonl"), "--quiet"]
    assert main(args) == 2
    assert "decoder_layers must be a whole number from 1 to 64" in capsys.readouterr().err
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer.json").unlink()
    os.symlink("/dev/zero", folder / "tokenizer.json")
    assert main(args) == 2
    assert "is not a regular file" in capsys.readouterr().err
