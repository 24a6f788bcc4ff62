# SPDX-License-Identifier: Apache-2.0
"""The version a release builds, and whether a tag may release it (.github/workflows/release.yml).

    python3 scripts/release/version.py                  # prints keybroker.__version__, e.g. 0.1.0
    python3 scripts/release/version.py --check-tag v0.1.0

Reads the source text rather than importing keybroker, so it runs with any Python 3.11 before anything is
installed (the release workflow calls it first, on a bare runner). `--check-tag` fails when the tag is
not `v<version>` or when the newest packaging/debian/changelog entry names another version: the .deb's
manual page is dated from that entry, and a tag that disagrees with the code would publish files whose
names and `--version` say something else.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INIT = REPO_ROOT / "desktop" / "keybroker" / "__init__.py"
CHANGELOG = REPO_ROOT / "packaging" / "debian" / "changelog"


def source_version(init: Path = INIT) -> str:
    """`__version__` as assigned in keybroker/__init__.py."""
    for node in ast.parse(init.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise SystemExit(f"version: no __version__ = '...' in {init}")


def changelog_version(changelog: Path = CHANGELOG) -> str:
    """The version of the newest Debian changelog entry (`keybroker (X.Y.Z) unstable; ...`)."""
    match = re.match(r"\S+ \(([^)]+)\)", changelog.read_text())
    if match is None:
        raise SystemExit(f"version: {changelog} does not start with a 'package (version)' line")
    return match.group(1)


def tag_problems(tag: str, version: str, changelog: str) -> list[str]:
    """Why `tag` may not release this tree (empty: it may)."""
    problems = []
    if tag != f"v{version}":
        problems.append(f"tag {tag!r} is not 'v{version}' (keybroker.__version__ is {version!r})")
    if changelog != version:
        problems.append(
            f"the newest packaging/debian/changelog entry is {changelog!r}, not {version!r}: "
            f"add one (dch -v {version})"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print the version, or check a tag against it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-tag", metavar="TAG", help="exit 1 unless TAG releases this tree")
    args = parser.parse_args(argv)
    version = source_version()
    if args.check_tag is not None:
        problems = tag_problems(args.check_tag, version, changelog_version())
        for problem in problems:
            print(f"version: error: {problem}", file=sys.stderr)
        if problems:
            return 1
    print(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
