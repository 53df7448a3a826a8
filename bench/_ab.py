"""Two ways of doing the same work timed in one run, for the benchmarks: rounds alternate which goes first, the
ratio is the median over rounds of baseline / product within a round, and both ways must give the same result."""

from __future__ import annotations

import statistics
from collections.abc import Callable


def alternate(rounds: int, baseline: str, product: str, run: Callable[[str, int], float]) -> dict[str, list[float]]:
    """`run(way, round)` → seconds, for both ways in every round (the baseline first in even rounds)."""
    times: dict[str, list[float]] = {baseline: [], product: []}
    width = max(map(len, times))
    for i in range(rounds):
        for way in ([baseline, product] if i % 2 == 0 else [product, baseline]):
            times[way].append(run(way, i))
            print(f"round {i + 1}: {way:<{width}} {times[way][-1]:6.1f} s", flush=True)
    return times


def verdict(what: str, times: dict[str, list[float]], baseline: str, product: str, same: bool, alike: str) -> None:
    """Print the best times and the median ratio, and whether both ways gave the same `alike`; exit 1 if not."""
    ratio = statistics.median(b / p for b, p in zip(times[baseline], times[product], strict=True))
    print(f"\n{what}, best of {len(times[product])}: {baseline} {min(times[baseline]):.1f} s, {product} "
          f"{min(times[product]):.1f} s; {product} is {ratio:.2f}x as fast (median ratio)")
    print(f"same {alike}: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)
