# SPDX-License-Identifier: Apache-2.0
"""`spare_source_cache` (ui/startup_memory.py): the import hook gets the same answers, no `linecache`."""

from __future__ import annotations

import builtins
import linecache
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import PySide6  # noqa: F401  (installs the `__feature__` import hook this is about)
import pytest

from keybroker.ui.startup_memory import spare_source_cache


def fake_feature() -> ModuleType:
    feature = ModuleType("fake_feature")
    feature._mod_uses_pyside = lambda module: True  # type: ignore[attr-defined]
    return feature


def module_at(path: Path, text: str | bytes) -> ModuleType:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    module = ModuleType(path.stem)
    module.__file__ = str(path)
    return module


def missing_file(path: Path) -> ModuleType:
    module = ModuleType(path.stem)
    module.__file__ = str(path / "gone.py")
    return module


def scanner() -> Callable[[object], bool]:
    feature = fake_feature()
    assert spare_source_cache(feature) is True
    check: Callable[[object], bool] = feature._mod_uses_pyside
    return check


def test_it_answers_as_pyside_does_and_caches_nothing(tmp_path: Path) -> None:
    check = scanner()
    uses = module_at(tmp_path / "uses_qt.py", "from PySide6.QtCore import QObject\n")
    plain = module_at(tmp_path / "plain.py", "import json\n")
    assert check(uses) is True
    assert check(plain) is False
    assert str(tmp_path / "uses_qt.py") not in linecache.cache
    assert str(tmp_path / "plain.py") not in linecache.cache


def test_a_coding_cookie_is_honoured(tmp_path: Path) -> None:
    text = "# -*- coding: latin-1 -*-\nname = 'caf\xe9'  # PySide6\n".encode("latin-1")
    assert scanner()(module_at(tmp_path / "latin.py", text)) is True


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: ModuleType("builtin_like"),  # no __file__, as sys or a frozen module
        lambda tmp: module_at(tmp / "ext.so", "PySide6"),  # an extension module: no source
        missing_file,  # __file__ names a file that is not there
        lambda tmp: module_at(tmp / "broken.py", b"\xff\xfe PySide6 \xff"),  # not UTF-8
    ],
    ids=["no file", "extension", "missing file", "undecodable"],
)
def test_modules_without_readable_source_do_not_use_pyside(
    tmp_path: Path, make: Callable[[Path], ModuleType]
) -> None:
    assert scanner()(make(tmp_path)) is False


def test_without_the_hook_nothing_changes() -> None:
    assert spare_source_cache(ModuleType("no_hook_here")) is False


def test_the_real_hook_keeps_no_source_of_imported_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feature = sys.modules.get("shibokensupport.feature")
    if feature is None:  # pragma: no cover - PySide6 moved it; the app then changes nothing either
        pytest.skip("this PySide6 has no shibokensupport.feature")
    # Restored after the test: the session keeps PySide6's own function.
    monkeypatch.setattr(feature, "_mod_uses_pyside", feature._mod_uses_pyside)
    assert spare_source_cache() is True
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "kb_scan_uses_qt.py").write_text("from PySide6 import QtCore\n", encoding="utf-8")
    (tmp_path / "kb_scan_plain.py").write_text("VALUE = 1\n", encoding="utf-8")
    for name in ("kb_scan_uses_qt", "kb_scan_plain"):
        monkeypatch.delitem(sys.modules, name, raising=False)
        builtins.__import__(name)  # the hook sits on __import__ (importlib.import_module skips it)
    decided = feature.pyside_feature_dict
    assert decided["kb_scan_uses_qt"] == 0  # "uses PySide": switches with its features
    assert decided["kb_scan_plain"] == -1  # "ignore this module"
    assert not [f for f in linecache.cache if f.startswith(str(tmp_path))]
    for name in ("kb_scan_uses_qt", "kb_scan_plain"):
        sys.modules.pop(name, None)
        decided.pop(name, None)
