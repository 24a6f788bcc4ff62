# SPDX-License-Identifier: Apache-2.0
"""Agent card parsing for A2A 0.3 and 1.0 (PROTOCOL.md §1): pure, no I/O, no a2a-sdk.

Both shapes, and the merged card an a2a-sdk 1.3.0 server writes when it serves both versions, read
into one `ParsedCard`. Strict where the data would mislead (a field of the wrong type, a missing
`name`, a requirement naming an undeclared scheme, an interface without a URL); lenient where it is
harmless (unknown fields, unknown extensions, unknown scheme kinds are kept). Errors are
`InvalidCardError` whose message starts with the path of the field at fault, e.g.
`card.capabilities.extensions[2].params.secret_demands.github.name: expected a string, got a number`.

Order: what comes from JSON lists keeps its order (interfaces are in preference order, requirements
are alternatives); what comes from JSON objects (demands, schemes, the schemes of one requirement) is
sorted by key. Objects have no order in JSON, and a2a-sdk 1.x servers write them from protobuf maps
in an order that changes from one process to the next; sorting keeps "same fingerprint, same parse".
"""

from __future__ import annotations

import hashlib
import json
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keybroker.core.a2a.demand import (
    MAX_DEMANDS,
    SECRETS_EXTENSION_URI,
    parse_secret_demands,
    validate_demand_key,
)
from keybroker.core.a2a.json_field import (
    FieldError,
    as_mapping,
    as_str,
    index,
    member,
    opt_bool,
    opt_list,
    opt_mapping,
    opt_str,
)
from keybroker.core.a2a.model_demand import card_model_demands
from keybroker.core.a2a.scheme import parse_schemes
from keybroker.core.errors import InvalidCardError, InvalidDemandError
from keybroker.core.models import ModelDemand, SecretDemand, SecurityScheme

__all__ = [
    "MAX_CARD_BYTES",
    "MAX_DEMANDS",
    "SECRETS_EXTENSION_URI",
    "CardInterface",
    "ParsedCard",
    "canonical_card_json",
    "card_fingerprint",
    "normalise_protocol_version",
    "parse_card",
    "parse_secret_demands",
    "validate_demand_key",
]

#: A card larger than this (as canonical JSON) is refused; card_fetch caps the download the same.
MAX_CARD_BYTES = 1024 * 1024
MAX_INTERFACES = 64
MAX_EXTENSIONS = 128
BINDINGS = ("JSONRPC", "HTTP+JSON", "GRPC")
_HTTP_BINDINGS = ("JSONRPC", "HTTP+JSON")
#: 0.3 cards default their version to this (a2a-sdk 1.3.0 `parse_agent_card` does the same).
_LEGACY_DEFAULT_VERSION = "0.3.0"
#: A `supportedInterfaces` entry is 1.0 layout; without a version it is read as 1.0, as the 1.3.0
#: client does (`ClientFactory` falls back to PROTOCOL_VERSION_CURRENT).
_SUPPORTED_DEFAULT_VERSION = "1.0"
_VERSION = re.compile(r"v?(\d{1,4})(?:\.(\d{1,4}))?(?:\.\d{1,4})?(?:[-+][0-9A-Za-z.+-]*)?")


@dataclass(frozen=True)
class CardInterface:
    """One way to reach the agent: where, over which binding, in which protocol version."""

    url: str
    binding: str  # "JSONRPC" | "HTTP+JSON" | "GRPC" (others kept upper-cased as given)
    protocol_version: str  # normalised: "0.3", "1.0"


@dataclass(frozen=True)
class ParsedCard:
    """What Keybroker needs from an agent card, in one shape for 0.3 and 1.0."""

    name: str
    description: str
    version: str | None
    interfaces: tuple[CardInterface, ...]
    protocol_versions: tuple[str, ...]  # normalised, sorted, unique
    streaming: bool
    demands: tuple[SecretDemand, ...]  # from the secrets extension's params, sorted by key
    schemes: tuple[SecurityScheme, ...]  # sorted by name
    security: tuple[tuple[str, ...], ...]  # OR (card order) of ANDs (sorted) of scheme names
    extensions: tuple[str, ...]  # every extension URI declared, in card order, unique
    fingerprint: str  # sha256 hex of the canonical card JSON
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    #: extension URIs the card marks `required: true` (a client that lacks one may be refused).
    required_extensions: tuple[str, ...] = ()
    #: scheme name -> the scheme's own fields (OAuth flows, openIdConnectUrl, ...); see scheme.py.
    scheme_details: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: types.MappingProxyType({}), repr=False, compare=False
    )
    #: LLM and embedding demands (Agent Stack service extensions; model_demand.py), by kind then name.
    model_demands: tuple[ModelDemand, ...] = ()

    def interfaces_for(self, binding: str, protocol_version: str) -> tuple[CardInterface, ...]:
        """The interfaces offering `binding` in `protocol_version` ("0.3" / "1.0"), in card order."""
        return tuple(
            i for i in self.interfaces if i.binding == binding and i.protocol_version == protocol_version
        )


