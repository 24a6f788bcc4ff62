# SPDX-License-Identifier: Apache-2.0
"""SecretValue: the one way out is `reveal()`; every other way to turn it into text or bytes is closed."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

from keybroker.core.models import MASK, SecretValue

CANARY = "sk-CANARY-model-41d0"


def test_text_forms_are_masked() -> None:
    value = SecretValue(CANARY)
    percent = "%s" % value  # noqa: UP031 - the old operator is a way out too
    for text in (repr(value), str(value), f"{value}", f"{value!r}", percent, format(value, ">40")):
        assert CANARY not in text and MASK in text
    assert value.reveal() == CANARY and len(value) == len(CANARY)


@pytest.mark.parametrize(
    "escape",
    [
        pickle.dumps,
        copy.copy,
        copy.deepcopy,
        lambda v: v.__getstate__(),
        lambda v: v.__reduce_ex__(2),
    ],
)
def test_no_state_escapes(escape: Any) -> None:
    with pytest.raises(TypeError):
        escape(SecretValue(CANARY))


def test_a_dataclass_holding_one_cannot_be_copied_out() -> None:
    @dataclasses.dataclass
    class Holder:
        value: SecretValue

    with pytest.raises(TypeError):
        dataclasses.asdict(Holder(SecretValue(CANARY)))


def test_equality_without_hashing() -> None:
    assert SecretValue(CANARY) == SecretValue(CANARY)
    assert SecretValue(CANARY) != SecretValue(CANARY + "x")
    with pytest.raises(TypeError):
        hash(SecretValue(CANARY))
