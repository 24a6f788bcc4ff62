# SPDX-License-Identifier: Apache-2.0
"""Agent Stack's OAuth extension as the bridge reads it (core/a2a/oauth_demand.py): the card's demands,
leniently (a hostile or broken card is never fulfilled, never an error at bridge time), and the
authorization URL an agent asks the user to open (only http(s), nothing that could run or read locally).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from keybroker.core.a2a.oauth_demand import (
    MAX_AUTH_URL,
    OAUTH_EXTENSION_URI,
    auth_request_url,
    card_oauth_demands,
    oauth_demands_of,
)


def card(*params: Any) -> dict[str, Any]:
    extensions = [{"uri": OAUTH_EXTENSION_URI, "params": p} for p in params]
    extensions.append({"uri": "https://example.test/other/v1", "params": {"oauth_demands": {"x": {}}}})
    return {"name": "a", "capabilities": {"extensions": extensions}}


def test_the_demand_keys_of_the_agentstack_card_shape() -> None:
    found = card({"oauth_demands": {"default": {"redirect_uri": True}, "http://127.0.0.1:9/mcp": {}}})
    assert card_oauth_demands(found) == ("default", "http://127.0.0.1:9/mcp")
    assert oauth_demands_of(json.dumps(found)) == ("default", "http://127.0.0.1:9/mcp")


@pytest.mark.parametrize(
    "params",
    [None, [], "default", {"oauth_demands": None}, {"oauth_demands": ["default"]}, {"oauth_demands": {}}],
)
def test_a_malformed_extension_declares_nothing(params: Any) -> None:
    assert card_oauth_demands(card(params)) == ()


def test_unusable_keys_are_left_out() -> None:
    keys = {"ok": {}, "bell\u0007": {}, "": {}, "x" * 5000: {}}
    assert card_oauth_demands(card({"oauth_demands": keys})) == ("ok",)


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"capabilities": []}'])
def test_a_card_that_is_not_one_declares_nothing(text: str) -> None:
    assert oauth_demands_of(text) == ()


def test_an_http_or_https_authorization_url_is_opened() -> None:
    for url in ("https://idp.example/authorize?x=1", "http://127.0.0.1:5/auth?state=s"):
        assert auth_request_url({"authorization_endpoint_url": url}) == url


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,hi",
        "ftp://idp.example/",
        "https://idp.example/a b",
        "https://idp.example/\nx",
        "https://idp.example/" + "a" * MAX_AUTH_URL,
        42,
        None,
    ],
)
def test_anything_else_is_never_opened(url: object) -> None:
    assert auth_request_url({"authorization_endpoint_url": url}) is None
    assert auth_request_url(url) is None
