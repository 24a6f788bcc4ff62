# SPDX-License-Identifier: Apache-2.0
"""The layering of docs/architecture.md holds: read every import of every module (lazy ones and
`TYPE_CHECKING` ones included) and refuse the ones that cross a layer the wrong way.

Rooms: the *domain* (`keybroker.core` minus `a2a`, `auth`, `bridge` and `api`), the *wire* (`core.a2a`,
`core.auth`), the *bridge*, the management *api*, *system* (OS glue), *wiring* (opens and assembles
everything), *ui*, *cli* and the entry points (`app`, `app_launcher`, `__main__`, `bundle`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import keybroker

PACKAGE = Path(keybroker.__file__).parent
ENTRY = ("app", "app_launcher", "__main__")
WIRE = ("core.a2a", "core.auth")
QT = ("PySide6", "qasync", "shiboken6")

#: room -> rooms (dotted prefixes under `keybroker.`) it must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "domain": (*WIRE, "core.bridge", "core.api", "ui", "cli", "system", "wiring", *ENTRY),
    "wire": ("core.bridge", "core.api", "ui", "cli", "wiring", *ENTRY),
    # The bridge reaches the broker only through its ports (core/bridge/ports.py), and the stores
    # not at all.
    "bridge": (
        "core.api",
        "ui",
        "cli",
        "wiring",
        *ENTRY,
        "core.broker",
        "core.catalog",
        "core.vault",
        "core.secrets",
        "core.audit",
        "core.llm",  # model access too, through ports.py's ModelSource (issue 14)
    ),
    "api": ("core.bridge", "ui", "cli", *ENTRY),
    "system": (*WIRE, "core.bridge", "core.api", "ui", "cli", "wiring", *ENTRY),
    "wiring": ("ui", "cli", *ENTRY),
    # The UI talks to the core through the runtime's facade (ui/settings/context.py's `AppFacade`,
    # core/admin/), never to the wire, the bridge or the API, nor to the stores the wiring opened.
    "ui": (*WIRE, "core.bridge", "core.api", "cli", "wiring.services"),
}

#: Rooms that never import Qt (the app's own code does, in `ui/` and `app.py`).
NO_QT = ("domain", "wire", "bridge", "api", "system", "wiring", "cli")


def room(module: str) -> str:
    """The room of `keybroker.<module>` (module given without the `keybroker.` prefix)."""
    parts = module.split(".")
    if parts[0] == "core":
        sub = parts[1] if len(parts) > 1 else ""
        if f"core.{sub}" in WIRE:
            return "wire"
        return {"bridge": "bridge", "api": "api"}.get(sub, "domain")
    return {"system": "system", "wiring": "wiring", "ui": "ui", "cli": "cli"}.get(parts[0], "entry")


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        yield ".".join(parts), path


def imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in `path`, relative ones resolved."""
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(["keybroker", *up, base] if base else ["keybroker", *up])
            yield node.lineno, base
            for alias in node.names:  # `from keybroker.core import bridge` imports a module too
                yield node.lineno, f"{base}.{alias.name}"


def crossings() -> list[str]:
    found = []
    for module, path in modules():
        here = room(module)
        banned = FORBIDDEN.get(here, ())
        for line, target in imports(path, module):
            if here in NO_QT and target.split(".")[0] in QT:
                found.append(f"{module}:{line} ({here}) imports {target}")
            if not target.startswith("keybroker."):
                continue
            inner = target.removeprefix("keybroker.")
            for prefix in banned:
                if inner == prefix or inner.startswith(prefix + "."):
                    found.append(f"{module}:{line} ({here}) imports {target}")
    return sorted(set(found))


def test_no_import_crosses_a_layer_the_wrong_way() -> None:
    assert crossings() == []


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("core.models", "domain"),
        ("core.broker.broker", "domain"),
        ("core.a2a.card", "wire"),
        ("core.bridge.handler", "bridge"),
        ("core.api.app", "api"),
        ("system.paths", "system"),
        ("wiring.runtime", "wiring"),
        ("ui.tray", "ui"),
        ("cli.main", "cli"),
        ("app", "entry"),
    ],
)
def test_rooms_are_named_by_package(module: str, expected: str) -> None:
    assert room(module) == expected


def test_the_reader_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    # A rule that cannot see a lazy import would pass while the layering is broken.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from keybroker.core.bridge.app import BridgeApp\n"
        "def f():\n"
        "    import keybroker.ui.tray\n"
        "    from keybroker.core import api\n"
    )
    seen = {target for _, target in imports(sample, "core.sample")}
    assert {"keybroker.core.bridge.app", "keybroker.ui.tray", "keybroker.core.api"} <= seen
