"""The insights cache: bounded, least recently used first, entries expire."""

from __future__ import annotations

import pytest

from hub.insights.cache import LruCache


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bounded_least_recently_used_first() -> None:
    cache: LruCache[str] = LruCache(max_entries=2, ttl_s=60)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # "a" is now the most recently used
    cache.put("c", "C")
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") == "A"
    assert cache.get("c") == "C"


def test_entries_expire_and_compute_once() -> None:
    clock = Clock()
    cache: LruCache[int] = LruCache(max_entries=4, ttl_s=10, clock=clock)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute("k", compute) == 1
    clock.now = 9.0
    assert cache.get_or_compute("k", compute) == 1
    clock.now = 20.0
    assert cache.get_or_compute("k", compute) == 2
    assert (cache.hits, cache.misses) == (1, 2)


def test_a_cache_holds_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        LruCache(max_entries=0)
