"""The one prompt a run's `Ask` decisions become (prompts.py has its types), and whether it is the
agent's first contact (no grant yet and nothing ever released to it).
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Sequence

from keybroker.core.broker.fulfilment import RunContext
from keybroker.core.broker.policy import Ask
from keybroker.core.broker.prompts import SCOPE_ORDER, PromptItem, PromptRequest
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.models import AuditDecision, GrantScope, SecretDemand


def build_prompt_request(
    run: RunContext,
    asks: Sequence[tuple[SecretDemand, Ask]],
    *,
    now: float,
    timeout: float,
    first_contact: bool,
) -> PromptRequest:
    """One item per asked demand; the scopes the run's ids allow (TASK and CONVERSATION need theirs)."""
    items = tuple(
        PromptItem(
            key=demand.key,
            name=demand.name or demand.key,
            description=demand.description,
            reason=ask.reason,
            stored=ask.secret,
            offers=ask.offers,
            card_changed=ask.card_changed,
            scheme=demand.scheme,
        )
        for demand, ask in asks
    )
    ids = run.grant_ids
    scopes = tuple(
        s
        for s in SCOPE_ORDER
        if (s != GrantScope.TASK or ids.task_id) and (s != GrantScope.CONVERSATION or ids.context_id)
    )
    return PromptRequest(
        prompt_id="pr_" + _random.token_hex(6),
        agent=run.agent,
        items=items,
        phase=run.phase,
        task_id=run.task_id,
        context_id=run.context_id,
        run_id=run.run_id,
        caller=run.caller,
        first_contact=first_contact,
        card_changed=any(item.card_changed for item in items),
        scopes=scopes,
        default_scope=GrantScope.TASK if GrantScope.TASK in scopes else GrantScope.ONCE,
        created=now,
        deadline=now + timeout,
        timeout=timeout,
    )


def is_first_contact(catalog: Catalog, slug: str) -> bool:
    """Whether agent `slug` holds no grant and was never released a value (the prompt says so)."""
    if catalog.list_grants(agent=slug):
        return False
    released = catalog.query(
        "SELECT 1 FROM audit WHERE agent = ? AND decision = ? LIMIT 1",
        (slug, AuditDecision.RELEASED.value),
    )
    return not released
