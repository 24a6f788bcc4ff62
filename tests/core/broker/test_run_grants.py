"""Pre-flight grants bound to a run placeholder, rebound when the run's ids arrive."""

from __future__ import annotations

from keybroker.core.broker.run_grants import RunGrants, placeholder
from keybroker.core.models import Grant, GrantScope, SecretValue
from keybroker.wiring.services import Services


def test_bind_task_then_context(services: Services) -> None:
    secret = services.secrets.set("github", SecretValue("v")).record
    mark = placeholder("run-1")
    task = Grant("g1", "demo", secret.secret_id, GrantScope.TASK, 0.0, task_id=mark, card_fingerprint="f")
    conv = Grant("g2", "demo", secret.secret_id, GrantScope.CONVERSATION, 0.0, context_id=mark)
    other = Grant("g3", "demo", secret.secret_id, GrantScope.TASK, 0.0, task_id="t-real")
    for g in (task, conv, other):
        services.catalog.add_grant(g)
    runs = RunGrants(services.catalog, max_runs=4)
    runs.remember("run-1", [task, conv, other])

    assert runs.bind("run-1", task_id="t-1") == 1
    assert services.catalog.find_grant("g1") == Grant(
        "g1", "demo", secret.secret_id, GrantScope.TASK, 0.0, task_id="t-1", card_fingerprint="f"
    )
    assert len(runs) == 1  # the conversation grant still waits for its id
    assert runs.bind("run-1", context_id="c-1") == 1
    found = services.catalog.find_grant("g2")
    assert found is not None and found.context_id == "c-1"
    assert len(runs) == 0 and runs.bind("run-1", task_id="t-2") == 0


def test_runs_are_bounded(services: Services) -> None:
    secret = services.secrets.set("github", SecretValue("v")).record
    runs = RunGrants(services.catalog, max_runs=2)
    for n in range(3):
        runs.remember(
            f"r{n}",
            [Grant(f"g{n}", "a", secret.secret_id, GrantScope.TASK, 0.0, task_id=placeholder(f"r{n}"))],
        )
    assert len(runs) == 2
