"""Figures as files (matplotlib, no pyplot): per criterion, each model's mean with its 95% interval, and the
paired differences of the best model to each other one. One PNG (for slides and papers) and one SVG per
criterion, written under the run folder's plots/ and shown in report.md and report.html.

Deterministic: no dates in the files (SVG `Date` None and a fixed hash salt, PNG without the software tag),
so the same run writes the same bytes. matplotlib is imported only here, when a figure is drawn."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlmgrade.core.types import ScoreRow
    from vlmgrade.report.tables import Verdict

FOLDER = "plots"  # under the run folder
STYLE = {
    "svg.hashsalt": "vlmgrade",  # ids in the SVG from the content, not from a random salt
    "svg.fonttype": "none",  # text stays text: smaller, searchable, and names read as written
    "text.parse_math": False,  # a model named `a$b$` is a name, not a formula
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],  # named in every SVG text: a short list
    "font.size": 8.0,
    "axes.titlesize": 8.5,
}
MEAN_COLOR, DOT, SEPARATED, NOT_SEPARATED = "#3568d4", "#1b2a5e", "#d43c35", "#999999"


@dataclass(frozen=True)
class Figure:
    """One criterion's figure: where it goes (plots/<stem>.png and .svg) and its bytes."""

    rubric: str
    criterion: str
    stem: str
    png: bytes  # 150 dpi, for papers and slides
    svg: bytes
    web_png: bytes = b""  # what report.html embeds (see `_web`); not written as a file

    @property
    def png_name(self) -> str:
        return f"{FOLDER}/{self.stem}.png"

    @property
    def svg_name(self) -> str:
        return f"{FOLDER}/{self.stem}.svg"


def safe_stem(name: str) -> str:
    """A file name part from any rubric or criterion name: only letters, digits, `_` and `-` (no path, no dot
    file); a name that had to change gets a short hash of itself, so two names never meet in one file."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")[:48] or "x"
    return stem if stem == name else f"{stem}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def stems(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """`<rubric>-<criterion>` per (rubric, criterion), unique: `a-b` + `c` and `a` + `b-c` do not share one."""
    out: dict[tuple[str, str], str] = {}
    for rubric, criterion in keys:
        stem = f"{safe_stem(rubric)}-{safe_stem(criterion)}"
        if stem in out.values():
            stem += "-" + hashlib.sha256(f"{rubric}\0{criterion}".encode()).hexdigest()[:6]
        out[(rubric, criterion)] = stem
    return out


def criterion_figures(rows: Sequence[ScoreRow], verdicts: Sequence[Verdict]) -> list[Figure]:
    """A figure per absolute criterion that has a scored row. `rows`: what the means panel shows (models and
    the baselines they are read against); `verdicts`: the paired differences panel."""
    import matplotlib

    plain = [r for r in rows if not r.pairwise]
    keys = list(dict.fromkeys((r.rubric, r.criterion) for r in plain))
    by_key = {(v.rubric, v.criterion): v for v in verdicts}
    names = stems(keys)
    out = []
    with matplotlib.rc_context(STYLE):
        for key in keys:
            mine = [r for r in plain if (r.rubric, r.criterion) == key]
            if any(r.mean is not None for r in mine):
                out.append(Figure(key[0], key[1], names[key], *_draw(mine, by_key.get(key))))
    return out


def write_figures(folder: Path, figures: Sequence[Figure]) -> None:
    """plots/<stem>.png and .svg for each figure (the folder only when there is one)."""
    if not figures:
        return
    (folder / FOLDER).mkdir(exist_ok=True)
    for f in figures:
        (folder / f.png_name).write_bytes(f.png)
        (folder / f.svg_name).write_bytes(f.svg)


ROW_IN, TOP_IN, BOTTOM_IN, PANEL_IN, GAP_IN = 0.22, 0.5, 0.32, 2.5, 0.3  # layout in inches
CHAR_IN = 0.062  # about one character of an 8-point label; margins are set from it (a layout engine measuring
# every label costs half the drawing time, and a run draws a figure per criterion)


def _draw(rows: Sequence[ScoreRow], verdict: Verdict | None) -> tuple[bytes, bytes, bytes]:
    """Means panel on the left; the best model's paired differences on the right when there are any. Returns
    the PNG, the SVG and the web PNG."""
    from matplotlib.figure import Figure as MplFigure

    versus = verdict.versus if verdict else ()
    means_labels = [_short(r.model) for r in rows]
    diff_labels = [f"{_short(verdict.best or '')} − {_short(v.other)}" for v in versus] if verdict else []
    lines = max(len(rows), len(versus))
    height = TOP_IN + BOTTOM_IN + ROW_IN * (lines + 1)
    widths = [_label_in(means_labels), PANEL_IN] + ([GAP_IN + _label_in(diff_labels), PANEL_IN] if versus else [])
    width = sum(widths) + 0.15
    fig = MplFigure(figsize=(width, height))
    left, plot_h = 0.0, height - TOP_IN - BOTTOM_IN
    axes = []
    for label_w, panel_w in zip(widths[::2], widths[1::2]):
        left += label_w
        axes.append(fig.add_axes((left / width, BOTTOM_IN / height, panel_w / width, plot_h / height)))
        left += panel_w
    fig.text(0.01, 1 - 0.08 / height, f"{rows[0].rubric} · {rows[0].better.label(rows[0].criterion)}",
             ha="left", va="top", fontweight="bold")
    _means(axes[0], rows, means_labels, lines)
    if versus and verdict is not None:
        _differences(axes[1], verdict, diff_labels, lines)
    return _save(fig, "png", dpi=150), _save(fig, "svg"), _web(_save(fig, "png", dpi=100))


def _web(png: bytes) -> bytes:
    """A 100 dpi PNG in a 32-colour palette: a fifth of the paper PNG's bytes, for a page that embeds one per
    criterion beside a thumbnail per sample (drawn at 100 dpi, not scaled down: a scaled one smooths every
    edge into more colours and compresses half as well)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        small = im.convert("RGB").quantize(colors=32)
    buf = io.BytesIO()
    small.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _label_in(labels: Sequence[str]) -> float:
    return 0.15 + CHAR_IN * max((len(label) for label in labels), default=1)


