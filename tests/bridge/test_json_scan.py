# SPDX-License-Identifier: Apache-2.0
"""clean_json given the answer's bytes (json_scan.py's shortcut) gives exactly what the walk gives.

Longer than 300 lines because the generators of answers in every shape and spelling are the test.
`walk_json` is the reference: for generated answers in the leak shapes (values whole, split across
parts, messages and artifacts, encoded, upper-cased, in keys, in raw and file bytes, next to masked
fulfilments, nested past MAX_DEPTH), each spelled the ways an agent may spell JSON (orjson, escaped
`\\uXXXX` and `\\/`, indented, every character escaped). And the common answers take the shortcut."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import orjson
import pytest
from a2a.compat.v0_3 import conversions
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from keybroker.core.bridge.fast_events import payload_of
from keybroker.core.bridge.forms import Cut, cut_list, scrub_forms
from keybroker.core.bridge.json_cut import clean_json, clean_json_proven, walk_json
from keybroker.core.bridge.json_scan import shortcut
from keybroker.core.bridge.masking import mask_payload
from keybroker.core.bridge.proto_walk import MAX_DEPTH
from keybroker.core.bridge.stream_events import passes
from keybroker.core.models import MASK
from tests.bridge.test_json_cut import SHAPES, _task

VALUE = "Scan-CANARY-5e1d-K9x/Zq+w"
HALF = len(VALUE) // 2
SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"
#: Released values that make the shortcut's steps matter: plain, escaped characters, a capital sigma,
#: a character whose lower case is longer, one that starts with MASK's character. (One that MASK holds,
#: "****", only in small examples: the walk grows every MASK in a join by each round.)
VALUES = [
    VALUE,
    'quo"te\\Back\nline-7731',
    "ΣIGMA-ΚΛΕΙΔΙ-ΑΣ",
    "İstanbul-key-0042",
    "*secret-star-77",
    "tab\tsep/slash-0099",
]

_FRAGMENTS = [
    *(v for value in VALUES for v in (value, value[: len(value) // 2], value[len(value) // 2 :])),
    *(f for value in VALUES[:3] for f in scrub_forms(value)),
    VALUE.upper(),
    VALUE.swapcase(),
    MASK,
    "*",
    "hello ",
    "x",
    "Σ",
    "ς",
    "İ",
    "é",
    '"',
    "\\",
    "\n",
    "/",
    "\u2028",
    "\x01",
    "text",
    '"text":"',
]
_KEYS = [
    "text",
    "raw",
    "bytes",
    "parts",
    "file",
    "data",
    "metadata",
    "secret_fulfillments",
    "secretFulfillments",
    "oauth_fulfillments",
    "redirect_uri",
    "role",
    "kind",
    "history",
    "artifacts",
    "status",
    "message",
    "id",
    "contextId",
    SECRETS_URI,
]

texts = st.lists(st.sampled_from(_FRAGMENTS), max_size=4).map("".join)
keys = st.one_of(st.sampled_from(_KEYS), texts)
scalars = st.one_of(texts, st.integers(-5, 5), st.booleans(), st.none(), st.just(1.5))
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=12,
)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")


fulfilments = st.dictionaries(
    st.sampled_from(["k", "api", VALUE]),
    st.one_of(st.fixed_dictionaries({"secret": st.sampled_from([*VALUES, MASK])}), junk),
    max_size=2,
)
metadata = st.one_of(
    st.none(),
    st.fixed_dictionaries({SECRETS_URI: st.fixed_dictionaries({"secret_fulfillments": fulfilments})}),
    st.dictionaries(keys, junk, max_size=2),
)
parts = st.one_of(
    st.fixed_dictionaries({"text": texts}),
    st.fixed_dictionaries({"kind": st.just("text"), "text": texts}),
    st.fixed_dictionaries({"raw": texts.map(_b64)}),
    st.fixed_dictionaries({"raw": texts}),  # not base64: read as the text it is
    st.fixed_dictionaries({"file": st.fixed_dictionaries({"bytes": texts.map(_b64)})}),
    st.fixed_dictionaries({"data": junk}),
    st.fixed_dictionaries({"text": st.just(1)}),
)


def _message(role: str, message_parts: list[Any], meta: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"role": role, "messageId": "m", "parts": message_parts}
    if meta is not None:
        out["metadata"] = meta
    return out


messages = st.builds(
    _message,
    st.sampled_from(["agent", "ROLE_AGENT", "user", "ROLE_USER"]),
    st.lists(parts, max_size=4),
    metadata,
)


def _task_json(history: list[Any], status: Any, artifacts: list[Any], extra: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": "t1",
        "contextId": "c1",
        "status": {"state": "completed"},
        "history": history,
    }
    if status is not None:
        task["status"]["message"] = status
    if artifacts:
        task["artifacts"] = [{"artifactId": f"a{i}", "parts": p} for i, p in enumerate(artifacts)]
    if extra is not None:
        task["metadata"] = extra
    return task


tasks = st.builds(
    _task_json,
    st.lists(messages, max_size=3),
    st.one_of(st.none(), messages),
    st.lists(st.lists(parts, max_size=3), max_size=3),
    st.one_of(st.none(), junk),
)


def _nested(depth: int, inner: Any) -> Any:
    for i in range(depth):
        inner = [inner] if i % 2 else {"n": inner}
    return inner


deep = st.builds(_nested, st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3), st.one_of(messages, texts, st.just([])))
results = st.one_of(
    tasks,
    tasks.map(lambda t: {"task": t}),
    messages,
    messages.map(lambda m: {"message": m}),
    st.fixed_dictionaries(
        {"statusUpdate": st.fixed_dictionaries({"taskId": st.just("t1"), "status": tasks})}
    ),
    st.fixed_dictionaries({"artifactUpdate": st.fixed_dictionaries({"artifact": tasks})}),
    deep,
    junk,
)
answers = st.builds(lambda result: {"jsonrpc": "2.0", "id": 1, "result": result}, results)


def _escaped(data: Any) -> str:
    """`data` in JSON with every character of every string and key spelled `\\uXXXX`."""
    if isinstance(data, str):
        units = data.encode("utf-16-be", "surrogatepass")
        return '"' + "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2)) + '"'
    if isinstance(data, dict):
        return "{" + ",".join(f"{_escaped(k)}:{_escaped(v)}" for k, v in data.items()) + "}"
    if isinstance(data, list):
        return "[" + ",".join(_escaped(v) for v in data) + "]"
    return json.dumps(data)


def _spell(data: Any, how: str) -> bytes:
    """`data` spelled as agents spell JSON."""
    if how == "escaped":
        return _escaped(data).encode()
    if how == "orjson":
        return orjson.dumps(data)
    if how == "ascii":
        return json.dumps(data).encode()  # every non-ASCII character as \uXXXX
    if how == "indent":
        return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass")
    return orjson.dumps(data).replace(b"/", b"\\/")  # "slash": JSON's optional \/ (no / outside strings)


SPELLINGS = ["orjson", "ascii", "indent", "slash", "escaped"]
cuts = st.one_of(
    st.just(cut_list([])),
    st.sets(st.sampled_from(VALUES), min_size=1, max_size=3).map(lambda vs: cut_list(sorted(vs))),
    st.just(cut_list(VALUES)),  # past Cut's index threshold
)


def _same(source: bytes, cut: Cut) -> None:
    """clean_json with the bytes and the walk alone give the same answer and the same `changed`."""
    walked_in, given_in = orjson.loads(source), orjson.loads(source)
    expected, expected_changed = walk_json(walked_in, cut)
    got, changed = clean_json(given_in, cut, source)
    assert changed == expected_changed
    assert orjson.dumps(got) == orjson.dumps(expected)
    assert (got is given_in) == (expected is walked_in)


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(answer=answers, cut=cuts, how=st.sampled_from(SPELLINGS))
@example(
    answer={"result": {"parts": [{"text": "a " + VALUE[:HALF]}, {"text": VALUE[HALF:]}]}},
    cut=cut_list([VALUE]),
    how="orjson",
)
@example(answer={"result": {"parts": [{"text": MASK}]}}, cut=cut_list(["****"]), how="orjson")
@example(
    answer={"m": {"secret_fulfillments": {"k": {"secret": "x"}}}, "p": {"parts": [{"text": "*secr"}]}},
    cut=cut_list(["*secret-star-77"]),
    how="orjson",
)
@example(  # an echo of the escaped form: escaped again, so only its characters' escapes give it away
    answer={"result": {"metadata": {"note": json.dumps(VALUES[1])[1:-1]}}},
    cut=cut_list([VALUES[1]]),
    how="orjson",
)
@example(  # a capital sigma that folds the same wherever it stands, and "İ" that folds alone
    answer={"result": {"metadata": {"a": VALUES[2] + "x", "b": "İ"}}},
    cut=cut_list([VALUES[2]]),
    how="orjson",
)
@example(
    answer={"result": {"parts": [{"text": VALUES[2]}], "metadata": {"b": "İ"}}},
    cut=cut_list([VALUES[2]]),
    how="orjson",
)
@example(answer={"result": {"metadata": {"a": VALUE}}}, cut=cut_list([VALUE]), how="slash")
@example(  # a fulfilment key spelled with escapes only
    answer={"result": {"metadata": {"secret_fulfillments": {"k": {"secret": "tiny"}}}}},
    cut=cut_list([]),
    how="escaped",
)
@example(
    answer={"result": {"parts": [{"text": "a " + VALUE[:HALF]}, {"text": VALUE[HALF:]}]}},
    cut=cut_list([VALUE]),
    how="escaped",
)
@example(
    answer={"result": {"parts": [{"raw": _b64(VALUE)}]}},
    cut=cut_list([VALUE]),
    how="escaped",
)
def test_clean_json_with_the_bytes_is_the_walk(answer: Any, cut: Cut, how: str) -> None:
    _same(_spell(answer, how), cut)


@pytest.mark.parametrize("how", SPELLINGS)
@pytest.mark.parametrize("version", ["1.0", "0.3"])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_leak_shapes_are_cut_with_the_bytes_as_by_the_walk(shape: str, version: str, how: str) -> None:
    task = _task(shape)
    if version == "1.0":
        result: Any = {"task": MessageToDict(task)}
    else:
        result = conversions.to_compat_task(task).model_dump(mode="json", by_alias=True, exclude_none=True)
    source = _spell({"jsonrpc": "2.0", "id": 1, "result": result}, how)
    for values in ([], ["Json-CANARY-31be07-R2468pq"], ["Json-CANARY-31be07-R2468pq", *VALUES]):
        _same(source, cut_list(values))


def _echo_answer() -> dict[str, Any]:
    """What an a2a-sdk echo agent answers a fulfilled send: its task, the user's message in history."""
    user = _message(
        "ROLE_USER", [{"text": "ping"}], {SECRETS_URI: {"secret_fulfillments": {"k": {"secret": VALUE}}}}
    )
    agent = _message("ROLE_AGENT", [{"text": "pong: ok"}], None)
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "result": {"task": _task_json([user], agent, [[{"text": "done"}]], None)},
    }