def canonical_card_json(data: object) -> str:
    """The canonical JSON text of a card: sorted keys, compact separators, UTF-8 kept as is."""
    try:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidCardError(f"card: not JSON data ({exc})") from None
    except RecursionError:
        raise InvalidCardError("card: nested too deeply") from None


def card_fingerprint(data: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical card JSON: stable under key order, changed by any real change."""
    return hashlib.sha256(canonical_card_json(data).encode("utf-8")).hexdigest()


def _normalised(text: str) -> str | None:
    match = _VERSION.fullmatch(text.strip())
    return None if match is None else f"{int(match.group(1))}.{int(match.group(2) or 0)}"


def normalise_protocol_version(value: str, where: str = "protocolVersion") -> str:
    """`"0.3.0"` -> `"0.3"`, `"1"` -> `"1.0"`; raises `InvalidCardError` on anything else."""
    version = _normalised(value)
    if version is None:
        raise InvalidCardError(f"{where}: not a protocol version: {value[:40]!r}")
    return version


def _version(value: object, where: str, default: str) -> str:
    text = opt_str(value, where)
    version = _normalised(default if text is None or not text.strip() else text)
    if version is None:
        raise FieldError(where, f"not a protocol version: {str(text)[:40]!r}")
    return version


def _interface(
    url: object, binding: object, version: str, where: str, url_field: str, binding_field: str
) -> CardInterface:
    url_where, binding_where = member(where, url_field), member(where, binding_field)
    if url is None:
        raise FieldError(url_where, "missing")
    url_text = as_str(url, url_where).strip()
    if not url_text:
        raise FieldError(url_where, "empty")
    if binding is None:
        raise FieldError(binding_where, "missing")
    binding_text = as_str(binding, binding_where).strip().upper()
    if not binding_text:
        raise FieldError(binding_where, "empty")
    if binding_text in _HTTP_BINDINGS and not url_text.lower().startswith(("http://", "https://")):
        raise FieldError(url_where, f"a {binding_text} interface needs an http or https URL")
    return CardInterface(url=url_text, binding=binding_text, protocol_version=version)


def _interfaces(card: Mapping[str, Any]) -> tuple[CardInterface, ...]:
    found: list[CardInterface] = []
    supported = opt_list(card.get("supportedInterfaces"), "card.supportedInterfaces")
    for i, item in enumerate(supported):
        where = index("card.supportedInterfaces", i)
        entry = as_mapping(item, where)
        version = _version(
            entry.get("protocolVersion"), member(where, "protocolVersion"), _SUPPORTED_DEFAULT_VERSION
        )
        binding = entry.get("protocolBinding")
        found.append(_interface(entry.get("url"), binding, version, where, "url", "protocolBinding"))
    # 0.3 layout; a 1.3.0 server serving both versions writes it next to supportedInterfaces.
    legacy_version = _version(card.get("protocolVersion"), "card.protocolVersion", _LEGACY_DEFAULT_VERSION)
    if card.get("url") is not None:
        transport = card.get("preferredTransport")
        transport = "JSONRPC" if transport is None else transport
        found.append(_interface(card["url"], transport, legacy_version, "card", "url", "preferredTransport"))
    for i, item in enumerate(opt_list(card.get("additionalInterfaces"), "card.additionalInterfaces")):
        where = index("card.additionalInterfaces", i)
        entry = as_mapping(item, where)
        transport = entry.get("transport")
        found.append(_interface(entry.get("url"), transport, legacy_version, where, "url", "transport"))
    if not found:
        raise FieldError("card", "no interface: neither `supportedInterfaces` (1.0) nor `url` (0.3)")
    if len(found) > MAX_INTERFACES:
        raise FieldError("card", f"{len(found)} interfaces, more than the {MAX_INTERFACES} allowed")
    return tuple(dict.fromkeys(found))  # unique, first occurrence wins


def _extensions(
    capabilities: Mapping[str, Any], where: str
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[SecretDemand, ...]]:
    """(every URI, required URIs, secret demands) from `capabilities.extensions`."""
    list_where = member(where, "extensions")
    items = opt_list(capabilities.get("extensions"), list_where)
    if len(items) > MAX_EXTENSIONS:
        raise FieldError(list_where, f"{len(items)} extensions, more than the {MAX_EXTENSIONS} allowed")
    uris: list[str] = []
    required: list[str] = []
    demands: dict[str, SecretDemand] = {}
    for i, item in enumerate(items):
        ext_where = index(list_where, i)
        entry = as_mapping(item, ext_where)
        if entry.get("uri") is None:
            raise FieldError(member(ext_where, "uri"), "missing")
        uri = as_str(entry["uri"], member(ext_where, "uri"))
        uris.append(uri)
        if opt_bool(entry.get("required"), member(ext_where, "required")):
            required.append(uri)
        params = entry.get("params")
        if params is not None:
            opt_mapping(params, member(ext_where, "params"))
        if uri == SECRETS_EXTENSION_URI:
            try:
                found = parse_secret_demands(params, member(ext_where, "params"))
            except InvalidDemandError as exc:
                raise InvalidCardError(str(exc)) from None
            for demand in found:
                if demand.key in demands:
                    raise FieldError(ext_where, f"demand key {demand.key!r} is declared twice")
                demands[demand.key] = demand
            if len(demands) > MAX_DEMANDS:
                raise FieldError(list_where, f"more than {MAX_DEMANDS} secret demands in all")
    return (
        tuple(dict.fromkeys(uris)),
        tuple(dict.fromkeys(required)),
        tuple(demands[k] for k in sorted(demands)),
    )


def _parse(card: Mapping[str, Any], fingerprint: str) -> ParsedCard:
    if card.get("name") is None:
        raise FieldError("card.name", "missing")
    name = as_str(card["name"], "card.name").strip()
    if not name:
        raise FieldError("card.name", "empty")
    description = opt_str(card.get("description"), "card.description") or ""
    version = opt_str(card.get("version"), "card.version")
    interfaces = _interfaces(card)
    capabilities = opt_mapping(card.get("capabilities"), "card.capabilities")
    streaming = opt_bool(capabilities.get("streaming"), "card.capabilities.streaming")
    uris, required, demands = _extensions(capabilities, "card.capabilities")
    model_demands = card_model_demands(capabilities, "card.capabilities")
    schemes = parse_schemes(card)
    versions = {i.protocol_version for i in interfaces}
    return ParsedCard(
        name=name,
        description=description,
        version=version,
        interfaces=interfaces,
        protocol_versions=tuple(sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")))),
        streaming=streaming,
        demands=demands,
        schemes=schemes.schemes,
        security=schemes.security,
        extensions=uris,
        fingerprint=fingerprint,
        raw=types.MappingProxyType(dict(card)),
        required_extensions=required,
        model_demands=model_demands,
        scheme_details=types.MappingProxyType(
            {k: types.MappingProxyType(dict(v)) for k, v in schemes.details.items()}
        ),
    )


def parse_card(data: object) -> ParsedCard:
    """Parse an agent card (a JSON object already decoded) of A2A 0.3, 1.0 or both.

    Raises `InvalidCardError` naming the field at fault, and for a card over 1 MiB.
    """
    if not isinstance(data, Mapping):
        raise InvalidCardError(f"card: expected an object, got {type(data).__name__}")
    text = canonical_card_json(data)
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_CARD_BYTES:
        raise InvalidCardError(f"card: {len(encoded)} bytes, larger than the {MAX_CARD_BYTES} allowed")
    # Parse a private copy made from the canonical text: what the caller holds can't change what we
    # parsed, and the result depends on the canonical JSON alone, so equal fingerprints parse equal.
    try:
        card = json.loads(text)
    except RecursionError:
        raise InvalidCardError("card: nested too deeply") from None
    try:
        return _parse(card, hashlib.sha256(encoded).hexdigest())
    except FieldError as exc:
        raise InvalidCardError(str(exc)) from None
