# SPDX-License-Identifier: Apache-2.0
"""`serve --headless`'s sign-in prompter (cli/sign_in_terminal.py): nobody to ask, so nothing opens."""

from __future__ import annotations

import asyncio

import pytest

from keybroker.cli.sign_in_terminal import StderrSignIn
from keybroker.core.broker.sign_in_prompts import SignInAsk

URL = "http://127.0.0.1:9/auth?client_id=c&state=CANARY-state-0123456789"


def test_an_agents_own_sign_in_is_declined_saying_why_not_how_to_log_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ask = SignInAsk("peer", "Peer", "Agent Stack OAuth", "idp.example", "code", "", URL, agent_client=True)
    assert asyncio.run(StderrSignIn().confirm_sign_in(ask)) is False
    err = capsys.readouterr().err
    assert "Peer wants you to sign in at idp.example" in err and "declined" in err
    assert "auth login" not in err  # `auth login` signs in for a card's scheme, not for the agent
    assert "CANARY-state" not in err


def test_a_card_schemes_sign_in_is_declined_with_the_command_that_does_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ask = SignInAsk("peer", "Peer", "sso", "idp.example", "code", "refused", URL)
    assert asyncio.run(StderrSignIn().confirm_sign_in(ask)) is False
    assert "keybroker auth login peer --scheme sso" in capsys.readouterr().err
