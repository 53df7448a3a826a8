"""PNG charts: the author's style profile next to a draft's (or any other text's), side by side."""

from __future__ import annotations

from pathlib import Path

from bot.voice.style.features import ENDING_LABELS, ENDINGS

_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
RATE_LABELS = {"emoji": "emoji", "kk": "ㅋㅋ", "hh": "ㅎㅎ", "tt": "ㅠㅠ", "ellipsis": "…", "tilde": "~", "excl": "!",
               "question": "?", "headings": "headings", "lists": "list items", "bold": "bold"}


def hangul_font() -> str | None:
    """The family name of an installed font with Hangul (Noto Sans CJK, Nanum...), or None."""
    from matplotlib import font_manager

    for d in _FONT_DIRS:
        if not d.is_dir():
            continue
        for pattern in ("NotoSansCJK*", "NotoSansKR*", "Nanum*", "*CJK*"):
            for f in sorted(d.rglob(pattern)):
                if f.suffix.lower() in (".ttc", ".ttf", ".otf"):
                    try:
                        font_manager.fontManager.addfont(str(f))
                        return font_manager.FontProperties(fname=str(f)).get_name()
                    except (OSError, RuntimeError, ValueError):
                        continue
    return None


def profile_chart(author: dict[str, float], other: dict[str, float] | None, path: Path,
                  title: str = "author vs draft", other_name: str = "draft") -> Path:
    """Three panels: sentence-ending shares, rates per 1000 characters, lengths. Saves a PNG at path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    font = hangul_font()
    if font:
        plt.rcParams["font.family"] = [font, "DejaVu Sans"]
        label = ENDING_LABELS
        rates = RATE_LABELS
    else:  # no Hangul font: romanized labels instead of empty boxes
        label = {e: "-" + e for e in ENDINGS}
        rates = {k: k for k in RATE_LABELS}
    series = [("author", author)] + ([(other_name, other)] if other else [])
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), gridspec_kw={"width_ratios": [3, 3, 1.4]})
    width = 0.8 / len(series)
    panels = [(axes[0], [f"end_{e}" for e in ENDINGS], [label[e] for e in ENDINGS], "share of sentences"),
              (axes[1], list(rates), list(rates.values()), "per 1000 characters")]
    for ax, keys, names, ylabel in panels:
        x = np.arange(len(keys))
        for i, (name, f) in enumerate(series):
            ax.bar(x + i * width, [f.get(k, 0.0) for k in keys], width, label=name)
        ax.set_xticks(x + width * (len(series) - 1) / 2, names, rotation=45, ha="right")
        ax.set_ylabel(ylabel)
        ax.legend()
    ax = axes[2]
    keys = ["sentence_chars", "paragraph_chars"]
    x = np.arange(len(keys))
    for i, (name, f) in enumerate(series):
        ax.bar(x + i * width, [f.get(k, 0.0) for k in keys], width, label=name)
    ax.set_xticks(x + width * (len(series) - 1) / 2, ["sentence", "paragraph"])
    ax.set_ylabel("characters (mean)")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
