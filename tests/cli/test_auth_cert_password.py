"""`auth cert --password-stdin` through a running instance: the PKCS#12 password travels as JSON text,
so one that is not UTF-8 is refused with a clear error, never altered into another password."""

from __future__ import annotations

import pytest

from keybroker.cli.auth_cmd import _utf8_password
from keybroker.core.errors import InvalidInputError


def test_a_utf8_password_goes_as_it_is() -> None:
    assert _utf8_password("pässwörd".encode()) == "pässwörd"
    assert _utf8_password(None) is None


def test_a_password_that_is_not_utf8_is_refused_not_replaced() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _utf8_password(b"caf\xe9-latin1")
    assert "not UTF-8" in str(caught.value)
    assert "caf" not in str(caught.value)
