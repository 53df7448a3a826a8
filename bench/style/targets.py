"""The issue's targets for one author, computed from the figures alone (no model): each target met or not, with the
value, the threshold and the n behind them."""

from __future__ import annotations

from typing import Any

# every drafting arm, in report order; "prompting" is also the baseline of the +25 points rule (n/a for itself)
DRAFT_ARMS = ("adapter", "adapter+related", "served-adapter", "prompting", "api-prompting")
ADAPTER_ARMS = ("adapter", "adapter+related", "served-adapter")  # arms whose drafts come from the author's adapter


def _t(met: bool | None, value: float | None, threshold: float | None, n: int | None, rule: str,
       applies: bool = True) -> dict[str, Any]:
    """One target; `applies` False: the rule does not concern this arm (met None, printed n/a)."""
    return {"met": met if applies else None, "value": value, "threshold": threshold, "n": n, "rule": rule,
            "applies": applies}


def for_arm(row: dict[str, Any], ceiling: dict[str, Any], arm: str) -> dict[str, dict[str, Any]]:
    """The five targets for the drafts of one arm of one author (`row` as run.py writes it; `ceiling` the author's
    separation entry). A target whose figures are missing is reported with met None."""
    real, drafts, prompt = row["real"], row.get(arm) or {}, row.get("prompting") or {}
    out: dict[str, dict[str, Any]] = {}
    a, c = drafts.get("attributed_masked"), ceiling.get("ceiling_masked")
    n = drafts.get("n")
    out["masked_attr_ge_ceiling_minus_10pts"] = _t(
        None if a is None or c is None else a >= c - 0.10 - 1e-9, a, None if c is None else c - 0.10, n,
        "masked attribution of the drafts >= the ceiling (own held-out posts) - 10 points")
    p = prompt.get("attributed_masked")
    out["masked_attr_25pts_over_prompting"] = _t(
        None if a is None or p is None else a - p >= 0.25 - 1e-9, a, None if p is None else p + 0.25, n,
        "masked attribution of the drafts >= prompting + 25 points", applies=arm != "prompting")
    ppl = row.get("perplexity") or {}
    name = row.get("name")
    own = ppl.get(f"adapter:{name}")
    others = [v for k, v in ppl.items() if k.startswith("adapter:") and k != f"adapter:{name}"]
    gain = (1 - own / min(others)) if own is not None and others else None
    out["own_ppl_10pct_below_best_other"] = _t(
        None if gain is None else gain >= 0.10 - 1e-9, gain, 0.10, row.get("ppl_posts"),
        "held-out perplexity under the own adapter >= 10 % below the best other author's adapter "
        "(the torch path's figure; the served adapter is the same weights as a GGUF LoRA)",
        applies=arm in ADAPTER_ARMS)
    d = drafts.get("distance")
    if drafts.get("distance_own_at_length") is not None:  # the own posts cut to the drafts' length (run.py)
        d0, spread = drafts["distance_own_at_length"], drafts.get("distance_own_at_length_spread")
        rule = (f"stylometric distance of the drafts <= the own held-out posts' distance + their spread, the posts "
                f"cut to the drafts' median length ({drafts.get('length_chars')} characters)")
    else:
        d0, spread = real.get("distance_own_heldout"), real.get("distance_own_spread")
        rule = "stylometric distance of the drafts <= own held-out posts' distance + the spread of the own posts"
    limit = None if d0 is None or spread is None else d0 + spread
    out["distance_le_own_plus_spread"] = _t(None if d is None or limit is None else d <= limit + 1e-9, d, limit, n,
                                            rule)
    cp, nat = (drafts.get("copy") or {}).get("share"), (real.get("natural_copy") or {}).get("share")
    out["copy_le_natural"] = _t(None if cp is None or nat is None else cp <= nat + 1e-9, cp, nat, n,
                                "share of the drafts' 8-grams found in the training posts <= the author's natural rate")
    return out


def for_row(row: dict[str, Any], ceiling: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Targets per drafting arm that ran for this author."""
    return {arm: for_arm(row, ceiling, arm) for arm in DRAFT_ARMS if arm in row}


def summary(targets: dict[str, dict[str, Any]]) -> str:
    """'3/5 met' (targets not measured are left out of both counts)."""
    known = [t["met"] for t in targets.values() if t["met"] is not None]
    return f"{sum(known)}/{len(known)} met"
