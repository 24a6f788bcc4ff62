# SPDX-License-Identifier: Apache-2.0
"""What a client can make of what the bridge sent it: every text it could join, and every decoding.

A bridge client reads JSON (a result, or SSE events) in either protocol version. It may join text
parts in stream order, the chunks of one artifact, the messages of a task (its history, then its
status message), and decode what it joined: base64 (standard or URL-safe, at any offset, so a value
after a prefix shows too), hex, percent-encoding, and case. `leaks(value, payloads)` lists every
place where `value` comes out of that: the tests assert it is empty. Independent of the bridge's own
list of forms (forms.py), so a form the bridge does not know is caught here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_=-]{6,}")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{8,}")


def _raw_bytes(node: dict[str, Any]) -> bytes | None:
    """The bytes of a raw part: 1.0 `{"raw": b64}`, 0.3 `{"kind": "file", "file": {"bytes": b64}}`."""
    encoded = node.get("raw")
    if encoded is None and isinstance(node.get("file"), dict):
        encoded = node["file"].get("bytes")
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded)
    except (binascii.Error, ValueError):
        return None


def _message_like(node: dict[str, Any]) -> bool:
    return "messageId" in node or node.get("kind") == "message"


def _pieces(node: Any, owner: str, found: list[tuple[str, str]]) -> None:
    """Text (and raw bytes as text) parts below `node` in document order, with who they belong to."""
    if isinstance(node, list):
        for item in node:
            _pieces(item, owner, found)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("artifactId"), str):
        owner = "artifact:" + node["artifactId"]
    elif _message_like(node):
        owner = "message"
    if isinstance(node.get("text"), str):
        found.append((owner, node["text"]))
    raw = _raw_bytes(node)
    if raw is not None:
        found.append((owner, raw.decode("utf-8", "surrogateescape")))
    if "history" in node and "status" in node:  # a task: its messages in the order they came
        _pieces(node.get("artifacts", []), owner, found)
        _pieces(node["history"], owner, found)
        _pieces(node["status"], owner, found)
        rest = {k: v for k, v in node.items() if k not in ("artifacts", "history", "status")}
        _pieces(rest, owner, found)
        return
    for key, value in node.items():
        if key not in ("text", "raw"):
            _pieces(value, owner, found)


def _strings(node: Any) -> Iterator[str]:
    """Every string in `node`: values and object keys."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def joins(payloads: list[Any]) -> dict[str, str]:
    """Every text a client could join from `payloads` (in order), by how it joined it."""
    pieces: list[tuple[str, str]] = []
    for payload in payloads:
        _pieces(payload, "", pieces)
    joined = {"all text": "".join(t for _, t in pieces)}
    for owner in dict.fromkeys(o for o, _ in pieces):
        joined[owner or "outside"] = "".join(t for o, t in pieces if o == owner)
    for n, text in enumerate(_strings(payloads)):
        joined[f"string {n}"] = text
    return joined


def _decodings(text: str) -> Iterator[tuple[str, bytes]]:
    yield "as is", text.encode("utf-8", "surrogateescape")
    yield "percent-decoded", unquote_to_bytes(text)
    for run in _HEX_RUN.findall(text):
        for offset in (0, 1):
            digits = run[offset:]
            yield "hex", bytes.fromhex(digits[: len(digits) // 2 * 2])
    for run in _BASE64_RUN.findall(text):
        standard = run.replace("-", "+").replace("_", "/").replace("=", "")
        for offset in range(4):
            body = standard[offset:]
            if len(body) % 4 == 1:
                body = body[:-1]
            if body:
                yield f"base64 at {offset}", base64.b64decode(body + "=" * (-len(body) % 4))


def leaks(value: str, payloads: list[Any], raw_body: str = "") -> list[str]:
    """Where `value` shows, case-folded, in any join or decoding of what the client received."""
    wanted = value.encode().lower()
    found: list[str] = []
    texts = joins(payloads)
    texts["raw body"] = raw_body
    for how, text in texts.items():
        for decoding, data in _decodings(text):
            if wanted in data.lower():
                found.append(f"{how}, {decoding}")
    return found


def texts(payloads: list[Any]) -> str:
    """All the text a client joins in order (for asserting what must still arrive)."""
    return joins(payloads)["all text"]


def dump(payloads: list[Any]) -> str:
    """`payloads` as JSON text."""
    return json.dumps(payloads, ensure_ascii=False)
