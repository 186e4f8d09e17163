"""Finding which instances a DryRun refused (docs/PRODUCT.md §5.3).

``RebootInstances`` with ``DryRun=true, BatchOptimization=AllTogether`` fails the
whole call when one instance is refused (a security lock, arrears, the bot's RAM
policy denying that one instance), naming only the first reason. So one refused
instance would hide its batch-mates. A refused batch is halved and each half dry-run
again, until every refused instance stands alone: each gets its own verdict, the rest
pass. With ``k`` refused among ``n`` this takes at most
``⌈n/100⌉ + 2·k·⌈log2 100⌉`` calls (:func:`dry_run_call_bound`): each refused instance
costs at most two calls on each of the ``⌈log2 100⌉`` levels below its batch.

Pure: the one DryRun call is passed in, so the search is tested with plain values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

# The ECS API takes at most this many instance ids in one call.
MAX_IDS_PER_CALL = 100

Refusal = TypeVar("Refusal")


@dataclass(frozen=True)
class DryRunAnswer(Generic[Refusal]):
    """One DryRun call's answer: ``refusal`` is None when it passed; ``per_instance``
    says whether the refusal is about one of the instances (so that halves may pass)
    rather than about the call (a region, the account, a signature)."""

    refusal: Refusal | None
    per_instance: bool = True


def find_refused(
    instance_ids: Sequence[str],
    dry_run: Callable[[Sequence[str]], DryRunAnswer[Refusal]],
    *,
    batch_size: int = MAX_IDS_PER_CALL,
) -> dict[str, Refusal]:
    """The refusal of every instance the DryRun refuses, found by halving refused
    batches; instances absent from the result passed. ``dry_run`` makes ONE call.

    A refusal about the call rather than an instance is every batch-mate's verdict at
    once: halving would only repeat it. A batch that fails while both its halves pass
    (ECS changed its mind) refuses nobody; the real call, one result per instance,
    has the last word anyway.
    """
    refused: dict[str, Refusal] = {}
    # Depth first, left half first: the calls come in the order the person gave.
    pending = [
        instance_ids[start : start + batch_size]
        for start in range(0, len(instance_ids), batch_size)
    ][::-1]
    while pending:
        batch = pending.pop()
        answer = dry_run(batch)
        if answer.refusal is None:
            continue
        if len(batch) == 1 or not answer.per_instance:
            refused.update(dict.fromkeys(batch, answer.refusal))
            continue
        middle = (len(batch) + 1) // 2
        pending.extend((batch[middle:], batch[:middle]))
    return refused


def dry_run_call_bound(instances: int, refused: int, batch_size: int = MAX_IDS_PER_CALL) -> int:
    """The most DryRun calls :func:`find_refused` makes for ``refused`` instances among
    ``instances``: one per batch, and two per level of halving for each refused one."""
    if instances <= 0:
        return 0
    levels = math.ceil(math.log2(batch_size)) if batch_size > 1 else 0
    return math.ceil(instances / batch_size) + 2 * refused * levels


__all__ = ["MAX_IDS_PER_CALL", "DryRunAnswer", "dry_run_call_bound", "find_refused"]
