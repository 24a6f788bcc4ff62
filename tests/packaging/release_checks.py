# SPDX-License-Identifier: Apache-2.0
"""Checks on .github/workflows and scripts/release that a hosted runner would only show on release day.

Each check returns a list of problems (empty: fine) and reads files through `Repo`, so a test can hand it
a renamed script or an edited matrix and see it complain (tests/packaging/test_release_workflows.py).
What ties the pieces together: the release matrix names, per leg, a `platform` (a family of
packaging/spec_settings.py), a `script` and an `artifact` glob; the scripts name the spec, the Inno Setup
script, Makefile targets and the programs the spec builds; the producers (scripts/package.sh,
scripts/release/macos.sh, packaging/windows/keybroker.iss) decide the file names the globs must match.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml

RELEASE_WORKFLOW = ".github/workflows/release.yml"
CI_WORKFLOW = ".github/workflows/ci.yml"
WORKFLOWS = (CI_WORKFLOW, RELEASE_WORKFLOW)
RELEASE_SCRIPTS = (
    "scripts/release/linux.sh",
    "scripts/release/macos.sh",
    "scripts/release/windows.ps1",
    "scripts/release/publish.sh",
)
#: Where repository paths start; any such path a workflow or release script names must exist.
PATH_RE = re.compile(
    r"(?<![\w./\\$-])((?:\.ci|\.github|desktop|packaging|resources|scripts|tests)[/\\][\w./\\-]*\w)"
)
SHA_PIN_RE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+?)@(\S+)(?:\s+#\s*(\S+))?\s*$")
#: The version the artifact names are worked out for (any will do: it only has to be the same everywhere).
VERSION = "1.2.3"


@dataclass
class Repo:
    """The repository's files as text, with `overrides` (path -> text, or None: the file is gone)."""

    root: Path
    overrides: Mapping[str, str | None] = field(default_factory=dict)

    def exists(self, path: str) -> bool:
        """Whether `path` (relative, `/` or `\\`) is a file or folder here."""
        path = path.replace("\\", "/").rstrip("/")
        if path in self.overrides:
            return self.overrides[path] is not None
        return (self.root / path).exists()

    def text(self, path: str) -> str:
        """The file's text ('' when it is gone)."""
        if path in self.overrides:
            return self.overrides[path] or ""
        file = self.root / path
        return file.read_text() if file.is_file() else ""

    def yaml(self, path: str) -> dict[str, Any]:
        """A workflow, parsed (`on:` is the key True in YAML 1.1; nothing here needs it)."""
        loaded = yaml.safe_load(self.text(path)) or {}
        assert isinstance(loaded, dict), f"{path} is not a YAML mapping"
        return loaded


def release_legs(repo: Repo) -> list[dict[str, str]]:
    """The build matrix's `include` entries."""
    build = repo.yaml(RELEASE_WORKFLOW).get("jobs", {}).get("build", {})
    return list(build.get("strategy", {}).get("matrix", {}).get("include", []))


# Pins and permissions -----------------------------------------------------------------------------


def pin_problems(repo: Repo, workflows: Iterable[str] = WORKFLOWS) -> list[str]:
    """Every `uses:` is an action pinned by a full commit hash, with the tag it was taken from as comment."""
    problems = []
    for path in workflows:
        for number, line in enumerate(repo.text(path).splitlines(), 1):
            if "uses:" not in line.split("#", 1)[0]:
                continue
            match = SHA_PIN_RE.match(line)
            if match is None:
                problems.append(f"{path}:{number}: cannot read this `uses:` line: {line.strip()}")
            elif not re.fullmatch(r"[0-9a-f]{40}", match.group(2)):
                problems.append(f"{path}:{number}: {match.group(1)} is not pinned by a commit hash")
            elif not (match.group(3) or "").startswith("v"):
                problems.append(f"{path}:{number}: {match.group(1)}'s pin has no `# vX.Y.Z` comment")
    return problems


