"""Benchmark report: the Markdown summary and its PNG charts, written from the JSON figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def headline(res: dict[str, Any]) -> dict[str, Any]:
    """The figures printed on stdout: per corpus, separation and per target the main numbers."""
    out: dict[str, Any] = {"seconds": res["seconds"]}
    for c in res["corpora"]:
        if "separation" not in c:
            continue
        sep = c["separation"]
        row: dict[str, Any] = {"authors": sep["authors"], "accuracy_plain": sep["accuracy_plain"],
                               "accuracy_masked": sep["accuracy_masked"], "model_side": c["model_side"]}
        for name, t in c["targets"].items():
            r = {"ceiling_masked": sep["per_author"][name]["ceiling_masked"],
                 "ceiling_plain": sep["per_author"][name]["ceiling_plain"],
                 "distance_own": t["real"]["distance_own_heldout"], "natural_copy": t["real"]["natural_copy"]["share"]}
            if "prompting" in t:
                a = t["adapter"]
                r.update(adapter_masked=a["attributed_masked"], adapter_plain=a["attributed_plain"],
                         prompting_masked=t["prompting"]["attributed_masked"],
                         prompting_plain=t["prompting"]["attributed_plain"], adapter_distance=t["adapter"]["distance"],
                         adapter_copy=t["adapter"]["copy"]["share"], perplexity=t.get("perplexity"))
            row[name] = r
        out[c["corpus"]] = row
    return out


def _chart(c: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(c["targets"])
    sep = c["separation"]["per_author"]
    series = [("ceiling plain", [sep[n]["ceiling_plain"] for n in names]),
              ("ceiling masked", [sep[n]["ceiling_masked"] for n in names])]
    if names and all("prompting" in c["targets"][n] for n in names):
        for who in ("adapter", "prompting"):
            for kind in ("plain", "masked"):
                series.append((f"{who} {kind}", [c["targets"][n][who][f"attributed_{kind}"] for n in names]))
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    x = np.arange(len(names))
    w = 0.8 / len(series)
    for i, (label, vals) in enumerate(series):
        axes[0].bar(x + i * w, [v or 0 for v in vals], w, label=label)
    axes[0].set_xticks(x + w * (len(series) - 1) / 2, names, rotation=20)
    axes[0].set_ylabel("share attributed to the target author")
    axes[0].set_ylim(0, 1.05)
    axes[0].legend(fontsize=8)
    dseries = [("own held-out", [c["targets"][n]["real"]["distance_own_heldout"] for n in names]),
               ("other authors", [c["targets"][n]["real"]["distance_other_authors"] for n in names])]
    if names and all("prompting" in c["targets"][n] for n in names):
        dseries += [("adapter", [c["targets"][n]["adapter"]["distance"] for n in names]),
                    ("prompting", [c["targets"][n]["prompting"]["distance"] for n in names])]
    w = 0.8 / len(dseries)
    for i, (label, vals) in enumerate(dseries):
        axes[1].bar(x + i * w, [v or 0 for v in vals], w, label=label)
    axes[1].set_xticks(x + w * (len(dseries) - 1) / 2, names, rotation=20)
    axes[1].set_ylabel("stylometric distance (0 = own posts, 1 = typical other)")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"style benchmark — {c['corpus']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write(res: dict[str, Any], out: Path) -> Path:
    lines = ["# Style benchmark", "", f"Mode: {'quick' if res['quick'] else 'full'}; total {res['seconds']} s"
             + ("" if res.get("complete") else " (INCOMPLETE: the run was cut short or is still running)")
             + ("; judge, distance and copy figures recomputed from the stored generations (--rescore)"
                if res.get("rescored") else "") + ".", ""]
    for c in res["corpora"]:
        if "separation" not in c:
            continue
        sep = c["separation"]
        chart = _chart(c, out / f"style-{c['corpus']}.png")
        lines += [f"## {c['corpus']}", "",
                  f"{sep['authors']} authors; held-out author identification accuracy: "
                  f"plain {_pct(sep['accuracy_plain'])}"
                  f", topic-masked {_pct(sep['accuracy_masked'])} (chance {_pct(sep['chance'])}). "
                  f"Model side: {c['model_side']}. {c['seconds']} s.", "", f"![chart]({chart.name})", "",
                  "| author | ceiling plain | ceiling masked | adapter plain | adapter masked | prompting plain | "
                  "prompting masked | dist. own held-out | dist. others | dist. adapter | dist. prompting | "
                  "natural copy | adapter copy |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, t in c["targets"].items():
            s, r = sep["per_author"][name], t["real"]
            a, p = t.get("adapter", {}), t.get("prompting", {})
            lines.append(f"| {name} | {_pct(s['ceiling_plain'])} | {_pct(s['ceiling_masked'])} | "
                         f"{_pct(a.get('attributed_plain'))} | {_pct(a.get('attributed_masked'))} | "
                         f"{_pct(p.get('attributed_plain'))} | {_pct(p.get('attributed_masked'))} | "
                         f"{_num(r['distance_own_heldout'])} | {_num(r['distance_other_authors'])} | "
                         f"{_num(a.get('distance'))} | {_num(p.get('distance'))} | "
                         f"{_pct(r['natural_copy']['share'])} | {_pct((a.get('copy') or {}).get('share'))} |")
        lines += ["", "Topic impostors (other authors' held-out posts with their nouns replaced by the target's most "
                  "frequent nouns) attributed to the target — plain judge vs topic-masked judge:", ""]
        lines += [f"- {n}: plain {_pct(t['real']['topic_impostors_plain'])}, masked "
                  f"{_pct(t['real']['topic_impostors_masked'])} (unaltered other posts: plain "
                  f"{_pct(t['real']['others_attributed']['plain'])}, masked "
                  f"{_pct(t['real']['others_attributed']['masked'])})" for n, t in c["targets"].items()]
        ppl_rows = [(n, t["perplexity"]) for n, t in c["targets"].items() if "perplexity" in t]
        if ppl_rows:
            lines += ["", "Held-out perplexity of each author's real posts:", "",
                      "| author | " + " | ".join(ppl_rows[0][1]) + " |", "|---" * (len(ppl_rows[0][1]) + 1) + "|"]
            lines += [f"| {n} | " + " | ".join(_num(v) for v in p.values()) + " |" for n, p in ppl_rows]
        met = [(n, t.get("targets_met")) for n, t in c["targets"].items() if t.get("targets_met")]
        if met:
            lines += ["", "Targets of the issue (per author):", ""]
            lines += [f"- {n}: " + ", ".join(f"{k}={_num(v) if isinstance(v, float) else v}" for k, v in m.items())
                      for n, m in met]
        lines.append("")
    path = out / "REPORT.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
