"""NanoVLM: the paper's three-part vision-language model (visual encoder, connector, GPT decoder).

nanoGPT style: one config dataclass beside the model, pre-LayerNorm blocks, shape comments on tensor
lines, and `save_pretrained` / `from_pretrained` as config.json + model.safetensors + tokenizer.json.

Beyond the paper, two switches exist for the shipped model (documented in its zoo card):
`image_tokens="patches"` hands the decoder the projected [CLS] *and* patch outputs instead of the
[CLS] output alone, and `aux_labels` adds a head on [CLS] for multi-label object supervision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

KV = tuple[torch.Tensor, torch.Tensor]  # one attention layer's keys and values, each (B, h, T, hs)

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from vlmgrade.zoo.tokenizer import TextTokenizer

CONFIG_NAME, WEIGHTS_NAME, TOKENIZER_NAME = "config.json", "model.safetensors", "tokenizer.json"


LIMITS = {"image_size": 1024, "patch_size": 256, "stem_channels": 4096, "encoder_layers": 64, "encoder_width": 8192,
          "encoder_heads": 128, "decoder_layers": 64, "heads": 128, "head_size": 1024, "connector_expansion": 16,
          "vocab_size": 1_000_000, "max_text_len": 8192}  # what a config.json may ask for, checked before allocation
# Each field within its limit can still multiply into hundreds of GB (width 8192 x 64 layers x 128 heads), so
# the whole model is estimated too, before allocation: its parameters, and the float32 activations one
# image and max_text_len tokens need (the largest stage at once, plus the decoder's key-value cache).
MAX_PARAMS = 2_000_000_000  # 8 GB of float32 weights; the shipped models have 6-25 million
MAX_ACTIVATION_BYTES = 4 << 30


@dataclass
class NanoVLMConfig:
    image_size: int = 224
    patch_size: int = 16
    # "conv": two convs, LayerNorm, ReLU, linear (the paper's text); "linear"; "cnn": a small 3x3 CNN (see
    # PatchEmbed), which sees shapes the paper's two patchifying convs miss at a fraction of the steps
    patch_embed: str = "conv"
    stem_channels: int = 512  # with vocab 4096: the paper's totals and encoder share (see PRESETS)
    encoder_layers: int = 1
    encoder_width: int = 400  # the paper's "image embed dim"
    encoder_heads: int = 8
    decoder_layers: int = 4
    heads: int = 8
    head_size: int = 12
    connector_expansion: int = 4  # hidden width of the two-layer connector MLP, as a multiple of encoder_width
    image_tokens: str = "cls"  # "cls": one prefix token (the paper); "patches": [CLS] plus every patch
    vocab_size: int = 4096
    max_text_len: int = 128
    dropout: float = 0.1
    aux_labels: list[str] = field(default_factory=list)  # names of multi-label targets predicted from [CLS]
    # per-patch targets (training only): the kind and colour of the object drawn at each patch's centre,
    # plus "none"; dense supervision teaches the encoder to see objects far faster than [CLS] labels alone
    patch_kinds: list[str] = field(default_factory=list)
    patch_colors: list[str] = field(default_factory=list)
    # derived in __post_init__
    decoder_width: int = 0
    n_patches: int = 0
    n_image_tokens: int = 0

    def __post_init__(self) -> None:
        # an untrusted config.json is checked before any tensor is allocated
        for name, top in LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise ValueError(f"{name} must be a whole number from 1 to {top}, not {value!r}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.patch_embed not in ("conv", "linear", "cnn"):
            raise ValueError(f"patch_embed must be 'conv', 'linear' or 'cnn', not {self.patch_embed!r}")
        if self.patch_embed == "conv" and self.patch_size % 4:
            raise ValueError("the conv patch embedding needs a patch_size divisible by 4")
        if self.patch_embed == "cnn" and (self.patch_size < 2 or self.patch_size & (self.patch_size - 1)):
            raise ValueError("the cnn patch embedding needs a patch_size that is a power of 2")
        if self.encoder_width % self.encoder_heads:
            raise ValueError("encoder_width must be divisible by encoder_heads")
        if self.image_tokens not in ("cls", "patches"):
            raise ValueError(f"image_tokens must be 'cls' or 'patches', not {self.image_tokens!r}")
        self.decoder_width = self.heads * self.head_size
        self.n_patches = (self.image_size // self.patch_size) ** 2
        self.n_image_tokens = 1 + (self.n_patches if self.image_tokens == "patches" else 0)
        params, activations = estimated_params(self), 4 * estimated_activations(self)
        if params > MAX_PARAMS or activations > MAX_ACTIVATION_BYTES:
            raise ValueError(f"this config needs about {params / 1e9:.2f} billion parameters ({4 * params / 2**30:.1f} "
                             f"GiB as float32) and {activations / 2**30:.1f} GiB of activations for one image and "
                             f"{self.max_text_len} text tokens; at most {MAX_PARAMS / 1e9:g} billion parameters "
                             f"and {MAX_ACTIVATION_BYTES / 2**30:g} GiB are loaded")

    @classmethod
    def from_dict(cls, data: dict) -> NanoVLMConfig:
        names = {f.name for f in fields(cls)} - {"decoder_width", "n_patches", "n_image_tokens"}
        unknown = set(data) - names - {"decoder_width", "n_patches", "n_image_tokens", "kind"}
        if unknown:
            raise ValueError(f"unknown NanoVLM config keys: {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in data.items() if k in names})


def _block_params(width: int) -> int:
    """One pre-LayerNorm block: two LayerNorms, qkv and proj, and the 4x MLP."""
    return 12 * width * width + 13 * width


def cnn_channels(cfg: NanoVLMConfig) -> list[int]:
    """The cnn stem's widths: one stride-2 stage per halving of patch_size, the last two at stem_channels,
    each earlier one half the next (the full-resolution stages are the costly ones)."""
    stages = cfg.patch_size.bit_length() - 1
    return [max(1, cfg.stem_channels >> max(0, stages - 2 - i)) for i in range(stages)]


def estimated_params(cfg: NanoVLMConfig) -> int:
    """NanoVLM(cfg).num_params(), counted from the config alone (tests hold it equal)."""
    D, W, c, k = cfg.encoder_width, cfg.decoder_width, cfg.stem_channels, cfg.patch_size // 4
    if cfg.patch_embed == "conv":
        stem = 49 * (c // 2) + (c // 2) * c * k * k + c + 2 * c + c * D + D
    elif cfg.patch_embed == "cnn":
        widths = cnn_channels(cfg)
        convs = [(a, b) for a, b in zip([3, *widths], widths)] + [(c, c)]
        stem = sum(9 * a * b + b for a, b in convs) + 2 * c + c * D + D
    else:
        stem = 3 * cfg.patch_size**2 * D + D
    encoder = stem + D + (cfg.n_patches + 1) * D + cfg.encoder_layers * _block_params(D) + 2 * D
    hidden = cfg.connector_expansion * D
    connector = D * hidden + hidden + hidden * W + W
    decoder = (cfg.vocab_size + cfg.n_image_tokens + cfg.max_text_len) * W + cfg.decoder_layers * _block_params(W) \
        + 2 * W  # the head is tied to the token embedding
    heads = sum((D + 1) * n for n in (len(cfg.aux_labels), len(cfg.patch_kinds) + 1 if cfg.patch_kinds else 0,
                                      len(cfg.patch_colors) + 1 if cfg.patch_colors else 0))
    return encoder + connector + decoder + heads


def estimated_activations(cfg: NanoVLMConfig) -> int:
    """Floats alive at once for one image and max_text_len tokens: the largest stage (the conv stem, an
    encoder or decoder block with its attention scores, the logits) plus the decoder's key-value cache."""
    S, c, D, W = cfg.image_size, cfg.stem_channels, cfg.encoder_width, cfg.decoder_width
    Te, Td = cfg.n_patches + 1, cfg.n_image_tokens + cfg.max_text_len
    if cfg.patch_embed == "conv":
        stem = (c // 2) * (S // 4) ** 2 + c * cfg.n_patches
    elif cfg.patch_embed == "cnn":
        stem = cnn_channels(cfg)[0] * (S // 2) ** 2 + 3 * S * S
    else:
        stem = 3 * S * S + Te * D
    stages = (stem, 8 * Te * D + cfg.encoder_heads * Te * Te, 8 * Td * W + cfg.heads * Td * Td, Td * cfg.vocab_size)
    return max(stages) + 2 * cfg.decoder_layers * Td * W


# The paper's Table 1. Encoder heads, the vocabulary and the stem's width are not given there. A
# 4096-token vocabulary and a 512-channel stem give totals of 5.97M, 15.37M and 24.94M (the paper:
# about 5-6M, 16M, 25M) and encoder shares of 72-78% (the paper: 70-78%). No one vocabulary with the
# tied head fits every decoder share the paper gives (16-21%): the mini decoder reaches 16% only
# above about 4,750 tokens, and the large one stays under 21% only below about 3,200 tokens.
# `component_shares` reports where each preset lands.
PRESETS: dict[str, dict] = {
    "mini": dict(encoder_layers=1, decoder_layers=4, heads=8, head_size=12, encoder_width=400),
    "base": dict(encoder_layers=3, decoder_layers=8, heads=8, head_size=16, encoder_width=512),
    "large": dict(encoder_layers=5, decoder_layers=10, heads=16, head_size=12, encoder_width=512),
}


def component_shares(cfg: NanoVLMConfig) -> dict:
    """Parameters in total and the encoder's, connector's and decoder's shares (counted without memory)."""
    with torch.device("meta"):
        model = NanoVLM(cfg)
    total = model.num_params()
    encoder = sum(p.numel() for p in model.encoder.parameters())
    connector = sum(p.numel() for p in model.connector.parameters())
    return {"params": total, "encoder": round(encoder / total, 3), "connector": round(connector / total, 3),
            "decoder": round((total - encoder - connector) / total, 3)}


def preset(name: str, **overrides: object) -> NanoVLMConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown NanoVLM preset {name!r}; choose one of {', '.join(PRESETS)}")
    return NanoVLMConfig(**{**PRESETS[name], **overrides})


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float, causal: bool) -> None:
        super().__init__()
        self.heads, self.causal, self.dropout = heads, causal, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                cache: KV | None = None) -> tuple[torch.Tensor, KV]:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, h, T, hs)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, h, Tpast+T, hs)
        p = self.dropout if self.training else 0.0
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, h, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.drop(self.proj(y)), (k, v)