def test_a_fulfilled_echo_answer_is_masked_without_the_walk() -> None:
    answer = _echo_answer()
    source, cut = orjson.dumps(answer), cut_list([VALUE])
    known = shortcut(source, orjson.loads(source), cut)
    assert known is not None
    cleaned, changed = known
    assert changed and VALUE not in orjson.dumps(cleaned).decode()
    assert cleaned == mask_payload(answer)


def test_an_answer_with_nothing_to_cut_passes_without_the_walk() -> None:
    answer = _echo_answer()
    del answer["result"]["task"]["history"]
    source = orjson.dumps(answer)
    data = orjson.loads(source)
    assert shortcut(source, data, cut_list([VALUE])) == (data, False)


#: Many released values: past Cut's index and past json_scan's search of each text one by one.
MANY = [VALUE, *(f"Token-{i:02d}-ab12cd34ef56" for i in range(12))]


@pytest.mark.parametrize("values", [[VALUE], MANY], ids=["one value", "many values"])
@pytest.mark.parametrize("how", ["orjson", "indent", "ascii", "slash"])
@pytest.mark.parametrize("version", ["1.0", "0.3"])
def test_common_answers_take_the_shortcut(version: str, how: str, values: list[str]) -> None:
    """A fulfilled echo whose agent writes lines, quotes and non-ASCII text, in either version."""
    answer = _echo_answer()
    task = answer["result"]["task"]
    lines = 'Résumé:\n- "日本" \\ done\t✓\n'
    task["status"]["message"]["parts"] = [{"text": lines}, {"data": {"n": [1, 2.5]}}]
    if version == "0.3":
        answer["result"] = {**task, "kind": "task"}
        for message in [*task["history"], task["status"]["message"]]:
            message["kind"] = "message"
            message["role"] = "user" if message["role"] == "ROLE_USER" else "agent"
    source, cut = _spell(answer, how), cut_list(values)
    data = orjson.loads(source)
    known = shortcut(source, data, cut)
    assert known is not None
    assert known == walk_json(orjson.loads(source), cut)
    assert known[1] and VALUE not in orjson.dumps(known[0]).decode()


