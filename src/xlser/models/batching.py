"""Length-bucketed batches: sort by duration, fill each batch up to a padded-seconds budget.

Padding costs compute; sorting first keeps the padded length of a batch close to its real
lengths. For training, the batches are redrawn every epoch: utterances are shuffled within
buckets of similar length (bucket borders moved at random too), so batch neighbours change
from epoch to epoch while padding stays low. An epoch's plan is a function of its seed alone
(the caller folds the epoch into it), so a resumed run draws the same batches.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

#: a training bucket holds about this many batches' worth of neighbouring lengths
BUCKET_BATCHES = 4


def _pack(order: Sequence[int], durations: np.ndarray, max_seconds: float, max_items: int | None) -> list[list[int]]:
    """Greedy batches in `order`, each closed before its padded size (n x longest) passes the budget."""
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
    return batches


def length_buckets(
    durations: Sequence[float], max_seconds: float, max_items: int | None = None, shuffle_seed: int | None = None
) -> list[list[int]]:
    """Indices grouped into batches whose padded size (len x longest) stays under `max_seconds`.

    An utterance longer than the budget gets a batch of its own. Without `shuffle_seed` the
    plan is fixed (sorted, for evaluation). With it (training), utterances are shuffled within
    length buckets of about `BUCKET_BATCHES` batches, the bucket borders are offset at random,
    and the batch order is shuffled: each seed gives other batch contents.
    """
    d = np.asarray(durations, dtype=float)
    order = np.argsort(d, kind="stable")
    if shuffle_seed is None:
        return _pack(order, d, max_seconds, max_items)
    rng = np.random.default_rng(shuffle_seed)
    typical = max(1, int(max_seconds // max(float(np.median(d)) if len(d) else 1.0, 1e-9)))
    per_batch = min(typical, max_items) if max_items else typical
    size = max(2, BUCKET_BATCHES * per_batch)
    start = int(rng.integers(size))
    borders = [0, *range(start, len(order), size), len(order)]
    batches: list[list[int]] = []
    for lo, hi in itertools.pairwise(borders):
        if hi > lo:
            batches += _pack(rng.permutation(order[lo:hi]), d, max_seconds, max_items)
    return [batches[j] for j in rng.permutation(len(batches))]
