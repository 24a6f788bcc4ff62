# SPDX-License-Identifier: Apache-2.0
"""send_shape.plain_send, the fast path's cheap admission, against the SDK's own verdict.

The reference is fast_admission.sdk_accepts: the SDK's model round trip (protobuf `ParseDict` for 1.0, the
0.3 pydantic model and conversion), params.check_params and the nesting limit, the check the fast
path ran on every request before. Bodies are JSON-RPC sends as orjson reads them off the wire:
realistic ones (what a2a-sdk and @a2a-js clients send), and near-valid and broken ones made from
them (a required member dropped or emptied, a member of the wrong type, extra and aliased members,
oneof conflicts, unknown enum spellings, deep nesting, huge numbers). Whatever comes in:
- `plain_send` never accepts what the SDK refuses;
- it accepts every realistic body (there it must not send the fast path to the SDK's check).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from keybroker.core.bridge.fast_admission import sdk_accepts
from keybroker.core.bridge.send_shape import PLAIN_DEPTH, plain_send

VERSIONS = ("0.3", "1.0")
METHODS = {"0.3": "message/send", "1.0": "SendMessage"}
STREAM_METHODS = {"0.3": "message/stream", "1.0": "SendStreamingMessage"}
DIFF = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
ids = st.uuids().map(str)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    names,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)),
    max_leaves=8,
)
structs = st.dictionaries(names, json_values, max_size=4)
SECRETS = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"


@st.composite
def parts(draw: st.DrawFn, version: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(("text", "data", "url") if version == "1.0" else ("text", "data")))
    part: dict[str, Any]
    if version == "0.3":
        content = ("text", draw(names)) if kind == "text" else ("data", draw(structs))
        part = {"kind": kind, content[0]: content[1]}
    elif kind == "data":
        part = {"data": draw(json_values.filter(lambda v: v is not None))}
    else:
        part = {kind: draw(names)}
    if draw(st.booleans()):
        part["metadata"] = draw(structs)
    if version == "1.0" and kind != "text" and draw(st.booleans()):
        part["mediaType"] = draw(st.sampled_from(("application/json", "text/plain")))
    return part


@st.composite
def sends(draw: st.DrawFn, version: str) -> dict[str, Any]:
    """A realistic send: what a2a-sdk's and @a2a-js's clients put on the wire."""
    message: dict[str, Any] = {
        "messageId": draw(ids),
        "role": draw(st.sampled_from(("user", "agent") if version == "0.3" else ("ROLE_USER", "ROLE_AGENT"))),
        "parts": draw(st.lists(parts(version), min_size=1, max_size=3)),
    }
    if version == "0.3":
        message["kind"] = "message"
    if draw(st.booleans()):
        message["contextId"] = draw(ids)
    if draw(st.booleans()):
        message["metadata"] = draw(structs)
    if draw(st.booleans()):
        message["metadata"] = {SECRETS: {"secret_fulfillments": {"k": {"secret": draw(names)}}}}
    if draw(st.booleans()):
        message["extensions"] = draw(st.lists(names, max_size=2))
    params: dict[str, Any] = {"message": message}
    if draw(st.booleans()):
        flag = ("blocking", draw(st.booleans())) if version == "0.3" else ("returnImmediately", False)
        configuration: dict[str, Any] = dict([flag])
        if draw(st.booleans()):
            configuration["acceptedOutputModes"] = ["text/plain", "application/json"]
        if draw(st.booleans()):
            configuration["historyLength"] = draw(st.integers(0, 100))
        params["configuration"] = configuration
    if draw(st.booleans()):
        params["metadata"] = draw(structs)
    method = draw(st.sampled_from((METHODS[version], STREAM_METHODS[version])))
    request_id = draw(st.one_of(ids, st.integers(0, 2**31)))
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


#: Where a mutation may land: paths into a realistic send (keys, or `*` for any list index).
TARGETS = [
    ("params",),
    ("params", "message"),
    ("params", "message", "parts", "*"),
    ("params", "configuration"),
    ("params", "message", "metadata"),
]
MEMBERS = [
    "messageId", "message_id", "role", "parts", "kind", "text", "data", "url", "raw", "file", "metadata",
    "contextId", "context_id", "taskId", "extensions", "referenceTaskIds", "mediaType", "filename",
    "configuration", "historyLength", "history_length", "blocking", "returnImmediately",
    "acceptedOutputModes", "pushNotificationConfig", "tenant", "message", "[ext]", "data_part_compat",
    "@type", "",
]  # fmt: skip
odd_values = st.one_of(
    json_values,
    st.sampled_from(
        [
            "",
            [],
            {},
            None,
            0,
            1,
            -1,
            2**31,
            2**53 + 1,
            2**63,
            2**64 - 1,
            -(2**63) - 1,
            1e300,
            -0.0,
            1.5,
            "ROLE_UNSPECIFIED",
            "ROLE_USER",
            "user",
            "USER",
            "role_user",
            "agent",
            "text",
            "data",
            "file",
            "message",
            "aGk=",
            "not base64!",
            {"uri": "https://x"},
            {"bytes": "aGk="},
            {"text": "t"},
            [{"kind": "text", "text": "t"}],
            [{"text": "t"}],
            [None],
            ["a", 1],
        ]
    ),
)


def _nodes(body: dict[str, Any], path: tuple[str, ...]) -> list[Any]:
    nodes: list[Any] = [body]
    for step in path:
        found = []
        for node in nodes:
            if step == "*" and isinstance(node, list):
                found.extend(node)
            elif isinstance(node, dict) and step in node:
                found.append(node[step])
        nodes = found
    return [n for n in nodes if isinstance(n, dict)]


def _nest(value: object, depth: int) -> object:
    for _ in range(depth):
        value = {"n": [value]} if depth % 2 else {"n": value}
    return value


@st.composite
def mutated(draw: st.DrawFn, version: str) -> dict[str, Any]:
    """A realistic send with one to three things done to it."""
    body = draw(sends(version))
    for _ in range(draw(st.integers(1, 3))):
        nodes = _nodes(body, draw(st.sampled_from(TARGETS)))
        if not nodes:
            continue
        node = draw(st.sampled_from(nodes))
        how = draw(st.sampled_from(("drop", "set", "set", "empty", "nest", "int-key")))
        key = draw(st.sampled_from([*node.keys(), *MEMBERS] if node else MEMBERS))
        if how == "drop":
            node.pop(key, None)
        elif how == "set":
            node[key] = copy.deepcopy(draw(odd_values))
        elif how == "empty":
            node[key] = type(node.get(key, ""))() if isinstance(node.get(key), str | list | dict) else None
        elif how == "nest":
            node[key] = _nest(draw(scalars), draw(st.integers(PLAIN_DEPTH - 2, 70)))
        else:
            node[draw(st.integers(-3, 3))] = draw(scalars)
    return body


def _wire(body: dict[str, Any]) -> dict[str, Any]:
    """`body` as the fast path gets it: dumped and read back by orjson (str keys, 64-bit numbers)."""
    try:
        data: dict[str, Any] = orjson.loads(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS))
    except (orjson.JSONEncodeError, orjson.JSONDecodeError):
        return body  # (an int past 64 bits: orjson reads it back as a float, json.loads would not)
    return data


def _verdicts(body: dict[str, Any], version: str) -> tuple[bool, bool]:
    plain = plain_send(copy.deepcopy(body), version)
    sdk = any(sdk_accepts(copy.deepcopy(body), version, legacy_agent=legacy) for legacy in (False, True))
    if plain:  # (legacy_agent only loosens a resume's parts: one must agree as the other)
        assert sdk_accepts(copy.deepcopy(body), version, legacy_agent=False)
    return plain, sdk


@pytest.mark.parametrize("version", VERSIONS)
@settings(DIFF, max_examples=200)
@given(data=st.data())
def test_every_realistic_send_is_admitted_as_the_sdk_admits_it(version: str, data: st.DataObject) -> None:
    body = _wire(data.draw(sends(version)))
    assert _verdicts(body, version) == (True, True), orjson.dumps(body).decode()


@pytest.mark.parametrize("version", VERSIONS)
@DIFF
@given(data=st.data())
def test_a_near_valid_or_broken_send_is_never_admitted_where_the_sdk_refuses_it(
    version: str, data: st.DataObject
) -> None:
    body = data.draw(mutated(version))
    for shape in (_wire(body), body):
        plain, sdk = _verdicts(shape, version)
        assert sdk or not plain, f"admitted what the SDK refuses: {shape!r}"
        event(f"sdk {'accepts' if sdk else 'refuses'}, plain {'accepts' if plain else 'declines'}")


def _v10(**message: Any) -> dict[str, Any]:
    base = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    return {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {**base, **message}}}


def _v03(**message: Any) -> dict[str, Any]:
    base = {"kind": "message", "messageId": "m", "role": "user", "parts": [{"kind": "text", "text": "hi"}]}
    return {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {**base, **message}}}


# Shapes protobuf or pydantic read in ways that are easy to miss (`text` with a null `data` is a data
# part to protobuf; a snake_case alias counts; "[ext]" is an extension's name): left to the SDK.
UNUSUAL = [
    ("1.0", _v10(parts=[{"text": "a", "data": None}])),  # null data still takes the oneof
    ("1.0", _v10(parts=[{"text": "a", "url": "u"}])),
    ("1.0", _v10(parts=[{"metadata": {}}])),
    ("1.0", _v10(parts=[])),
    ("1.0", _v10(role="ROLE_UNSPECIFIED")),
    ("1.0", _v10(role="user")),
    ("1.0", _v10(messageId="")),
    ("1.0", _v10(messageId=None)),
    ("1.0", _v10(metadata=_nest("x", 60))),  # protobuf's own recursion limit (100 messages)
    ("1.0", _v10(metadata={"[ext]": 1}, **{"[ext]": 1})),
    ("1.0", _v10(extensions=["a", 1])),
    ("1.0", _v10(extensions=[None])),
    ("1.0", _v10(parts=[{"raw": "aGk="}])),
    ("1.0", _v10(parts=[{"raw": "not base64!"}])),
    ("1.0", _v10(message_id="m")),
    ("1.0", _v10(role=1)),
    ("0.3", _v03(parts=[{"kind": "text", "text": 1}])),
    ("0.3", _v03(parts=[{"kind": "data", "data": [1]}])),
    ("0.3", _v03(parts=[{"kind": "data", "data": {"x": 1}, "metadata": {"data_part_compat": True}}])),
    ("0.3", _v03(role="ROLE_USER")),
    ("0.3", _v03(kind="task")),
    ("0.3", _v03(messageId=1)),
    ("0.3", _v03(parts=[])),
    ("0.3", _v03(parts=[{"text": "no kind"}])),
    ("0.3", _v03(parts=[{"kind": "file", "file": {"uri": "https://x"}}])),
    ("0.3", _v03(message_id="m")),
    ("0.3", {**_v03(), "id": None}),
    ("0.3", {**_v03(), "params": {**_v03()["params"], "configuration": {"historyLength": 2**31}}}),
    ("1.0", {**_v10(), "params": {**_v10()["params"], "configuration": {"historyLength": -(2**31) - 1}}}),
    ("0.3", {**_v03(), "id": True}),  # (pydantic reads it as 1)
    ("0.3", {**_v03(), "id": 1.5}),
    ("0.3", _v03(metadata={"n": 2**70})),
]


@pytest.mark.parametrize(("version", "body"), UNUSUAL)
def test_a_shape_the_sdk_reads_its_own_way_is_left_to_it(version: str, body: dict[str, Any]) -> None:
    assert _verdicts(body, version)[0] is False