@pytest.mark.parametrize(
    "leak",
    [
        VALUE,  # whole
        VALUE.swapcase(),
        base64.b64encode(b"u:" + VALUE.encode()).decode(),
        "see " + VALUE[:HALF],  # the start of a value ends a part
    ],
)
def test_an_answer_that_may_leak_is_walked(leak: str) -> None:
    answer = _echo_answer()
    answer["result"]["task"]["artifacts"][0]["parts"].append({"text": leak})
    answer["result"]["task"]["artifacts"][0]["parts"].append({"text": "tail"})
    source = orjson.dumps(answer)
    assert shortcut(source, orjson.loads(source), cut_list([VALUE])) is None
    cleaned, changed = clean_json(copy.deepcopy(answer), cut_list([VALUE]), source)
    assert changed and MASK in orjson.dumps(cleaned).decode()


# Stream events: a proof from the bytes answers `passes` (stream_events.py) ------------------------


def _v03_status(message: dict[str, Any]) -> dict[str, Any]:
    status = {"state": "working", "message": message}
    return {"kind": "status-update", "taskId": "t1", "contextId": "c1", "status": status, "final": False}


def _v03_artifact(artifact_parts: list[Any]) -> dict[str, Any]:
    artifact = {"artifactId": "a1", "parts": artifact_parts}
    return {"kind": "artifact-update", "taskId": "t1", "contextId": "c1", "artifact": artifact}


