"""`keybroker auth ...` in a subprocess on the rig's real Secret Service, against a real authorization
server (oidc-provider, tests/peers/oauth_server.py): client credentials, the authorization code flow
through `$BROWSER` (tests/peers/browser.py signs the test user in), list, logout. Nothing printed or
audited holds the client secret (tokens are checked at the bridge level: tests/interop).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.cli.conftest import CardSite, card
from tests.conftest import RunCli
from tests.peers import oauth_server
from tests.peers.oauth_server import NATIVE_REDIRECT_URI, OAuthServer
from tests.peers.process import skip_if_missing

BROWSER_SCRIPT = Path(oauth_server.__file__).with_name("browser.py")


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[OAuthServer]:
    with skip_if_missing(), oauth_server.oauth_server(workdir=tmp_path / "idp") as server:
        yield server


def oauth_card(idp: OAuthServer) -> dict[str, Any]:
    data = card()
    data["securitySchemes"] = {
        "sso": {
            "type": "oauth2",
            "oauth2MetadataUrl": f"{idp.issuer}/.well-known/oauth-authorization-server",
            "flows": {
                "clientCredentials": {"tokenUrl": f"{idp.issuer}/token", "scopes": {"read": "read"}},
                "authorizationCode": {
                    "authorizationUrl": f"{idp.issuer}/auth",
                    "tokenUrl": f"{idp.issuer}/token",
                    "scopes": {"read": "read"},
                },
            },
        }
    }
    data["security"] = [{"sso": ["read"]}]
    return data


def listed(kb: RunCli) -> dict[str, Any]:
    shown = kb("auth", "list", "--json")
    assert shown.returncode == 0, shown.stderr
    (row,) = json.loads(shown.stdout)
    return dict(row)


def test_client_credentials_then_code_flow_via_browser_then_logout(
    kb: RunCli, card_site: CardSite, idp: OAuthServer
) -> None:
    card_site.set_card(oauth_card(idp))
    assert kb("agents", "add", card_site.url, "--slug", "demo").returncode == 0
    outputs: list[str] = []

    def run(*args: str, **kwargs: Any) -> Any:
        done = kb(*args, **kwargs)
        outputs.extend((done.stdout, done.stderr))
        assert done.returncode == 0, done.stderr
        return done

    assert kb("auth", "login", "demo", "--scheme", "nope").returncode == 2
    run("auth", "client", "demo", "--client-id", idp.service_client_id, stdin=idp.service_client_secret)
    run("auth", "login", "demo", "--flow", "client")
    row = listed(kb)
    assert (row["agent"], row["scheme"], row["flow"], row["issuer"]) == ("demo", "sso", "client", idp.issuer)
    assert row["scopes"] == ["read"] and row["client"] == "confidential" and row["signed_in"]
    assert row["refresh_token"] is False and row["expires"] is not None
    shown = json.loads(kb("agents", "show", "demo", "--json").stdout)
    assert shown["schemes"][0]["status"].startswith("satisfied (signed in (client flow)")

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
    assert listed(kb)["signed_in"] is False  # another client: the old tokens are forgotten
    browser = {"BROWSER": f"{sys.executable} {BROWSER_SCRIPT} %s", **idp.browser_env()}
    login = run("auth", "login", "demo", "--flow", "code", env=browser, timeout=90)
    assert "sign in at: " + idp.issuer + "/auth?" in login.stderr  # headless: the URL goes to stderr too
    row = listed(kb)
    assert row["flow"] == "code" and row["client"] == "public" and row["refresh_token"] is True
    logout = run("auth", "logout", "demo")
    assert "revoked" in logout.stderr
    assert listed(kb)["signed_in"] is False
    assert kb("auth", "logout", "demo").returncode == 3  # not signed in any more
    text = "".join(outputs) + kb("audit", "--json").stdout
    assert idp.service_client_secret not in text
    decisions = [e["decision"] for e in json.loads(kb("audit", "--json").stdout)]
    assert {"signed_in", "signed_out"} <= set(decisions)


def test_auth_cert_imports_a_client_certificate_for_a_mutual_tls_scheme(
    kb: RunCli, card_site: CardSite, tmp_path: Path
) -> None:
    data = card()
    data["securitySchemes"] = {"mtls": {"type": "mutualTLS"}}
    data["security"] = [{"mtls": []}]
    card_site.set_card(data)
    assert kb("agents", "add", card_site.url, "--slug", "demo").returncode == 0
    ca = trustme.CA()
    leaf = ca.issue_cert("client.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    other = ca.issue_cert("other.example.test")
    other.private_key_pem.write_to_path(str(tmp_path / "other.pem"))
    wrong = kb("auth", "cert", "demo", "--cert", tmp_path / "c.pem", "--key", tmp_path / "other.pem")
    assert wrong.returncode == 2 and "does not belong" in wrong.stderr  # bad input: nothing stored
    assert json.loads(kb("auth", "list", "--json").stdout) == []
    done = kb(
        "auth",
        "cert",
        "demo",
        "--cert",
        tmp_path / "c.pem",
        "--key",
        tmp_path / "k.pem",
        "--ca",
        tmp_path / "ca.pem",
    )
    assert done.returncode == 0, done.stderr
    assert "CA pinned" in done.stderr
    row = listed(kb)
    assert row["scheme"] == "mtls" and "trustme" in row["certificate"] and row["certificate_not_after"] > 0
    shown = json.loads(kb("agents", "show", "demo", "--json").stdout)
    assert shown["schemes"][0]["status"].startswith("satisfied (certificate")
    key_line = leaf.private_key_pem.bytes().decode().splitlines()[1]
    assert key_line not in done.stdout + done.stderr + kb("audit", "--json").stdout