class Block(nn.Module):
    """Pre-LayerNorm transformer block, shared by encoder (bidirectional) and decoder (causal)."""

    def __init__(self, width: int, heads: int, dropout: float, causal: bool) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = Attention(width, heads, dropout, causal)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                cache: KV | None = None) -> tuple[torch.Tensor, KV]:
        a, new_cache = self.attn(self.ln1(x), mask, cache)
        x = x + a
        return x + self.mlp(self.ln2(x)), new_cache


class PatchEmbed(nn.Module):
    """Image -> patch vectors. 'conv': conv(k4,s4) ReLU conv(k=p/4) LayerNorm ReLU linear, per the paper's text.
    'cnn': 3x3 convs with stride 2 until one cell per patch, ReLU after each, one residual 3x3 conv at the patch
    grid, then LayerNorm ReLU linear. Its cells see about 2 patches across (the paper's stem sees exactly one
    patch through two layers), which is what tells a bus from a plane in a 16-pixel patch."""

    def __init__(self, cfg: NanoVLMConfig) -> None:
        super().__init__()
        self.kind = cfg.patch_embed
        if self.kind == "cnn":
            widths = cnn_channels(cfg)
            self.stages = nn.ModuleList(nn.Conv2d(a, b, kernel_size=3, stride=2, padding=1)
                                        for a, b in zip([3, *widths], widths))
            self.mix = nn.Conv2d(widths[-1], widths[-1], kernel_size=3, padding=1)
            self.norm = nn.LayerNorm(widths[-1])
            self.linear = nn.Linear(widths[-1], cfg.encoder_width)
        elif self.kind == "conv":
            c = cfg.stem_channels
            self.conv1 = nn.Conv2d(3, c // 2, kernel_size=4, stride=4)
            self.conv2 = nn.Conv2d(c // 2, c, kernel_size=cfg.patch_size // 4, stride=cfg.patch_size // 4)
            self.norm = nn.LayerNorm(c)
            self.linear = nn.Linear(c, cfg.encoder_width)
        else:
            self.linear = nn.Linear(3 * cfg.patch_size**2, cfg.encoder_width)
            self.patch = cfg.patch_size

    def forward(self, img: torch.Tensor) -> torch.Tensor:  # img: (B, 3, H, W) in [-1, 1]
        if self.kind == "cnn":
            x = img
            for conv in self.stages:
                x = F.relu(conv(x))  # halves H and W
            x = x + F.relu(self.mix(x))  # (B, c, H/p, W/p)
            x = F.relu(self.norm(x.flatten(2).transpose(1, 2)))  # (B, N, c)
            return self.linear(x)  # (B, N, D)
        if self.kind == "conv":
            x = self.conv2(F.relu(self.conv1(img)))  # (B, c, H/p, W/p)
            x = F.relu(self.norm(x.flatten(2).transpose(1, 2)))  # (B, N, c)
            return self.linear(x)  # (B, N, D)
        B, C, H, W = img.shape
        p = self.patch
        x = img.unfold(2, p, p).unfold(3, p, p)  # (B, C, H/p, W/p, p, p)
        x = x.permute(0, 2, 3, 1, 4, 5).reshape(B, (H // p) * (W // p), C * p * p)  # (B, N, C*p*p)
        return self.linear(x)


class VisualEncoder(nn.Module):
    def __init__(self, cfg: NanoVLMConfig) -> None:
        super().__init__()
        self.patch = PatchEmbed(cfg)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.encoder_width))
        self.pos = nn.Parameter(torch.randn(1, cfg.n_patches + 1, cfg.encoder_width) * 0.02)
        self.blocks = nn.ModuleList(
            Block(cfg.encoder_width, cfg.encoder_heads, cfg.dropout, causal=False) for _ in range(cfg.encoder_layers)
        )
        self.ln = nn.LayerNorm(cfg.encoder_width)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.patch(img)  # (B, N, D)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos  # (B, 1+N, D)
        for block in self.blocks:
            x, _ = block(x)
        return self.ln(x)  # (B, 1+N, D); index 0 is [CLS]


class NanoVLM(nn.Module):
    def __init__(self, cfg: NanoVLMConfig) -> None:
        super().__init__()
        self.config = cfg
        W = cfg.decoder_width
        self.encoder = VisualEncoder(cfg)
        hidden = cfg.connector_expansion * cfg.encoder_width
        self.connector = nn.Sequential(nn.Linear(cfg.encoder_width, hidden), nn.GELU(), nn.Linear(hidden, W))
        self.tok = nn.Embedding(cfg.vocab_size, W)
        self.pos = nn.Embedding(cfg.n_image_tokens + cfg.max_text_len, W)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(W, cfg.heads, cfg.dropout, causal=True) for _ in range(cfg.decoder_layers))
        self.ln = nn.LayerNorm(W)
        self.head = nn.Linear(W, cfg.vocab_size, bias=False)
        self.head.weight = self.tok.weight  # weight tying, as in GPT-2 / nanoGPT
        self.aux = nn.Linear(cfg.encoder_width, len(cfg.aux_labels)) if cfg.aux_labels else None
        self.patch_kind = nn.Linear(cfg.encoder_width, len(cfg.patch_kinds) + 1) if cfg.patch_kinds else None
        self.patch_color = nn.Linear(cfg.encoder_width, len(cfg.patch_colors) + 1) if cfg.patch_colors else None
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def image_prefix(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode images into the decoder's prefix tokens, plus the encoder's outputs for auxiliary heads."""
        enc = self.encoder(img)  # (B, 1+N, De)
        keep = enc[:, :1] if self.config.image_tokens == "cls" else enc
        return self.connector(keep), enc  # (B, n_image_tokens, W), (B, 1+N, De)

    def auxiliary(self, enc: torch.Tensor) -> dict[str, torch.Tensor]:
        """The auxiliary heads' logits: `cls` (B, A) multi-label; `patch_kind`, `patch_color` (B, N, K+1)."""
        heads = {"cls": (self.aux, enc[:, 0]), "patch_kind": (self.patch_kind, enc[:, 1:]),
                 "patch_color": (self.patch_color, enc[:, 1:])}
        return {name: head(x) for name, (head, x) in heads.items() if head is not None}

    def forward(self, img: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits for every text position (logits[:, t] predicts tokens[:, t+1]) and the auxiliary logits."""
        prefix, enc = self.image_prefix(img)  # (B, I, W)
        T = tokens.shape[1]
        x = torch.cat([prefix, self.tok(tokens)], dim=1)  # (B, I+T, W)
        x = self.drop(x + self.pos(torch.arange(x.shape[1], device=x.device)))
        for block in self.blocks:
            x, _ = block(x)
        logits = self.head(self.ln(x[:, -T:]))  # (B, T, V)
        return logits, self.auxiliary(enc)

    # ------------------------------------------------------------------ generation
    def _step(self, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor,
              caches: Sequence[KV | None]) -> tuple[torch.Tensor, list[KV]]:
        x = x + self.pos(positions)  # (B, T, W)
        new = []
        for block, cache in zip(self.blocks, caches):
            x, kv = block(x, mask, cache)
            new.append(kv)
        return self.head(self.ln(x[:, -1])), new  # (B, V)

    @torch.no_grad()
    def generate(self, img: torch.Tensor, prompts: list[list[int]], eos_id: int, max_new_tokens: int = 48,
                 temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
                 use_cache: bool = True) -> list[list[int]]:
        """Complete each prompt (token ids, BOS first) for its image; returns the new tokens, EOS excluded.

        Prompts of different lengths are left-padded; a padding mask and per-sample positions make each
        row compute exactly what it would alone.
        """
        self.eval()
        dev = img.device
        B = len(prompts)
        too_long = [len(p) for p in prompts if len(p) >= self.config.max_text_len]
        if too_long:
            raise PromptTooLong(too_long[0], self.config.max_text_len)
        # each row's own budget: what it would get alone (its prompt and max_text_len), never the batch's
        budget = torch.tensor([min(max_new_tokens, self.config.max_text_len - len(p)) for p in prompts],
                              device=dev)  # (B,)
        max_new_tokens = int(budget.max()) if B else 0
        seq, valid = self._left_padded_input(img, prompts)  # (B, S, W), (B, S)
        positions = (valid.cumsum(1) - 1).clamp(min=0)  # (B, S)
        mask = _padded_causal_mask(valid)  # (B, 1, S, S)
        caches: Sequence[KV | None] = [None] * len(self.blocks)
        gen = torch.Generator(device=dev).manual_seed(seed) if seed is not None else None
        written = torch.full((B, max_new_tokens), eos_id, dtype=torch.long, device=dev)  # (B, N)
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        next_pos = positions[:, -1] + 1  # (B,)
        all_x, all_valid = seq, valid
        for t in range(max_new_tokens):
            if use_cache:
                logits, caches = self._step(seq, positions, mask, caches)
            else:
                full_pos = (all_valid.cumsum(1) - 1).clamp(min=0, max=self.pos.num_embeddings - 1)
                logits, _ = self._step(all_x, full_pos, _padded_causal_mask(all_valid), [None] * len(self.blocks))
            nxt = _sample(logits, temperature, top_k, top_p, gen)  # (B,)
            nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)  # finished rows only repeat EOS
            written[:, t] = nxt
            done = done | (nxt == eos_id) | (budget <= t + 1)
            if bool(done.all()):
                break
            seq = self.tok(nxt)[:, None]  # (B, 1, W)
            # a finished row keeps stepping with the others; its position stays inside the table (unread)
            positions = next_pos.clamp(max=self.pos.num_embeddings - 1)[:, None]
            next_pos = next_pos + 1
            all_valid = torch.cat([all_valid, torch.ones(B, 1, dtype=torch.bool, device=dev)], dim=1)
            mask = all_valid[:, None, None, :]  # (B, 1, 1, S+t): the new token sees everything valid
            all_x = torch.cat([all_x, seq], dim=1)
        rows = [row[:n] for row, n in zip(written.tolist(), budget.tolist())]
        return [row[:row.index(eos_id)] if eos_id in row else row for row in rows]

    def _left_padded_input(self, img: torch.Tensor, prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's first input, [padding, image, prompt] per row, and which of its slots are not padding."""
        dev = img.device
        B = len(prompts)
        prefix, _ = self.image_prefix(img)  # (B, I, W)
        L = max(len(p) for p in prompts)
        toks = torch.zeros(B, L, dtype=torch.long, device=dev)
        for i, p in enumerate(prompts):
            toks[i, L - len(p):] = torch.tensor(p, dtype=torch.long, device=dev)
        pad = torch.tensor([L - len(p) for p in prompts], device=dev)  # (B,)
        seq = torch.cat([prefix, self.tok(toks)], dim=1)  # (B, I+L, W): image, padding, prompt
        order = self._left_pad_order(pad, prefix.shape[1], L, dev)  # (B, I+L) gather index
        seq = torch.gather(seq, 1, order[..., None].expand(-1, -1, seq.shape[2]))  # padding, image, prompt
        valid = torch.arange(seq.shape[1], device=dev)[None] >= pad[:, None]  # (B, S)
        return seq, valid

    @staticmethod
    def _left_pad_order(pad: torch.Tensor, n_img: int, L: int, dev: torch.device) -> torch.Tensor:
        """Gather index turning [image, pad, prompt] into [pad, image, prompt] per row."""
        S = n_img + L
        idx = torch.arange(S, device=dev)[None].expand(pad.shape[0], -1)  # (B, S)
        p = pad[:, None]
        # destination j < p: a padding slot (source n_img + j); p <= j < p+n_img: image token j-p; else prompt j
        return torch.where(idx < p, n_img + idx, torch.where(idx < p + n_img, idx - p, idx))

    # ------------------------------------------------------------------ persistence
    def saved_state(self, dtype: torch.dtype | None = None) -> dict:
        """The weights as safetensors stores them: on the CPU, without the head (tied to tok.weight;
        safetensors refuses shared storage)."""
        return {k: v.detach().to(dtype or v.dtype).contiguous().cpu() for k, v in self.state_dict().items()
                if k != "head.weight"}

    def load_saved_state(self, state: dict) -> None:
        """Inverse of saved_state: re-tie the head, take any stored dtype."""
        state = {**state, "head.weight": state.get("head.weight", state["tok.weight"])}
        self.load_state_dict({k: v.float() for k, v in state.items()})

    def save_pretrained(self, folder: str | Path, tokenizer: TextTokenizer | None = None,
                        dtype: torch.dtype | None = None, extra: dict | None = None) -> None:
        from safetensors.torch import save

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # bytes written by Python, not safetensors' save_file: that one creates the file 0600, unreadable to
        # the colleagues a trained model is shared with; this one follows the umask like every other file
        (folder / WEIGHTS_NAME).write_bytes(save(self.saved_state(dtype)))
        config = {"kind": "nanovlm", **asdict(self.config), **(extra or {})}
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        if tokenizer is not None:
            tokenizer.save(str(folder / TOKENIZER_NAME))

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str = "cpu", weights: Path | None = None) -> NanoVLM:
        """Load config.json + model.safetensors; `weights` names a pickle state dict the user opted into,
        read with torch.load(weights_only=True) so it cannot run code."""
        from safetensors.torch import load_file

        from vlmgrade.core.errors import UserError
        from vlmgrade.core.files import read_json

        folder = Path(folder)
        raw = read_json(folder / CONFIG_NAME, "model config")
        if not isinstance(raw, dict):
            raise UserError(f"model config {folder / CONFIG_NAME} must be a JSON object")
        cfg = NanoVLMConfig.from_dict({k: v for k, v in raw.items() if k in {f.name for f in fields(NanoVLMConfig)}})
        model = cls(cfg)
        if weights is not None:
            state = torch.load(weights, map_location=device, weights_only=True)
        else:
            state = load_file(str(folder / WEIGHTS_NAME), device=device)
        model.load_saved_state(state)
        return model.to(device).eval()


class PromptTooLong(ValueError):
    """A prompt that leaves no room for a single new token in the model's context."""

    def __init__(self, length: int, context: int) -> None:
        super().__init__(f"a prompt of {length} tokens does not fit the model's context of {context} text tokens")
        self.length, self.context = length, context


def _padded_causal_mask(valid: torch.Tensor) -> torch.Tensor:
    """(B, S) validity -> (B, 1, S, S) attention mask: causal, blind to padding; a padding row sees
    itself so its softmax stays finite (its output is never read)."""
    S = valid.shape[1]
    causal = torch.ones(S, S, dtype=torch.bool, device=valid.device).tril()
    eye = torch.eye(S, dtype=torch.bool, device=valid.device)
    return ((causal[None] & valid[:, None, :]) | eye[None])[:, None]


def _sample(logits: torch.Tensor, temperature: float, top_k: int, top_p: float,
            gen: torch.Generator | None) -> torch.Tensor:
    """Next token per row: argmax when temperature is 0, else top-k / nucleus sampling."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits / temperature  # (B, V)
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p < 1.0:
        sorted_logits, order = logits.sort(descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) > top_p  # keep the smallest set whose mass reaches top_p
        logits = logits.scatter(1, order, sorted_logits.masked_fill(drop, -math.inf))
    probs = logits.softmax(-1)
    return torch.multinomial(probs, 1, generator=gen)[:, 0]


def image_array(image: Image.Image | np.ndarray, size: int) -> np.ndarray:
    """One picture as the model sees it: RGB, size x size (bilinear), (size, size, 3) uint8. Training and
    captioning both go through here, so a model never meets pixels prepared differently from its training."""
    import numpy as np
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def pixels_to_input(pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 array or tensor -> (B, 3, H, W) float tensor in [-1, 1], on the pixels' device."""
    x = pixels if isinstance(pixels, torch.Tensor) else torch.from_numpy(pixels)
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, 3, H, W)


def image_to_tensor(images: Iterable[Image.Image | np.ndarray], size: int) -> torch.Tensor:
    """PIL images or HxWx3 uint8 arrays -> (B, 3, size, size) float tensor in [-1, 1]."""
    import numpy as np

    return pixels_to_input(np.stack([image_array(im, size) for im in images]))
