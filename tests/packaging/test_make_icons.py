# SPDX-License-Identifier: Apache-2.0
"""packaging/make_icons.py: the Windows .ico and macOS .icns, read back field by field."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.packaging.support import REPO_ROOT, load

M = load("make_icons")
ICONS = REPO_ROOT / "resources" / "icons"


def test_ico_holds_every_size_as_png(tmp_path: Path) -> None:
    ico_path, _ = M.write_icons(ICONS, tmp_path)
    data = ico_path.read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, len(M.ICO_SIZES))
    sizes = []
    for n in range(count):
        w, h, colours, _, planes, bpp, length, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * n : 22 + 16 * n]
        )
        image = data[offset : offset + length]
        side = w or 256
        assert (w, h, colours, planes, bpp) == (w, w, 0, 1, 32)
        assert M.png_size(image) == (side, side)
        sizes.append(side)
    assert sizes == sorted(M.ICO_SIZES)
    assert offset + length == len(data)


def test_icns_holds_one_png_element_per_type(tmp_path: Path) -> None:
    _, icns_path = M.write_icons(ICONS, tmp_path)
    data = icns_path.read_bytes()
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    found = {}
    pos = 8
    while pos < len(data):
        kind, length = data[pos : pos + 4].decode(), struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        found[kind] = M.png_size(data[pos + 8 : pos + length])
        pos += length
    assert pos == len(data)
    assert found == {kind: (size, size) for kind, size in M.ICNS_TYPES}


def test_a_png_of_the_wrong_size_or_not_a_png_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        M.png_size(b"GIF89a" + bytes(40))
    apps = tmp_path / "hicolor" / "16x16" / "apps"
    apps.mkdir(parents=True)
    (apps / M.ICON_NAME).write_bytes((ICONS / "hicolor" / "32x32" / "apps" / M.ICON_NAME).read_bytes())
    with pytest.raises(ValueError, match="not 16x16"):
        M.hicolor_png(tmp_path, 16)


def test_the_command_writes_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert M.main([str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "out" / "keybroker.ico"), str(tmp_path / "out" / "keybroker.icns")]
