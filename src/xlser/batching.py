"""Length-bucketed batches: sort by duration, fill each batch up to a padded-seconds budget.

Padding costs compute and (without masks) changes results; sorting first keeps the
padded length of a batch close to its real lengths.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def length_buckets(
    durations: Sequence[float], max_seconds: float, max_items: int | None = None, shuffle_seed: int | None = None
) -> list[list[int]]:
    """Indices grouped into batches whose padded size (len x longest) stays under `max_seconds`.

    An utterance longer than the budget gets a batch of its own. With `shuffle_seed`, the
    order of the batches (not their content) is shuffled, for training.
    """
    order = np.argsort(np.asarray(durations, dtype=float), kind="stable")
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = 0.0
    for i in order:
        d = float(durations[i])
        new_longest = max(longest, d)
        too_big = cur and (new_longest * (len(cur) + 1) > max_seconds or (max_items and len(cur) >= max_items))
        if too_big:
            batches.append(cur)
            cur, new_longest = [], d
        cur.append(int(i))
        longest = new_longest
    if cur:
        batches.append(cur)
    if shuffle_seed is not None:
        rng = np.random.default_rng(shuffle_seed)
        batches = [batches[j] for j in rng.permutation(len(batches))]
    return batches
