"""--controls with a judge that reads the picture: each model against the constant text and against its
own captions of rotated pictures, said in words in the terminal, report.md, report.html and scores.json."""

import json

import vlmgrade
from vlmgrade.analysis.controls import words_after
from vlmgrade.core.types import Caption
from vlmgrade.data.datasets import load_samples
from vlmgrade.pipeline.cache import image_digest
from vlmgrade.testing.plain_english import plain_listing

N = 24


class PixelOracle:
    """Names the objects of whichever picture it is shown: it reads the picture (by its pixels) and
    nothing else, so a rotated picture gets that picture's objects."""

    def __init__(self, samples) -> None:
        self.by_pixels = {image_digest(s.image): s for s in samples}

    def caption(self, samples, params, batch_size):
        import random

        rng = random.Random(0)
        return [Caption(s.id, "oracle", f"I see {plain_listing(self.by_pixels[image_digest(s.image)].objects, rng)}.")
                for s in samples]


class ReferenceParrot:
    """Writes the sample's own reference continuation whatever the picture: right on the true pictures,
    and just as right on rotated ones, because it never looks."""

    def caption(self, samples, params, batch_size):
        return [Caption(s.id, "parrot", words_after(s.references[0], s.prefix)) for s in samples]


class Constant:
    def caption(self, samples, params, batch_size):
        return [Caption(s.id, "fixed", "I see a red ball next to a big brown dog.") for s in samples]


def test_each_model_is_checked_against_the_constant_text_and_its_rotated_pictures(tmp_path, capsys):
    samples = load_samples("scenes-short:test", N)
    vlmgrade.evaluate(models={"oracle": PixelOracle(samples), "parrot": ReferenceParrot(), "fixed": Constant()},
                            data=samples, judge="grounded", controls=True, out=str(tmp_path / "r"), quiet=True)
    scores = json.loads((tmp_path / "r" / "scores.json").read_text())
    verdicts = {(c["model"], c["against"]): c["passes"] for c in scores["controls"]["models"]}
    assert verdicts == {("oracle", "constant"): True, ("oracle", "rotated"): True,
                        ("parrot", "constant"): True, ("parrot", "rotated"): False,
                        ("fixed", "constant"): False, ("fixed", "rotated"): False}
    assert all(c["n"] == N and c["criterion"] == "grounded" for c in scores["controls"]["models"])
    report = (tmp_path / "r" / "report.md").read_text()
    assert "## Does each model read the picture?" in report
    assert "parrot does NOT use the picture on grounded" in report and "oracle uses the picture" in report
    assert "fixed does NOT beat the constant text" in (tmp_path / "r" / "report.html").read_text()
    rows = {(r["model"], r["criterion"]): r for r in scores["rows"]}
    assert rows[("parrot@rotated", "grounded")]["control"] and rows[("constant", "grounded")]["control"]
    assert {r["model"] for r in scores["rows"] if not r.get("control")} == {"oracle", "parrot", "fixed"}


def test_the_terminal_says_which_models_do_not_use_the_picture(tmp_path, capsys):
    from vlmgrade.cli import main

    assert main(["run", "--captions", str(_captions(tmp_path)), "--data", "scenes-short:test", "--limit", "6",
                 "--controls", "--judge", "grounded", "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "reference above shuffled / other / constant" in err
    assert "vlmgrade: warning: given does NOT beat the constant text on grounded" in err


def _captions(tmp_path):
    path = tmp_path / "captions.jsonl"
    path.write_text("".join(json.dumps({"id": s.id, "model": "given", "text": "I like it here."}) + "\n"
                            for s in load_samples("scenes-short:test", 6)))
    return path