def permission_problems(repo: Repo, writers: Mapping[str, Mapping[str, str]]) -> list[str]:
    """No default token rights; each job asks for `contents: read`, or for exactly what `writers` grants."""
    problems = []
    for path in WORKFLOWS:
        workflow = repo.yaml(path)
        if workflow.get("permissions") != {}:
            problems.append(f"{path}: the workflow's default `permissions` must be {{}}")
        for name, job in workflow.get("jobs", {}).items():
            want = writers.get(f"{path}:{name}", {"contents": "read"})
            if job.get("permissions") != want:
                problems.append(f"{path}: job {name} has permissions {job.get('permissions')}, want {want}")
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("actions/checkout@") and (
                    step.get("with", {}).get("persist-credentials") is not False
                ):
                    problems.append(f"{path}: job {name} checks out with the token left in .git/config")
    return problems


# Names the pieces share ---------------------------------------------------------------------------


def makefile_targets(makefile: str) -> set[str]:
    """The rule names in a Makefile."""
    return set(re.findall(r"^([A-Za-z0-9_-]+):(?!=)", makefile, flags=re.MULTILINE))


def named_make_targets(text: str) -> set[str]:
    """`make X` as a command line, in `run:` blocks or in backticks in comments."""
    return set(re.findall(r"(?:^\s*|`)make ([A-Za-z0-9_-]+)", text, flags=re.MULTILINE))


def reference_problems(repo: Repo, legs: list[dict[str, str]]) -> list[str]:
    """Every file and Makefile target the workflows and release scripts name exists."""
    problems = []
    targets = makefile_targets(repo.text("Makefile"))
    sources = [*WORKFLOWS, *RELEASE_SCRIPTS, "Makefile", *(leg.get("script", "") for leg in legs)]
    for source in dict.fromkeys(s for s in sources if s):
        if not repo.exists(source):
            problems.append(f"{source} does not exist")
            continue
        text = repo.text(source)
        for path in sorted(set(PATH_RE.findall(text))):
            if not repo.exists(path):
                problems.append(f"{source} names {path}, which does not exist")
        for target in sorted(named_make_targets(text) - targets):
            problems.append(f"{source} runs `make {target}`, which the Makefile does not define")
    return problems


def makefile_recipe(makefile: str, target: str) -> str | None:
    """The commands of one Makefile rule (None: no such rule)."""
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n?)*)", makefile, flags=re.MULTILINE)
    return match.group(1) if match else None


def makefile_problems(repo: Repo, legs: list[dict[str, str]]) -> list[str]:
    """A leg the Linux development machines can run has a `make release-<platform>` that runs its script."""
    problems = []
    makefile = repo.text("Makefile")
    for leg in legs:
        if leg.get("platform") != "linux":
            continue
        target = f"release-{leg['platform']}"
        recipe = makefile_recipe(makefile, target)
        if recipe is None:
            problems.append(f"the Makefile has no {target} target for the {leg.get('target')} leg")
        elif leg.get("script", "") not in recipe:
            problems.append(f"make {target} does not run {leg.get('script')}, the {leg.get('target')} leg")
    return problems


def produced_artifact(repo: Repo, leg: Mapping[str, str]) -> str | None:
    """The file a leg's producer writes for VERSION, read from the producer itself (None: cannot tell)."""
    platform, arch = leg.get("platform"), leg.get("arch", "")
    if platform == "linux":
        match = re.search(r'^deb="([^"]+)"', repo.text("scripts/package.sh"), flags=re.MULTILINE)
        return match and match.group(1).replace("${version}", VERSION).replace("${arch}", arch)
    if platform == "darwin":
        match = re.search(r'dmg_path\(\) \{ echo "([^"]+)"', repo.text(leg.get("script", "")))
        return match and match.group(1).replace("$(version)", VERSION).replace("$arch", arch)
    if platform == "win32":
        iss = repo.text("packaging/windows/keybroker.iss")
        out_dir = re.search(r"^OutputDir=(.+)$", iss, flags=re.MULTILINE)
        base = re.search(r"^OutputBaseFilename=(.+)$", iss, flags=re.MULTILINE)
        if out_dir is None or base is None:
            return None
        # OutputDir is relative to the .iss file's folder.
        folder = PurePosixPath(*PureWindowsPath("packaging/windows", out_dir.group(1).strip()).parts)
        parts: list[str] = []
        for part in folder.parts:
            if part == "..":
                parts.pop()
            else:
                parts.append(part)
        name = base.group(1).strip().replace("{#AppVersion}", VERSION)
        return "/".join([*parts, f"{name}.exe"])
    return None


