"""Benchmark report: the Markdown summary and its PNG charts, written from the JSON figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def share_n(v: float | None, n: int | None) -> str:
    """A share with the count behind it: '75% (3/4)'; a share without its n is not printed alone."""
    if v is None or not n:
        return "—"
    return f"{v:.0%} ({round(v * n)}/{n})"


def num_n(v: float | None, n: int | None, fmt: str = "{:.2f}") -> str:
    return "—" if v is None else f"{fmt.format(v)} (n={n})"


def _mark(t: dict[str, Any]) -> str:
    if not t.get("applies", True):
        return "n/a"
    if t["met"] is None:
        return "not measured"
    val = t["value"]
    thr = t["threshold"]
    pct = "attr" in t["rule"] or "8-grams" in t["rule"] or "perplexity" in t["rule"]
    f = (lambda x: _pct(x)) if pct else (lambda x: _num(x))
    return f"{'met' if t['met'] else 'NOT met'}: {f(val)} vs {f(thr)} (n={t['n']})"


SHORT = {"masked_attr_ge_ceiling_minus_10pts": "ceil", "masked_attr_25pts_over_prompting": "+25",
         "own_ppl_10pct_below_best_other": "ppl", "distance_le_own_plus_spread": "dist", "copy_le_natural": "copy"}


def _cell(t: dict[str, Any], arm: str) -> str:
    """One author × arm cell: masked attribution and distance with n, then each target ✓ met / ✗ not / – n/a or
    not measured, and the count met."""
    from bench.style.targets import summary

    d, m = t.get(arm) or {}, (t.get("targets_met") or {}).get(arm)
    if not d:
        return "—"
    marks = " ".join(f"{SHORT.get(k, k)}{'–' if v['met'] is None else '✓' if v['met'] else '✗'}"
                     for k, v in (m or {}).items())
    at, ceil = d.get("distance_own_at_length"), d.get("ceiling_at_length_masked")
    mid = d.get("middles_at_length_masked")
    cut = ([] if at is None else [f"{_num(at)} ± {_num(d.get('distance_own_at_length_spread'))}"]) \
        + ([] if ceil is None else [f"judged {_pct(ceil)}"])  # a corpus without a distance model still has the judge
    own = "" if not cut else f" (own posts cut to {d.get('length_chars')} chars: {', '.join(cut)}" + (
        "" if mid is None else f"; slices of their middles judged {share_n(mid, d.get('n_middles'))}") + ")"
    if d.get("oracle_masked") is not None:
        own += f"; best of the candidates {_pct(d['oracle_masked'])}"
    return (f"{share_n(d.get('attributed_masked'), d.get('n'))}, dist {_num(d.get('distance'))}{own}<br>{marks}"
            + (f"<br>**{summary(m)}**" if m else ""))


def arms_table(c: dict[str, Any]) -> list[str]:
    """The voice per road, side by side: rows = authors, columns = the arms that ran (with their backend), each
    cell the masked attribution (n), the distance and every target met or not."""
    from bench.style.targets import DRAFT_ARMS

    arms = [a for a in DRAFT_ARMS if any(a in t for t in c["targets"].values())]
    if not arms:
        return []
    be = c.get("arm_backends") or {}
    lines = ["", "Per road (rows: authors; columns: arms, `backend` that drafted them). Cell: masked attribution "
             "(attributed/n), median stylometric distance; targets ✓ met / ✗ not met / – n/a or not measured: "
             "ceil = masked attr ≥ ceiling − 10 pts, +25 = ≥ prompting + 25 pts, ppl = own adapter ≥ 10 % lower "
             "held-out perplexity, dist = distance ≤ own + spread, copy = copy ≤ natural rate.", "",
             "| author | ceiling masked | " + " | ".join(f"{a} (`{be.get(a, 'local')}`)" for a in arms) + " |",
             "|---" * (len(arms) + 2) + "|"]
    sep = c["separation"]["per_author"]
    for name, t in c["targets"].items():
        ce = share_n(sep[name]["ceiling_masked"], sep[name]["n_test"])
        lines.append(f"| {name} | {ce} | " + " | ".join(_cell(t, a) for a in arms) + " |")
    hit = sum(round(sep[n]["ceiling_masked"] * sep[n]["n_test"]) for n in c["targets"])
    tot = sum(sep[n]["n_test"] for n in c["targets"])
    lines.append(f"| **pooled** | {share_n(hit / tot if tot else None, tot)} | "
                 + " | ".join(pooled(c, a) for a in arms) + " |")
    return lines


def pooled(c: dict[str, Any], arm: str) -> str:
    """An arm over all authors that ran it: drafts attributed / drafts, then per target the authors meeting it over
    the authors where it was measured."""
    rows = [t for t in c["targets"].values() if arm in t]
    n = sum(t[arm]["n"] for t in rows)
    hit = sum(round((t[arm]["attributed_masked"] or 0) * t[arm]["n"]) for t in rows)
    per: dict[str, list[bool]] = {}
    for t in rows:
        for k, v in ((t.get("targets_met") or {}).get(arm) or {}).items():
            if v["met"] is not None:
                per.setdefault(k, []).append(v["met"])
    marks = " ".join(f"{SHORT.get(k, k)} {sum(v)}/{len(v)}" for k, v in per.items())
    return f"{share_n(hit / n if n else None, n)} of drafts<br>authors meeting: {marks}" if rows else "—"


def verdict_lines(c: dict[str, Any]) -> list[str]:
    """One table per drafting arm: each author, each of the issue's targets met or not, with value, threshold, n."""
    from bench.style.targets import summary

    arms = sorted({arm for t in c["targets"].values() for arm in (t.get("targets_met") or {})})
    lines: list[str] = []
    for arm in arms:
        rows = [(n, t["targets_met"][arm]) for n, t in c["targets"].items() if arm in (t.get("targets_met") or {})]
        keys = list(rows[0][1])
        lines += ["", f"Targets of the issue, drafts of the **{arm}** arm (per author; value vs threshold, n):", "",
                  "| author | " + " | ".join(keys) + " | total |", "|---" * (len(keys) + 2) + "|"]
        lines += [f"| {n} | " + " | ".join(_mark(m[k]) for k in keys) + f" | {summary(m)} |" for n, m in rows]
    return lines


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
            r = {"n_test": sep["per_author"][name]["n_test"],
                 "ceiling_masked": sep["per_author"][name]["ceiling_masked"],
                 "ceiling_plain": sep["per_author"][name]["ceiling_plain"],
                 "distance_own": t["real"]["distance_own_heldout"], "natural_copy": t["real"]["natural_copy"]["share"]}
            from bench.style.targets import DRAFT_ARMS

            for arm in DRAFT_ARMS:
                if arm in t:
                    a = t[arm]
                    r[arm] = {"masked": a["attributed_masked"], "plain": a["attributed_plain"],
                              "distance": a["distance"], "copy": (a.get("copy") or {}).get("share"), "n": a["n"]}
            if "perplexity" in t:
                r.update(perplexity=t["perplexity"], ppl_posts=t.get("ppl_posts"))
            from bench.style.targets import summary

            r["targets"] = {arm: summary(m) for arm, m in (t.get("targets_met") or {}).items()}
            row[name] = r
        out[c["corpus"]] = row
    return out


