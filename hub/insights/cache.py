"""A small cache of insights pages: a repeated view costs one cheap query, not a report.

An entry is keyed by what the page shows — the sites, the period, the language (a page's
charts and tables are written in it) and the report settings — and by the **rollup
watermark** of that page: the latest ``rolled_at`` and the number of rolled-up site-days in the
days the report reads (the period, the posture window before it and the week after it), and
the site-level posture weeks kept past retention. A refresh that recomputes one of those days,
a day rolled up for the first time, or an expiry of member rollups
(:mod:`hub.insights.retention`) changes the watermark, so the next view computes the report
again. A past period whose days are final keeps its entry; the current week's changes at every
refresh.

The cache is bounded (least recently used entries go first) and entries also expire after
``ttl_s`` (by default the rollup refresh interval): edits that reach the report without a
rollup (a moment cancelled, whose day is recomputed only once marked dirty) show up at the
latest then. Values are computed outside the lock; two first views of one page at once may
both compute it (the second result replaces the first), never block each other.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import date, timedelta
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.db.models import InsightPostureWeek, InsightRollupDay

V = TypeVar("V")

DEFAULT_ENTRIES = 64


class LruCache(Generic[V]):
    """A thread-safe, size-bounded LRU map whose entries expire after *ttl_s* seconds."""

    def __init__(
        self,
        max_entries: int = DEFAULT_ENTRIES,
        ttl_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("a cache holds at least one entry")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        """The value of *key* if present and fresh (it becomes the most recently used)."""
        with self._lock:
            found = self._entries.get(key)
            if found is None or self._clock() - found[0] > self.ttl_s:
                if found is not None:
                    del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found[1]

    def put(self, key: Hashable, value: V) -> None:
        """Keep *value* under *key*, dropping the least recently used entries beyond the bound."""
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value of *key*, else ``compute()`` (kept for the next call)."""
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


def watermark(
    session: Session, site_ids: Sequence[str], start: date, end: date, window_days: int
) -> tuple[object, ...]:
    """What must change for the report of *site_ids* over ``[start, end)`` to change.

    *window_days* is the posture window read before the period (the report classifies the
    weeks from ``start − window_days``); the week after the period is included for the
    conversions, which look at a member's first moment in the following period.
    """
    first = start - timedelta(days=window_days + 7)
    last = end + timedelta(days=7)
    days = session.execute(
        select(func.max(InsightRollupDay.rolled_at), func.count()).where(
            InsightRollupDay.site_id.in_(site_ids),
            InsightRollupDay.day >= first,
            InsightRollupDay.day < last,
        )
    ).one()
    weeks = session.execute(
        select(func.max(InsightPostureWeek.week_start), func.count()).where(
            InsightPostureWeek.site_id.in_(site_ids)
        )
    ).one()
    return (*days, *weeks)
