# SPDX-License-Identifier: Apache-2.0
"""Windows `.ico` and macOS `.icns` app icons, packed from the hicolor PNGs in resources/icons/.

Both formats may hold PNG data as it is (ICO since Windows Vista; ICNS since macOS 10.7), so no image
library is needed and the same script runs on any OS: `python packaging/make_icons.py [OUT_DIR]` writes
`keybroker.ico` and `keybroker.icns` (default OUT_DIR: build/icons). The spec calls it on macOS and
Windows; `iconutil -c icns` from an `.iconset` gives the same `.icns` on a Mac (packaging/README.md).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ICON_NAME = "io.github.keybroker.Keybroker.png"
#: ICO: the sizes Windows asks for (Explorer, taskbar, Start menu, high-DPI).
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
#: ICNS element types that hold a PNG of the given pixel size (Apple's icns type list).
ICNS_TYPES = (("icp4", 16), ("icp5", 32), ("icp6", 64), ("ic07", 128), ("ic08", 256), ("ic09", 512))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; ValueError when `data` is not a PNG."""
    if not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def hicolor_png(icons_dir: Path, size: int) -> bytes:
    """The app icon at `size` pixels, checked to be a square PNG of that size."""
    path = icons_dir / "hicolor" / f"{size}x{size}" / "apps" / ICON_NAME
    data = path.read_bytes()
    if png_size(data) != (size, size):
        raise ValueError(f"{path} is not {size}x{size} pixels")
    return data


def ico(images: dict[int, bytes]) -> bytes:
    """An ICO file holding each PNG as one image (a width or height of 256 is written as 0)."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, payload = b"", b""
    for size, data in sorted(images.items()):
        side = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset + len(payload))
        payload += data
    return header + entries + payload


def icns(images: dict[str, bytes]) -> bytes:
    """An ICNS file with one element per type (each element: type, length including its header, data)."""
    body = b"".join(
        kind.encode("ascii") + struct.pack(">I", 8 + len(data)) + data for kind, data in images.items()
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def write_icons(icons_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """Write keybroker.ico and keybroker.icns into `out_dir`; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ico_path, icns_path = out_dir / "keybroker.ico", out_dir / "keybroker.icns"
    ico_path.write_bytes(ico({size: hicolor_png(icons_dir, size) for size in ICO_SIZES}))
    icns_path.write_bytes(icns({kind: hicolor_png(icons_dir, size) for kind, size in ICNS_TYPES}))
    return ico_path, icns_path


def main(argv: list[str]) -> int:
    """`make_icons.py [OUT_DIR]`."""
    root = Path(__file__).resolve().parent.parent
    out = Path(argv[0]) if argv else root / "build" / "icons"
    for path in write_icons(root / "resources" / "icons", out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