def _rows(count: int, lines: int) -> list[int]:
    """y positions of `count` lines from the top of a panel `lines` high (both panels share their rows)."""
    return [lines - 1 - i for i in range(count)]


def _means(ax: Any, rows: Sequence[ScoreRow], labels: Sequence[str], lines: int) -> None:  # ax: a matplotlib Axes
    """One line per model from ci_low to ci_high with a dot at the mean, on the criterion's scale."""
    ys = _rows(len(rows), lines)  # the first model on top
    for y, r in zip(ys, rows):
        if r.mean is None:
            continue
        if r.ci_low is not None and r.ci_high is not None:
            ax.plot([r.ci_low, r.ci_high], [y, y], color=MEAN_COLOR, linewidth=2.5, solid_capstyle="butt")
        ax.plot([r.mean], [y], "o", color=DOT, markersize=4)
    ax.set_yticks(ys, labels)
    ax.set_ylim(-0.7, lines - 0.3)
    if rows[0].scale is not None:
        lo, hi = rows[0].scale
        pad = (hi - lo) * 0.03
        ax.set_xlim(lo - pad, hi + pad)
    ax.set_title("mean, 95% interval", loc="left")
    _tidy(ax)


def _differences(ax: Any, verdict: Verdict, labels: Sequence[str], lines: int) -> None:  # ax: a matplotlib Axes
    """best − other per other model, paired over shared samples, 95% t interval; red where separated."""
    versus = verdict.versus
    ys = _rows(len(versus), lines)
    ax.axvline(0.0, color="#444444", linewidth=0.8)
    for y, v in zip(ys, versus):
        color = SEPARATED if v.separated else NOT_SEPARATED
        if v.ci_low is not None and v.ci_high is not None:
            ax.plot([v.ci_low, v.ci_high], [y, y], color=color, linewidth=2.5, solid_capstyle="butt")
        if v.diff is not None:
            ax.plot([v.diff], [y], "o", color=color, markersize=4)
    ax.set_yticks(ys, labels)
    ax.set_ylim(-0.7, lines - 0.3)
    ax.set_title("paired difference (red: Holm p < 0.05)", loc="left")
    _tidy(ax)


def _tidy(ax: Any) -> None:  # ax: a matplotlib Axes
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e4e4e4", linewidth=0.6)
    ax.set_axisbelow(True)


def _short(name: str, limit: int = 28) -> str:
    """Long names (paths, hub ids) keep their end, which tells them apart."""
    return name if len(name) <= limit else "…" + name[-(limit - 1):]


def _save(fig: Any, fmt: str, dpi: int = 100) -> bytes:  # fig: a matplotlib Figure
    """The figure's bytes, with no date or software version in them."""
    buf = io.BytesIO()
    metadata: dict[str, Any] = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata)
    return buf.getvalue()