v03_events = st.one_of(
    tasks.map(lambda t: {**t, "kind": "task"}),
    messages.map(lambda m: {**m, "kind": "message"}),
    messages.map(_v03_status),
    st.lists(parts, max_size=4).map(_v03_artifact),
)
v10_events = st.one_of(
    tasks.map(lambda t: {"task": t}),
    messages.map(lambda m: {"message": m}),
    messages.map(lambda m: {"statusUpdate": {k: v for k, v in _v03_status(m).items() if k != "kind"}}),
    st.lists(parts, max_size=4).map(lambda p: {"artifactUpdate": _v03_artifact(p)}),
)
stream_events = st.one_of(st.tuples(st.just("0.3"), v03_events), st.tuples(st.just("1.0"), v10_events))


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(event=stream_events, cut=cuts, how=st.sampled_from(SPELLINGS))
@example(  # a text part ending in the start of a value: held back, so never proven clear
    event=("1.0", {"message": _message("ROLE_AGENT", [{"text": "ok " + VALUE[:HALF]}], None)}),
    cut=cut_list([VALUE]),
    how="orjson",
)
@example(  # a value split across two text parts: the join holds it
    event=(
        "0.3",
        _v03_artifact([{"kind": "text", "text": VALUE[:HALF]}, {"kind": "text", "text": VALUE[HALF:]}]),
    ),
    cut=cut_list([VALUE]),
    how="indent",
)
def test_an_event_proven_clear_by_its_bytes_passes_the_guard(
    event: tuple[str, Any], cut: Cut, how: str
) -> None:
    """Whenever `clean_json_proven` says the bytes proved an event clear, `passes` (which stream_events.py
    then skips) says the guard would send it as it is; and the cleaning is the walk's."""
    version, result = event
    source = _spell({"jsonrpc": "2.0", "id": 1, "result": result}, how)
    cleaned, changed, clear = clean_json_proven(orjson.loads(source), cut, source)
    assert (cleaned, changed) == walk_json(orjson.loads(source), cut)
    found = payload_of(cleaned.get("result"), version)
    assert found is not None
    if clear:
        assert passes(*found, cut)


def test_common_events_are_proven_clear_and_a_held_start_is_not() -> None:
    cut = cut_list([VALUE])
    said = {"message": _message("ROLE_AGENT", [{"text": "working on it"}], None)}
    held = {"message": _message("ROLE_AGENT", [{"text": "ok " + VALUE[:HALF]}], None)}
    for result, proven in ((said, True), (held, False)):
        source = orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": result})
        assert clean_json_proven(orjson.loads(source), cut, source)[2] is proven
    assert not passes(*payload_of(held, "1.0"), cut)  # type: ignore[misc]
