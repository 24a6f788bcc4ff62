"""The broker's in-memory state: value cache generations, bounded run memory, cooldown counting."""

from __future__ import annotations

from keybroker.core.broker.state import Cooldown, RunMemory, ValueCache
from keybroker.core.models import SecretValue


def test_cache_ignores_a_read_that_started_before_forget() -> None:
    cache = ValueCache()
    generation = cache.generation("s1")
    cache.forget("s1")  # the value changed while the read was in flight
    assert not cache.put("s1", SecretValue("old"), generation)
    assert cache.get("s1") is None
    assert cache.put("s1", SecretValue("new"), cache.generation("s1"))
    assert cache.get("s1") == SecretValue("new")


def test_cache_retain_and_clear() -> None:
    cache = ValueCache()
    for sid in ("a", "b", "c"):
        cache.put(sid, SecretValue(f"v-{sid}"), cache.generation(sid))
    assert sorted(cache.retain(["b"])) == ["a", "c"]
    assert "b" in cache and len(cache) == 1
    cache.clear()
    assert len(cache) == 0 and repr(cache) == "ValueCache(0 value(s))"


def test_run_memory_is_bounded_and_per_run() -> None:
    runs = RunMemory(max_runs=2)
    runs.decline("r1", ["github"])
    runs.decline("r2", ["slack"])
    assert runs.declined("r1", "github") and not runs.declined("r1", "slack")
    runs.decline("r3", ["x"])  # r2 is now the least recently touched
    assert len(runs) == 2
    assert not runs.declined("r2", "slack") and runs.declined("r1", "github")
    runs.decline(None, ["github"])
    assert not runs.declined(None, "github")


def test_cooldown_counts_unanswered_in_a_row() -> None:
    cooldown = Cooldown(limit=2, seconds=60)
    assert not cooldown.unanswered("a", 0)
    cooldown.answered("a")  # an answer in between resets the count
    assert not cooldown.unanswered("a", 1)
    assert cooldown.unanswered("a", 2)  # second in a row starts it
    assert cooldown.active("a", 10) and cooldown.until("a") == 62
    assert not cooldown.unanswered("a", 20)  # already cooling down: no second start
    assert not cooldown.active("b", 10)
    assert not cooldown.active("a", 62)
    assert not cooldown.unanswered("a", 63)