def _chart(c: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from bench.style.targets import DRAFT_ARMS

    names = list(c["targets"])
    sep = c["separation"]["per_author"]
    series = [("ceiling plain", [sep[n]["ceiling_plain"] for n in names]),
              ("ceiling masked", [sep[n]["ceiling_masked"] for n in names])]
    for who in DRAFT_ARMS:  # the masked judge only: ten arms × two judges would not read
        if names and all(who in c["targets"][n] for n in names):
            for kind in ("masked",):
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
    for who in DRAFT_ARMS:
        if names and all(who in c["targets"][n] for n in names):
            dseries.append((who, [c["targets"][n][who]["distance"] for n in names]))
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


def write(res: dict[str, Any], out: Path, charts: bool = True) -> Path:
    """REPORT.md in `out`; `charts=False` (the saves during a run) keeps the PNGs as they are, drawn at the end."""
    lines = ["# Style benchmark", "", f"Mode: {'quick' if res['quick'] else 'full'}; total {res['seconds']} s"
             + ("" if res.get("complete") else " (INCOMPLETE: the run was cut short or is still running)")
             + ("; judge, distance and copy figures recomputed from the stored generations (--rescore)"
                if res.get("rescored") else "") + ".", ""]
    for c in res["corpora"]:
        if "separation" not in c:
            continue
        sep = c["separation"]
        chart = out / f"style-{c['corpus']}.png"
        if charts and c["targets"]:
            _chart(c, chart)
        lines += [f"## {c['corpus']}", "",
                  f"{sep['authors']} authors; held-out author identification accuracy: "
                  f"plain {_pct(sep['accuracy_plain'])}"
                  f", topic-masked {_pct(sep['accuracy_masked'])} (chance {_pct(sep['chance'])}; "
                  f"n = {sep.get('n_test', '—')} held-out posts). "
                  f"Model side: {c['model_side']}. {c['seconds']} s.", "",
                  f"![chart]({chart.name})" if chart.exists() else "(no chart yet)", "",
                  "Shares carry their count (attributed / n); distances are medians over n texts.", "",
                  "| author | ceiling plain | ceiling masked | adapter plain | adapter masked | prompting plain | "
                  "prompting masked | adapter+related masked | dist. own held-out ± spread | dist. others | "
                  "dist. adapter | dist. prompting | natural copy | adapter copy |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, t in c["targets"].items():
            s_, r = sep["per_author"][name], t["real"]
            a, p, ar = t.get("adapter", {}), t.get("prompting", {}), t.get("adapter+related", {})
            nt = s_["n_test"]
            spread = r.get("distance_own_spread")
            own = num_n(r["distance_own_heldout"], nt) + ("" if spread is None else f" ± {spread:.2f}")
            lines.append(f"| {name} | {share_n(s_['ceiling_plain'], nt)} | {share_n(s_['ceiling_masked'], nt)} | "
                         f"{share_n(a.get('attributed_plain'), a.get('n'))} | "
                         f"{share_n(a.get('attributed_masked'), a.get('n'))} | "
                         f"{share_n(p.get('attributed_plain'), p.get('n'))} | "
                         f"{share_n(p.get('attributed_masked'), p.get('n'))} | "
                         f"{share_n(ar.get('attributed_masked'), ar.get('n'))} | {own} | "
                         f"{num_n(r['distance_other_authors'], r.get('n_others'))} | "
                         f"{num_n(a.get('distance'), a.get('n'))} | {num_n(p.get('distance'), p.get('n'))} | "
                         f"{num_n(r['natural_copy']['share'], nt, '{:.1%}')} | "
                         f"{num_n((a.get('copy') or {}).get('share'), a.get('n'), '{:.1%}')} |")
        lines += arms_table(c)
        lines += ["", "Topic impostors (other authors' held-out posts with their nouns replaced by the target's most "
                  "frequent nouns) attributed to the target — plain judge vs topic-masked judge:", ""]
        lines += [f"- {n}: plain {_pct(t['real']['topic_impostors_plain'])}, masked "
                  f"{_pct(t['real']['topic_impostors_masked'])} (unaltered other posts: plain "
                  f"{_pct(t['real']['others_attributed']['plain'])}, masked "
                  f"{_pct(t['real']['others_attributed']['masked'])})" for n, t in c["targets"].items()]
        ppl_rows = [(n, t["perplexity"]) for n, t in c["targets"].items() if "perplexity" in t]
        if ppl_rows:
            lines += ["", "Held-out perplexity of each author's real posts (n = held-out posts scored, each on "
                      f"its first {c['targets'][ppl_rows[0][0]].get('ppl_chars') or 'all'} characters):", "",
                      "| author | n | " + " | ".join(ppl_rows[0][1]) + " |", "|---" * (len(ppl_rows[0][1]) + 2) + "|"]
            lines += [f"| {n} | {c['targets'][n].get('ppl_posts', '—')} | "
                      + " | ".join(_num(p.get(k)) for k in ppl_rows[0][1]) + " |" for n, p in ppl_rows]
        lines += verdict_lines(c)
        lines.append("")
    path = out / "REPORT.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
