# SPDX-License-Identifier: Apache-2.0
"""Talking to an OpenAI-compatible provider for the user (issue 14): list its models, try one.

`GET <base>/models` fills the model picker; `models test` makes one tiny call (a one-token chat, or
an embedding of one word). Blocking (the CLI, the management API's thread pool, the settings
window's worker). No proxy sees the traffic, no redirect is followed, and the key never appears in
an error: a provider's message is shown with the key cut out of it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx

from keybroker.core.errors import BridgeError, PolicyDenied
from keybroker.core.models import MASK, SecretValue

__all__ = ["HttpModelProvider", "ProbeResult"]

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
_SHOWN = 300


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one tiny call showed."""

    status: int
    seconds: float
    reply: str


def _message(response: httpx.Response, key: SecretValue | None) -> str:
    text = response.text
    try:
        error = json.loads(text).get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(error, str):
            text = error
    except (ValueError, AttributeError):
        pass
    if key is not None and key.reveal():
        text = text.replace(key.reveal(), MASK)
    return " ".join(text.split())[:_SHOWN]


class HttpModelProvider:
    """The `ProviderClient` the admin uses (core/ports.py)."""

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport

    def _call(
        self, method: str, url: str, key: SecretValue | None, name: str, body: object = None
    ) -> tuple[httpx.Response, float]:
        headers = {"Authorization": f"Bearer {key.reveal()}"} if key is not None else {}
        started = time.monotonic()
        try:
            with httpx.Client(
                timeout=TIMEOUT, trust_env=False, follow_redirects=False, transport=self._transport
            ) as client:
                response = client.request(method, url, headers=headers, json=body)
        except httpx.TimeoutException:
            raise BridgeError(f"provider {name!r} did not answer within 20 s") from None
        except httpx.HTTPError as exc:
            raise BridgeError(
                f"provider {name!r} is unreachable ({type(exc).__name__})",
                hint="is it running? check its URL",
            ) from None
        took = time.monotonic() - started
        if response.status_code in (401, 403):
            raise PolicyDenied(
                f"provider {name!r} refuses its key (HTTP {response.status_code}): {_message(response, key)}",
                hint=f"store a new key: `keybroker models add {name} --base URL`",
            )
        if response.status_code >= 400:
            raise BridgeError(
                f"provider {name!r} answered HTTP {response.status_code}: {_message(response, key)}"
            )
        return response, took

    def list_models(self, name: str, base_url: str, key: SecretValue | None) -> list[str]:
        """The model ids `GET <base>/models` lists."""
        response, _ = self._call("GET", f"{base_url}/models", key, name)
        try:
            data = response.json().get("data")
        except (ValueError, AttributeError):
            data = None
        if not isinstance(data, list):
            raise BridgeError(f"provider {name!r}: GET /models did not answer an OpenAI model list")
        return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def try_model(
        self, name: str, base_url: str, key: SecretValue | None, model: str, kind: str
    ) -> ProbeResult:
        """One tiny call to `model`: a one-token chat, or an embedding of one word."""
        if kind == "embedding":
            response, took = self._call(
                "POST", f"{base_url}/embeddings", key, name, {"model": model, "input": "hi"}
            )
            reply = "an embedding of length " + str(
                len(((response.json().get("data") or [{}])[0]).get("embedding") or [])
            )
        else:
            body = {"model": model, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 5}
            response, took = self._call("POST", f"{base_url}/chat/completions", key, name, body)
            try:
                reply = str(response.json()["choices"][0]["message"]["content"])
            except (ValueError, KeyError, IndexError, TypeError):
                reply = "(an answer without a message)"
        return ProbeResult(response.status_code, took, " ".join(reply.split())[:_SHOWN])
