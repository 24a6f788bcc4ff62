"""Settings → Sign-ins' Cancel (core/auth/sign_in_admin.py): a Cancel clicked while the sign-in was still
reading its agent holds (the flow never runs), and the next sign-in on the same admin is not cancelled."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from keybroker.core.auth.sign_in_admin import LocalSignInAdmin
from keybroker.core.auth.signins import SignIns
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import SignInDenied


class _Flows:
    """A `SignIns` whose login ends at once (counting the flows that ran)."""

    def __init__(self) -> None:
        self.ran = 0

    async def login(self, agent: Any, scheme: str, reason: Any, *, caller: str | None) -> str:
        self.ran += 1
        return "signed-in"


class _Catalog:
    """Reading the agent is where the user clicks Cancel."""

    def __init__(self) -> None:
        self.admin: LocalSignInAdmin | None = None

    def get_agent(self, slug: str) -> SimpleNamespace:
        if self.admin is not None:
            self.admin.cancel_login()
            self.admin = None
        return SimpleNamespace(slug=slug)


def test_a_cancel_while_the_agent_is_read_holds_and_the_next_login_runs() -> None:
    flows, catalog = _Flows(), _Catalog()
    admin = LocalSignInAdmin(cast(SignIns, flows), cast(Catalog, catalog), "test")
    catalog.admin = admin
    with pytest.raises(SignInDenied, match="cancelled"):
        admin.login("demo", "sso")
    assert flows.ran == 0
    assert admin.login("demo", "sso") == "signed-in"  # type: ignore[comparison-overlap]
    assert flows.ran == 1
