# SPDX-License-Identifier: Apache-2.0
"""The cut list on JSON: what cutting.py does to protobufs, done to an answer parsed once (fast_path.py).

The fast path passes an agent's JSON-RPC answer on without turning it into models, so masking and
cutting happen on what `orjson.loads` returned, in either version's spelling (0.3 `kind` parts,
1.0 member names):
- every `secret_fulfillments` value masked (masking.py's `mask_payload`, the same rule);
- every released value cut, in its forms (forms.py), from every string and every object key;
- raw bytes (1.0 `raw`, 0.3 file `bytes`: base64 in JSON) read as text and cut like cutting.py does;
- what spans pieces a client joins (pieces.py's `cut_across`): the text and raw parts of one message
  or artifact, and the messages and artifacts of a task, in the same rounds as `cut_joins`.
`clean_json` says whether anything changed, so an answer with nothing to mask or cut goes on as the
agent's own bytes. Nesting past MAX_DEPTH is masked whole rather than walked. Given the bytes the
answer was parsed from, it first asks json_scan.py whether they prove the result without the walk
(`walk_json`), which is the common case.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from keybroker.core.bridge.cutting import scrub_text
from keybroker.core.bridge.forms import Cut, fold
from keybroker.core.bridge.json_scan import shortcut
from keybroker.core.bridge.masking import mask_payload
from keybroker.core.bridge.pieces import cut_across
from keybroker.core.bridge.proto_walk import MAX_DEPTH
from keybroker.core.models import MASK

__all__ = ["clean_json", "clean_json_proven", "event_texts", "json_task_states", "walk_json"]

_ROUNDS = 4  # as pieces.cut_joins
_AGENT_ROLES = frozenset({"agent", "ROLE_AGENT"})


class _JsonPiece:
    """One text part (`text`) or raw part (base64 `raw` or 0.3 file `bytes`) of a JSON message, read
    and written as text like pieces.Piece."""

    __slots__ = ("holder", "key", "raw")

    def __init__(self, holder: dict[str, Any], key: str, raw: bool) -> None:
        self.holder = holder
        self.key = key
        self.raw = raw

    @property
    def text(self) -> str:
        value = self.holder[self.key]
        if not self.raw:
            return str(value)
        return _b64_text(value)

    @text.setter
    def text(self, value: str) -> None:
        if self.raw:
            self.holder[self.key] = base64.b64encode(value.encode("utf-8", "surrogateescape")).decode("ascii")
        else:
            self.holder[self.key] = value


def _b64_text(value: object) -> str:
    if not isinstance(value, str):
        return ""
    try:
        data = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return value  # not base64: read as the text it is (the string cut covered it already)
    return data.decode("utf-8", "surrogateescape")


def _part_pieces(parts: object) -> list[_JsonPiece]:
    found: list[_JsonPiece] = []
    if not isinstance(parts, list):
        return found
    for part in parts:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            found.append(_JsonPiece(part, "text", raw=False))
        elif isinstance(part.get("raw"), str):
            found.append(_JsonPiece(part, "raw", raw=True))
        elif isinstance(file := part.get("file"), dict) and isinstance(file.get("bytes"), str):
            found.append(_JsonPiece(file, "bytes", raw=True))
    return found


def _is_task(data: dict[str, Any]) -> bool:
    return isinstance(data.get("status"), dict) and isinstance(data.get("id"), str) and "contextId" in data


def _task_joins(task: dict[str, Any]) -> list[list[_JsonPiece]]:
    """pieces.task_joins on a JSON task."""
    history = task.get("history")
    messages = [m for m in history if isinstance(m, dict)] if isinstance(history, list) else []
    status_message = task["status"].get("message")
    if isinstance(status_message, dict):
        messages.append(status_message)
    artifacts = task.get("artifacts")
    everything = [p for m in messages for p in _part_pieces(m.get("parts"))]
    if isinstance(artifacts, list):
        everything += [p for a in artifacts if isinstance(a, dict) for p in _part_pieces(a.get("parts"))]
    agent = [p for m in messages if m.get("role") in _AGENT_ROLES for p in _part_pieces(m.get("parts"))]
    return [everything, agent]


class _Walk:
    """One pass over the data: strings and keys cut (or, `look_only`, listed), raw parts cut, joins
    collected."""

    def __init__(self, cut: Cut, *, look_only: bool = False) -> None:
        self.cut = cut
        self.look_only = look_only
        self.seen: list[str] = []
        self.changed = False
        self.joins: list[list[_JsonPiece]] = []

    def text(self, value: str) -> str:
        if self.look_only:
            self.seen.append(value)
            return value
        if not self.cut:
            return value
        new = scrub_text(value, self.cut)
        if new != value:
            self.changed = True
        return new

    def node(self, data: Any, depth: int) -> Any:
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, list):
            if depth > MAX_DEPTH:
                self.changed = True
                return MASK
            for i, item in enumerate(data):
                new = self.node(item, depth + 1)
                if new is not item:
                    data[i] = new
            return data
        if isinstance(data, dict):
            if depth > MAX_DEPTH:
                self.changed = True
                return MASK
            return self.mapping(data, depth)
        return data

    def mapping(self, data: dict[str, Any], depth: int) -> dict[str, Any]:
        renamed = False
        out: dict[str, Any] = {}
        for key, value in data.items():
            new_key = self.text(key) if isinstance(key, str) else key
            if new_key != key:
                renamed = True
                target, n = new_key, 1
                while target in out or (target != key and target in data):
                    n += 1
                    target = f"{new_key}#{n}"
                new_key = target
            out[new_key] = self.node(value, depth + 1)
        if renamed:
            data.clear()
            data.update(out)
        else:
            for key, value in out.items():
                if value is not data[key]:
                    data[key] = value
        self._raw(data)
        if isinstance(data.get("parts"), list):
            self.joins.append(_part_pieces(data["parts"]))
        if _is_task(data):
            self.joins.extend(_task_joins(data))
        return data

    def _raw(self, data: dict[str, Any]) -> None:
        """Raw bytes are base64 in JSON: cut them as the text a client decodes."""
        for key in ("raw", "bytes"):
            value = data.get(key)
            if not isinstance(value, str) or not self.cut:
                continue
            piece = _JsonPiece(data, key, raw=True)
            text = piece.text
            if self.cut.occurs_in(fold(text)):
                piece.text = scrub_text(text, self.cut)
                self.changed = True


def clean_json(data: Any, cut: Cut, source: bytes | None = None) -> tuple[Any, bool]:
    """`data` with every fulfilment masked and every text of `cut` cut (module docstring), and
    whether anything changed. May change `data` in place (the caller parsed it and owns it).

    `source`: the bytes `data` was parsed from, when the caller has them: json_scan.py's `shortcut`
    then gives the result without walking `data` whenever those bytes prove it (the same result as
    `walk_json`'s, which runs otherwise)."""
    cleaned, changed, _ = clean_json_proven(data, cut, source)
    return cleaned, changed


def clean_json_proven(data: Any, cut: Cut, source: bytes | None = None) -> tuple[Any, bool, bool]:
    """`clean_json`, and whether its bytes proved the answer clear (json_scan.py's `shortcut` gave it).

    Proven clear, the cleaned answer holds no text of `cut` in any string, key or join of its text
    parts, has no raw part, and none of its text parts ends in a proper start of a text of `cut`
    (json_scan.py's steps 2-4): what stream_events.py's `passes` asks of an event, answered already."""
    if source is not None:
        known = shortcut(source, data, cut)
        if known is not None:
            return known[0], known[1], True
    cleaned, changed = walk_json(data, cut)
    return cleaned, changed, False


def walk_json(data: Any, cut: Cut) -> tuple[Any, bool]:
    """`clean_json` by walking `data`: masked (masking.py), then every string, key and join looked at.

    Every string and key is first only looked at, all of them joined in one text: each is in it, so
    when no text of `cut` is, none holds one and the second walk, which cuts them one by one, is
    skipped (the common case: an agent that echoes nothing it was given)."""
    masked = mask_payload(data)
    walk = _Walk(cut, look_only=True)
    out = walk.node(masked, 0)
    changed = walk.changed or masked is not data
    if cut and walk.seen and cut.occurs_in(fold("\x00".join(walk.seen))):
        walk = _Walk(cut)
        out = walk.node(out, 0)
        changed |= walk.changed
    if cut:
        joins = [j for j in walk.joins if j]
        for _ in range(_ROUNDS):
            if not any([cut_across(join, cut) for join in joins]):
                break
            changed = True
    return out, changed


def json_task_states(result: object) -> list[tuple[str, str, str]]:
    """(task id, context id, state) of the task or message a send's JSON result holds, either version;
    state "" for a message."""
    if not isinstance(result, dict):
        return []
    inner = result.get("task") or result.get("message") or result
    if not isinstance(inner, dict):
        return []
    if _is_task(inner):
        state = inner["status"].get("state")
        return [(inner["id"], str(inner.get("contextId") or ""), state if isinstance(state, str) else "")]
    task_id = inner.get("taskId")
    if isinstance(task_id, str) and task_id:
        return [(task_id, str(inner.get("contextId") or ""), "")]
    return []


def event_texts(kind: str, event: dict[str, Any]) -> list[str]:
    """The texts of a JSON stream event's text and raw parts, in the order chunks.py's `SplitGuard`
    reads them (its pieces): an artifact update's parts, a status update's message, a message, or
    every message then every artifact of a task. `kind`: task, message, status or artifact."""
    if kind == "task":
        pieces = _task_joins(event)[0] if _is_task(event) else []
    elif kind == "artifact":
        artifact = event.get("artifact")
        pieces = _part_pieces(artifact.get("parts")) if isinstance(artifact, dict) else []
    elif kind == "status":
        status = event.get("status")
        message = status.get("message") if isinstance(status, dict) else None
        pieces = _part_pieces(message.get("parts")) if isinstance(message, dict) else []
    else:
        pieces = _part_pieces(event.get("parts"))
    return [piece.text for piece in pieces]
