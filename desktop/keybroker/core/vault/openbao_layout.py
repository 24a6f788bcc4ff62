# SPDX-License-Identifier: Apache-2.0
"""Where each vault entry lives in OpenBao's KV v2 engine, and back.

Under the mount (`secret` by default), one KV secret per entry, its value in the field `value`:

- `<prefix>/<install>/<secret_id>`: a Keybroker secret's value (service `keybroker`), beside this
  install's own entries (`keybroker.api-token`, `keybroker.audit-head`). The prefix is the user's
  (`keybroker/<user>`), so an OpenBao policy on that path is a policy on that person's values; each
  install (a laptop's data home) has its own folder under it, because the catalog that names the
  values is the install's: one laptop's `purge` or leftover search never touches another's values;
- `<prefix>/_service/<service>/<account>`: entries of any other service (tests use their own);
- `<teams_path>/<team>/<KEY>`: a team's secret, named by its key, read-only for Keybroker.

Account names are kept readable: letters, digits, `.`, `-`, `_` stay; any other character (and a leading
`_` or `.`) becomes `~` and the hex of its UTF-8 bytes, so `/`, spaces or newlines in a name never make
a folder or a path OpenBao refuses. Team keys are used as OpenBao lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from keybroker import VAULT_SERVICE
from keybroker.core.vault.backend import TeamEntry, parse_team_account

_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_")
SERVICE_FOLDER = "_service"


def escape(name: str) -> str:
    """One path segment for `name` (see the module docstring); never empty, never `.` or `..`."""
    out = []
    for index, ch in enumerate(name):
        if ch in _PLAIN and not (index == 0 and ch in "._"):
            out.append(ch)
        else:
            out.append("".join(f"~{b:02x}" for b in ch.encode("utf-8")))
    return "".join(out) or "~"


def unescape(segment: str) -> str:
    """The name `escape` made `segment` from."""
    if segment == "~":
        return ""
    data = bytearray()
    i = 0
    while i < len(segment):
        if segment[i] == "~" and _is_hex(segment[i + 1 : i + 3]):
            data.append(int(segment[i + 1 : i + 3], 16))
            i += 3
        else:
            data.extend(segment[i].encode("utf-8"))
            i += 1
    return data.decode("utf-8", "replace")


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdef" for c in text)


@dataclass(frozen=True, slots=True)
class KvPath:
    """An entry's path under the mount, and whether Keybroker may write it."""

    path: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths of one configuration (mount, prefix, install, teams)."""

    mount: str
    prefix: str
    install: str
    teams_path: str
    teams: tuple[str, ...] = ()

    def entry(self, service: str, account: str) -> KvPath:
        """Where `service`/`account` lives."""
        team = parse_team_account(account) if service == VAULT_SERVICE else None
        if team is not None:
            return KvPath(f"{self.teams_path}/{team.team}/{team.key}", read_only=True)
        return KvPath(f"{self.folder(service)}/{escape(account)}")

    def folder(self, service: str) -> str:
        """The folder holding `service`'s entries: this install's own for Keybroker's service."""
        if service != VAULT_SERVICE:
            return f"{self.prefix}/{SERVICE_FOLDER}/{escape(service)}"
        return f"{self.prefix}/{self.install}"

    def team_folder(self, team: str) -> str:
        """Where `team`'s secrets are."""
        return f"{self.teams_path}/{team}"

    def data_url(self, path: str, version: int | None = None) -> str:
        """`/v1/<mount>/data/<path>` (a given version of it)."""
        url = f"/v1/{self.mount}/data/{quote(path, safe='/')}"
        return f"{url}?version={version}" if version is not None else url

    def metadata_url(self, path: str, *, folder: bool = False) -> str:
        """`/v1/<mount>/metadata/<path>` (with a trailing slash to list a folder)."""
        return f"/v1/{self.mount}/metadata/{quote(path, safe='/')}" + ("/" if folder else "")

    @staticmethod
    def accounts_in(names: list[str]) -> list[str]:
        """The accounts a listing of a service's folder found (sub-folders are not entries)."""
        return sorted({unescape(n) for n in names if not n.endswith("/")})

    def team_entries(self, team: str, names: list[str]) -> list[TeamEntry]:
        """The secrets directly under a team's folder (sub-folders are not Keybroker's)."""
        return [TeamEntry(team, name) for name in sorted(names) if name and not name.endswith("/")]
