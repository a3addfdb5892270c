"""A small byte-level BPE tokenizer trained on the training text with the `tokenizers` library.

Byte-level means any prefix a user types round-trips exactly (no unknown tokens), and a vocabulary of a
few hundred entries turns a child's words into mostly whole-word tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"


class TextTokenizer:
    """Thin wrapper over `tokenizers.Tokenizer` with the ids the model needs."""

    def __init__(self, tok: Tokenizer) -> None:
        self.tok = tok
        self.bos_id = tok.token_to_id(BOS)
        self.eos_id = tok.token_to_id(EOS)
        self.pad_id = tok.token_to_id(PAD)
        if None in (self.bos_id, self.eos_id, self.pad_id):
            raise ValueError("tokenizer lacks the <|bos|>/<|eos|>/<|pad|> special tokens")

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text).ids

    def prompt(self, prefix: str) -> list[int]:
        """BOS followed by the prefix; an empty prefix asks for a description from scratch."""
        return [self.bos_id] + (self.encode(prefix) if prefix else [])

    def target(self, text: str) -> list[int]:
        """A whole training text: BOS, the text, EOS."""
        return [self.bos_id] + self.encode(text) + [self.eos_id]

    def decode(self, ids: Iterable[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=True)

    def save(self, path: str) -> None:
        self.tok.save(path)

    @classmethod
    def load(cls, path: str | Path) -> TextTokenizer:
        from tokenizers import Tokenizer

        from vlmgrade.core.files import regular_file

        return cls(Tokenizer.from_file(str(regular_file(Path(path), "tokenizer", max_bytes=64 << 20))))

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 512) -> TextTokenizer:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)
