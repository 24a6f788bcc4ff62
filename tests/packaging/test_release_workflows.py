# SPDX-License-Identifier: Apache-2.0
"""The CI and release workflows (.github/workflows): actionlint, pinned actions, least privilege, and that
the release matrix, the spec, the release scripts, the Inno Setup script and the Makefile name the same
things, so a renamed file breaks this test rather than a release. Nothing here needs a hosted runner;
what only one can show is listed in packaging/README.md."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging import release_checks as rc
from tests.packaging.support import REPO_ROOT, load

S = load("spec_settings")
REPO = rc.Repo(REPO_ROOT)
#: The one job that may write: it creates the draft release.
WRITERS = {f"{rc.RELEASE_WORKFLOW}:publish": {"contents": "write"}}
SPEC_PLATFORMS = {S.platform_family(p) for p in ("linux", "darwin", "win32")}


def actionlint() -> str:
    """The actionlint the test extra installs (next to this Python), else one on PATH."""
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed: scripts/venv.sh .venv test installs it (pyproject.toml)")
    return found


def test_actionlint_finds_nothing() -> None:
    result = subprocess.run(
        [actionlint(), "-no-color", *rc.WORKFLOWS], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_really_checking(tmp_path: Path) -> None:
    """A runner label that does not exist must be reported (guards against a linter that checks nothing)."""
    workflow = tmp_path / "broken.yml"
    workflow.write_text(
        REPO.text(rc.RELEASE_WORKFLOW).replace("runner: macos-15-intel", "runner: macos-12-x")
    )
    result = subprocess.run(
        [actionlint(), "-no-color", str(workflow)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "macos-12-x" in result.stdout


def test_every_action_is_pinned_by_commit_hash() -> None:
    assert rc.pin_problems(REPO) == []


def test_jobs_have_least_privilege() -> None:
    assert rc.permission_problems(REPO, WRITERS) == []


def test_ci_runs_exactly_what_ci_run_runs() -> None:
    steps = REPO.yaml(rc.CI_WORKFLOW)["jobs"]["test"]["steps"]
    assert [s["run"] for s in steps if s.get("run", "").strip() == ".ci/run"] == [".ci/run"]
    assert "exec make test" in REPO.text(".ci/run")
    assert (REPO_ROOT / ".ci" / "run").stat().st_mode & 0o111, ".ci/run must be executable"
    assert "test" in rc.makefile_targets(REPO.text("Makefile"))


def test_release_runs_on_version_tags_and_publishes_only_from_them() -> None:
    workflow = REPO.yaml(rc.RELEASE_WORKFLOW)
    on = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert on["push"] == {"tags": ["v[0-9]*"]} and "workflow_dispatch" in on
    publish = workflow["jobs"]["publish"]
    assert publish["if"] == "github.ref_type == 'tag'" and set(publish["needs"]) == {"version", "build"}


def test_the_matrix_covers_every_platform_the_spec_builds() -> None:
    assert rc.platform_problems(rc.release_legs(REPO), SPEC_PLATFORMS) == []


def test_every_named_file_and_make_target_exists() -> None:
    assert rc.reference_problems(REPO, rc.release_legs(REPO)) == []


def test_the_makefile_runs_the_linux_leg() -> None:
    assert rc.makefile_problems(REPO, rc.release_legs(REPO)) == []
    assert rc.makefile_recipe(REPO.text("Makefile"), "release-linux") == "\t@bash scripts/release/linux.sh\n"


def test_each_artifact_glob_matches_what_its_producer_writes() -> None:
    legs = rc.release_legs(REPO)
    assert rc.artifact_problems(REPO, legs) == []
    produced = sorted(str(rc.produced_artifact(REPO, leg)) for leg in legs)
    assert produced == [
        "dist/Keybroker-1.2.3-arm64.dmg",
        "dist/Keybroker-1.2.3-setup.exe",
        "dist/Keybroker-1.2.3-x86_64.dmg",
        "dist/keybroker_1.2.3_amd64.deb",
    ]


def test_scripts_run_the_programs_the_spec_builds() -> None:
    assert rc.program_problems(REPO, S) == []


# The checks above must be able to fail: the same checks on edited copies ------------------------------


def edited(path: str, old: str, new: str) -> rc.Repo:
    """The repository with one edit to one file."""
    text = REPO.text(path)
    assert old in text, f"{old!r} is not in {path}: update this test"
    return rc.Repo(REPO_ROOT, {path: text.replace(old, new)})


def test_a_renamed_release_script_is_reported() -> None:
    repo = rc.Repo(REPO_ROOT, {"scripts/release/macos.sh": None})
    assert any(
        "scripts/release/macos.sh does not exist" in p
        for p in rc.reference_problems(repo, rc.release_legs(repo))
    )


def test_a_renamed_spec_is_reported() -> None:
    repo = rc.Repo(REPO_ROOT, {"packaging/keybroker.spec": None})
    problems = rc.reference_problems(repo, rc.release_legs(repo))
    assert any("names packaging/keybroker.spec" in p for p in problems)
    assert any("names packaging\\keybroker.spec" in p for p in problems)  # windows.ps1


def test_a_renamed_make_target_is_reported() -> None:
    repo = edited("Makefile", "\npackage:\n", "\nbuild-deb:\n")
    problems = rc.reference_problems(repo, rc.release_legs(repo))
    assert "scripts/release/linux.sh runs `make package`, which the Makefile does not define" in problems


def test_a_leg_script_the_makefile_does_not_run_is_reported() -> None:
    legs = rc.release_legs(REPO)
    for leg in legs:
        if leg["platform"] == "linux":
            leg["script"] = "scripts/release/debian.sh"
    assert rc.makefile_problems(REPO, legs) == [
        "make release-linux does not run scripts/release/debian.sh, the linux-amd64 leg"
    ]
    repo = edited("Makefile", "\nrelease-linux:\n", "\nrelease-deb:\n")
    assert rc.makefile_problems(repo, rc.release_legs(repo)) == [
        "the Makefile has no release-linux target for the linux-amd64 leg"
    ]


def test_a_renamed_installer_output_is_reported() -> None:
    repo = edited(
        "packaging/windows/keybroker.iss", "OutputBaseFilename=Keybroker-", "OutputBaseFilename=keybroker-"
    )
    assert any(
        "windows-x64: the producer writes" in p for p in rc.artifact_problems(repo, rc.release_legs(repo))
    )


def test_a_renamed_deb_is_reported() -> None:
    repo = edited(
        "scripts/package.sh",
        'deb="dist/keybroker_${version}_${arch}.deb"',
        'deb="dist/keybroker-${version}.deb"',
    )
    assert any(
        "linux-amd64: the producer writes" in p for p in rc.artifact_problems(repo, rc.release_legs(repo))
    )


def test_a_dropped_leg_is_reported() -> None:
    legs = [leg for leg in rc.release_legs(REPO) if leg["target"] != "macos-x86_64"]
    assert rc.platform_problems(legs, SPEC_PLATFORMS) == ["macOS legs build ['arm64'], want arm64 and x86_64"]
    legs = [leg for leg in legs if leg["platform"] != "win32"]
    assert any(
        "the matrix builds ['darwin', 'linux']" in p for p in rc.platform_problems(legs, SPEC_PLATFORMS)
    )


def test_a_renamed_program_is_reported() -> None:
    repo = edited(
        "scripts/release/windows.ps1", "$CliProgram = 'keybroker-cli.exe'", "$CliProgram = 'kb.exe'"
    )
    assert any("$CliProgram = 'keybroker-cli.exe'" in p for p in rc.program_problems(repo, S))


def test_an_action_pinned_by_tag_is_reported() -> None:
    repo = edited(rc.CI_WORKFLOW, "checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "checkout@v7")
    [problem] = rc.pin_problems(repo)
    assert (
        problem.startswith(f"{rc.CI_WORKFLOW}:")
        and "actions/checkout is not pinned by a commit hash" in problem
    )


def test_a_build_job_that_may_write_is_reported() -> None:
    text = REPO.text(rc.RELEASE_WORKFLOW)
    build = text.index("  build:\n")
    repo = rc.Repo(
        REPO_ROOT,
        {rc.RELEASE_WORKFLOW: text[:build] + text[build:].replace("contents: read", "contents: write", 1)},
    )
    assert rc.permission_problems(repo, WRITERS) == [
        f"{rc.RELEASE_WORKFLOW}: job build has permissions {{'contents': 'write'}}, "
        "want {'contents': 'read'}"
    ]