def artifact_problems(repo: Repo, legs: list[dict[str, str]]) -> list[str]:
    """Each leg's `artifact` glob matches the file its producer writes, and publish.sh describes it."""
    problems = []
    described = re.findall(r"^\s+(\*[^)\s]+)\) what=", repo.text("scripts/release/publish.sh"), re.MULTILINE)
    for leg in legs:
        produced = produced_artifact(repo, leg)
        glob = leg.get("artifact", "")
        if produced is None:
            problems.append(f"{leg.get('target')}: cannot tell what file its producer writes")
        elif not fnmatch.fnmatchcase(produced, glob):
            problems.append(f"{leg.get('target')}: the producer writes {produced}, the matrix uploads {glob}")
        elif VERSION not in produced:
            problems.append(f"{leg.get('target')}: {produced} does not carry the version")
        elif not any(fnmatch.fnmatchcase(PurePosixPath(produced).name, p) for p in described):
            problems.append(f"{leg.get('target')}: publish.sh's release notes do not describe {produced}")
    return problems


def platform_problems(legs: list[dict[str, str]], spec_platforms: set[str]) -> list[str]:
    """One leg per platform the spec builds for, and macOS for both of its architectures."""
    problems = []
    platforms = {leg.get("platform", "") for leg in legs}
    if platforms != spec_platforms:
        problems.append(f"the matrix builds {sorted(platforms)}, the spec {sorted(spec_platforms)}")
    mac_arches = sorted(leg.get("arch", "") for leg in legs if leg.get("platform") == "darwin")
    if mac_arches != ["arm64", "x86_64"]:
        problems.append(f"macOS legs build {mac_arches}, want arm64 and x86_64")
    for leg in legs:
        missing = {"target", "runner", "platform", "arch", "script", "artifact"} - set(leg)
        if missing:
            problems.append(f"leg {leg.get('target')} lacks {sorted(missing)}")
    return problems


def program_problems(repo: Repo, spec: Any) -> list[str]:
    """The programs and folders the scripts run are the ones packaging/spec_settings.py has built."""
    problems = []
    mac = spec.settings_for("darwin", VERSION)
    win = spec.settings_for("win32", VERSION)
    linux = spec.settings_for("linux", VERSION)
    wants = {
        "scripts/release/macos.sh": [
            f'app="dist/{mac.app_bundle}"',
            f'program="Contents/MacOS/{mac.main_executable.name}"',
        ],
        "scripts/release/windows.ps1": [
            f"$Bundle = Join-Path $RepoRoot 'dist\\{spec.BUNDLE_NAME}'",
            f"$TrayProgram = '{win.executables[0].name}.exe'",
            f"$CliProgram = '{win.executables[1].name}.exe'",
        ],
        "packaging/windows/keybroker.iss": [
            f'Source: "..\\..\\dist\\{spec.BUNDLE_NAME}\\*"',
            f'Filename: "{{app}}\\{win.main_executable.name}.exe"',
        ],
        "scripts/release/linux.sh": [
            f"build/pyinstaller/dist/{spec.BUNDLE_NAME}/{linux.main_executable.name}",
        ],
        "scripts/package.sh": [f'bundle="$pyi_dist/{spec.BUNDLE_NAME}"'],
    }
    for path, needles in wants.items():
        text = repo.text(path)
        problems += [
            f"{path} lacks {needle!r} (what the spec builds)" for needle in needles if needle not in text
        ]
    return problems
