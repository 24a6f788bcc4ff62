# SPDX-License-Identifier: Apache-2.0
"""Write keybroker(1) from the CLI's own argparse tree, so the manual cannot drift from the program.

    python packaging/make_manpage.py OUT.1

Its date is the newest entry's in packaging/debian/changelog (not today: the same tree writes the same page).

scripts/package.sh installs it gzipped as /usr/share/man/man1/keybroker.1.gz. Sections: NAME, SYNOPSIS,
DESCRIPTION, OPTIONS, COMMANDS (every command and sub-command with its usage, help and options),
EXIT STATUS, ENVIRONMENT, FILES (INTERFACES.md), SEE ALSO.
"""

from __future__ import annotations

import argparse
import email.utils
import sys
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHANGELOG = REPO_ROOT / "packaging" / "debian" / "changelog"
sys.path.insert(0, str(REPO_ROOT / "desktop"))

from keybroker import __version__  # noqa: E402
from keybroker.cli.main import build_parser  # noqa: E402

EXIT_STATUS = (
    ("0", "ok"),
    ("1", "internal error"),
    ("2", "usage error"),
    ("3", "not found (agent, secret, grant)"),
    ("4", "vault unavailable or locked; no display for the tray app"),
    ("5", "denied or timed out"),
    ("6", "bridge or agent unreachable"),
    ("7", "audit chain broken"),
    ("8", "task failed, rejected or canceled"),
)

ENVIRONMENT = (
    ("KEYBROKER_HOME", "keep data, settings, logs and instance.json under this one directory"),
    ("KEYBROKER_PORT", "the bridge port (overrides the setting; 0 picks a free one)"),
    ("KEYBROKER_VAULT", "system (the OS vault, default) or memory (a session-only vault)"),
)

FILES = (
    ("~/.local/share/keybroker/catalog.db", "agents, secret records (never values), grants, the audit log"),
    ("~/.config/keybroker/api-token", "the per-install token of the management API (mode 0600)"),
    ("~/.local/state/keybroker/log/", "logs (no secret values)"),
    ("$XDG_RUNTIME_DIR/keybroker/instance.json", "pid, port and URL of the running instance"),
    (
        "~/.config/autostart/io.github.keybroker.Keybroker.desktop",
        "start at login, written and removed by the settings window",
    ),
)


def esc(text: str) -> str:
    """Text for roff: backslashes and hyphens escaped, no line starting with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def paragraph(text: str | None) -> str:
    return esc(" ".join((text or "").split()))


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(word, one-line help, parser) of each sub-command, in the order the parser lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for word, sub in action.choices.items():
                yield word, helps.get(word, ""), sub


def options(parser: argparse.ArgumentParser) -> list[str]:
    lines: list[str] = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings:
            names = ", ".join(f"\\fB{esc(o)}\\fR" for o in action.option_strings)
            if action.nargs != 0:
                names += f" \\fI{esc(action.metavar or action.dest.upper())}\\fR"
        else:
            names = f"\\fI{esc(str(action.metavar or action.dest))}\\fR"
        lines += [".TP", names, paragraph(action.help if action.help != argparse.SUPPRESS else "")]
    return lines


def usage(parser: argparse.ArgumentParser) -> str:
    text = parser.format_usage().removeprefix("usage: ")
    return esc(" ".join(text.split()))


def command_section(parser: argparse.ArgumentParser, depth: int = 0) -> list[str]:
    lines: list[str] = []
    for word, text, sub in subcommands(parser):
        if depth == 0:
            lines.append(f'.SS "{esc(f"keybroker {word}")}"')
        else:
            lines += [".TP", f"\\fB{esc(sub.prog)}\\fR"]
        lines += [paragraph(text or sub.description), ".br", f"Usage: {usage(sub)}"]
        opts = options(sub)
        if opts:
            lines += [".RS", *opts, ".RE"]
        lines += command_section(sub, depth + 1)
    return lines


def manpage(date: str) -> str:
    parser = build_parser()
    lines = [
        f'.TH KEYBROKER 1 "{date}" "keybroker {__version__}" "User Commands"',
        ".SH NAME",
        "keybroker \\- local secrets broker for AI agents",
        ".SH SYNOPSIS",
        ".B keybroker",
        "[\\fIOPTIONS\\fR] [\\fICOMMAND\\fR ...]",
        ".SH DESCRIPTION",
        paragraph(
            "Keybroker runs a localhost A2A bridge in front of the agents on your machine and keeps the "
            "API keys and tokens they ask for in the OS vault. When an agent demands a secret, Keybroker "
            "asks you who asks, what and why, stores your answer in the vault and fulfils the demand."
        ),
        ".PP",
        paragraph(
            "Without a command, keybroker starts the tray app. Point A2A clients at "
            "http://127.0.0.1:7411/agents/SLUG instead of the agent. Values are read from standard input "
            "or a hidden prompt, never from the command line."
        ),
        ".SH OPTIONS",
        *options(parser),
        ".SH COMMANDS",
        *command_section(parser),
        ".SH EXIT STATUS",
    ]
    for code, text in EXIT_STATUS:
        lines += [".TP", f"\\fB{code}\\fR", esc(text)]
    lines.append(".SH ENVIRONMENT")
    for name, text in ENVIRONMENT:
        lines += [".TP", f"\\fB{name}\\fR", esc(text)]
    lines.append(".SH FILES")
    for path, text in FILES:
        lines += [".TP", f"\\fI{esc(path)}\\fR", esc(text)]
    lines += [".SH SEE ALSO", "The settings window (tray menu, Settings...) and /usr/share/doc/keybroker."]
    return "\n".join(lines) + "\n"


def changelog_top(text: str) -> tuple[str, str]:
    """(version, date as YYYY-MM-DD) of the newest entry of a Debian changelog."""
    version = text.split("(", 1)[1].split(")", 1)[0]
    trailer = next(line for line in text.splitlines() if line.startswith(" -- "))
    when = email.utils.parsedate_to_datetime(trailer.split(">", 1)[1].strip())
    return version, when.date().isoformat()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    version, date = changelog_top(CHANGELOG.read_text())
    if version != __version__:
        print(f"make_manpage: {CHANGELOG} starts at {version}, keybroker is {__version__}", file=sys.stderr)
        return 1
    args.out.write_text(manpage(date))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
