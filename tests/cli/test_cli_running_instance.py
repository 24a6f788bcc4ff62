"""The CLI against a running instance says what it says without one: one validation, one message."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import CardSite, Serving
from tests.conftest import RunCli

BAD_URLS = ["localhost:18493", "ftp://127.0.0.1:18493/", "http://user:pw@127.0.0.1:1/", "http://h/?q=1", ""]


@pytest.mark.parametrize("url", BAD_URLS, ids=["no-scheme", "ftp", "password", "query", "empty"])
def test_a_bad_agent_url_gets_the_same_message_with_and_without_the_app(
    run_cli: RunCli, url: str, request: pytest.FixtureRequest
) -> None:
    alone = run_cli("agents", "add", url)
    assert alone.returncode == 2 and "agent URL" in alone.stderr, alone.stderr
    serving: Serving = request.getfixturevalue("serving")
    through = run_cli("agents", "add", url)
    assert serving.proc.poll() is None
    assert through.returncode == alone.returncode
    assert through.stderr == alone.stderr
    for leak in ("pattern", "openapi", "[Hh][Tt]", "invalid request"):
        assert leak not in through.stderr


def test_a_trailing_space_is_forgiven_with_and_without_the_app(
    run_cli: RunCli, card_site: CardSite, request: pytest.FixtureRequest
) -> None:
    alone = run_cli("agents", "add", card_site.url + " ", "--slug", "alone")
    assert alone.returncode == 0, alone.stderr
    request.getfixturevalue("serving")
    through = run_cli("agents", "add", " " + card_site.url + "/ ", "--slug", "through")
    assert through.returncode == 0, through.stderr
    listed = json.loads(run_cli("agents", "list", "--json").stdout)
    assert sorted((a["slug"], a["url"]) for a in listed) == [
        ("alone", card_site.url),
        ("through", card_site.url),
    ]
