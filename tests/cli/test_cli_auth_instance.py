# SPDX-License-Identifier: Apache-2.0
"""`keybroker auth client/login/logout/cert` while `serve --headless` runs: each goes through the
instance's management API, so the instance sees the change at once, and the CLI never opens a vault
itself (the instance's is session-only: a CLI that stored a client secret or a key on its own would
refuse, exit 4, or keep it where the instance never looks). A real authorization server (oidc-provider);
the browser sign-in is run by the instance, through $BROWSER = tests/peers/browser.py's scripted user.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.cli.conftest import CardSite, Serving, card
from tests.cli.test_cli_auth import BROWSER_SCRIPT, oauth_card
from tests.conftest import IsolatedEnv, RunCli
from tests.peers import oauth_server
from tests.peers.oauth_server import NATIVE_REDIRECT_URI, OAuthServer
from tests.peers.process import skip_if_missing


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[OAuthServer]:
    with skip_if_missing(), oauth_server.oauth_server(workdir=tmp_path / "idp") as server:
        yield server


@pytest.fixture
def instance(isolated_env: IsolatedEnv, idp: OAuthServer) -> Iterator[Serving]:
    """`serve --headless` whose browser is the scripted user (the instance opens it, not the CLI)."""
    browser = {"BROWSER": f"{sys.executable} {BROWSER_SCRIPT} %s", **idp.browser_env()}
    running = Serving(str(isolated_env.keybroker_home), env=dict(browser))
    yield running
    running.stop()


def shown_status(run_cli: RunCli, slug: str) -> str:
    shown = run_cli("agents", "show", slug, "--json")
    assert shown.returncode == 0, shown.stderr
    return str(json.loads(shown.stdout)["schemes"][0]["status"])


def test_client_login_logout_go_through_the_running_instance(
    run_cli: RunCli, card_site: CardSite, idp: OAuthServer, instance: Serving
) -> None:
    card_site.set_card(oauth_card(idp))
    assert run_cli("agents", "add", card_site.url, "--slug", "demo").returncode == 0
    outputs: list[str] = []

    def run(*args: str, **kwargs: Any) -> Any:
        done = run_cli(*args, **kwargs)
        outputs.extend((done.stdout, done.stderr))
        assert done.returncode == 0, done.stderr
        assert instance.proc.poll() is None
        return done

    assert run_cli("auth", "login", "ghost").returncode == 3  # the instance does not know it
    assert run_cli("auth", "login", "demo", "--scheme", "nope").returncode == 2
    secret = idp.service_client_secret
    client = run("auth", "client", "demo", "--client-id", idp.service_client_id, stdin=secret)
    assert "in the running instance" in client.stderr
    # The secret is in the instance's session-only vault alone: its client credentials sign-in works.
    run("auth", "login", "demo", "--flow", "client")
    assert shown_status(run_cli, "demo").startswith("satisfied (signed in (client flow)")

    run(
        "auth",
        "client",
        "demo",
        "--client-id",
        idp.public_client_id,
        "--public",
        "--redirect-uri",
        NATIVE_REDIRECT_URI,
    )
    login = run("auth", "login", "demo", "--flow", "code", timeout=120)
    assert "running instance signs in" in login.stderr
    assert "sign in at: " not in login.stderr  # the instance opened the browser, not this process
    assert "(code flow)" in login.stderr
    assert "signed in (code flow" in shown_status(run_cli, "demo")
    logout = run("auth", "logout", "demo")
    assert "revoked" in logout.stderr
    assert shown_status(run_cli, "demo").startswith("client set")
    assert run_cli("auth", "logout", "demo").returncode == 3  # not signed in any more
    audit = run_cli("audit", "--json")
    callers = {e["caller"] for e in json.loads(audit.stdout) if e["key"] == "sso"}
    assert callers and all(c.startswith("api ") for c in callers if c)  # every change came in through the API
    assert secret not in "".join(outputs) + audit.stdout


def test_cert_goes_through_the_running_instance(
    run_cli: RunCli, card_site: CardSite, instance: Serving, tmp_path: Path
) -> None:
    data = card()
    data["securitySchemes"] = {"mtls": {"type": "mutualTLS"}}
    data["security"] = [{"mtls": []}]
    card_site.set_card(data)
    assert run_cli("agents", "add", card_site.url, "--slug", "demo").returncode == 0
    ca = trustme.CA()
    leaf, other = ca.issue_cert("client.example.test"), ca.issue_cert("other.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    other.private_key_pem.write_to_path(str(tmp_path / "other.pem"))
    wrong = run_cli("auth", "cert", "demo", "--cert", tmp_path / "c.pem", "--key", tmp_path / "other.pem")
    assert wrong.returncode == 2 and "does not belong" in wrong.stderr  # the instance's 422: nothing stored
    done = run_cli("auth", "cert", "demo", "--cert", tmp_path / "c.pem", "--key", tmp_path / "k.pem")
    assert done.returncode == 0, done.stderr
    assert "in the running instance" in done.stderr
    assert shown_status(run_cli, "demo").startswith("satisfied (certificate")
    key_line = leaf.private_key_pem.bytes().decode().splitlines()[1]
    assert key_line not in done.stdout + done.stderr + run_cli("audit", "--json").stdout
