#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Linux leg of a release (.github/workflows/release.yml): the .deb, smoke-tested on a real X display.
#
#   1. the system packages (scripts/system-deps.sh) and `make package`: the PyInstaller bundle from
#      packaging/keybroker.spec and dist/keybroker_<version>_<arch>.deb (scripts/package.sh, which
#      already runs the bundle's --self-test with no display);
#   2. the bundle's `--self-test` under Xvfb inside a private Secret Service session: it must open Qt's
#      xcb platform (what a desktop user gets), not fall back to offscreen;
#   3. with KEYBROKER_RELEASE_INSTALL=1 (the workflow sets it: its container is thrown away), the .deb is
#      installed with apt (so its Depends are resolved as a user's apt would), /usr/bin/keybroker
#      --self-test runs the same way, and `dpkg --purge` must leave /opt/keybroker gone. Off by default:
#      on a shared machine, installing the package could collide with `make package-test`.
#
# Prints the .deb's path last. Run by hand from the repository root: bash scripts/release/linux.sh
# Env: FORCE=1 rebuilds an unchanged tree (scripts/package.sh); KEYBROKER_RELEASE_INSTALL.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

die() {
    echo "release-linux: error: $*" >&2
    exit 1
}

if ((EUID == 0)); then
    as_root=()
else
    as_root=(sudo -n)
fi

# --self-test of PROGRAM on a throw-away X display (Xvfb) with a real, private vault; it must say Qt
# opened xcb. The output is kept in the job log: it names the vault backend and Qt version shipped.
self_test_on_x11() {
    local program="$1" out home rc=0
    home="$(mktemp -d)"
    out="$(
        env -u KEYBROKER_VAULT KEYBROKER_HOME="$home" bash scripts/secret-service-session.sh \
            xvfb-run --auto-servernum --server-args="-screen 0 1280x800x24" "$program" --self-test 2>&1
    )" || rc=$?
    rm -rf "$home"
    # dbus-daemon's complaint about its fd limit in a container is noise (scripts/package.sh drops it too).
    printf '%s\n' "$out" | grep -v 'Failed to set fd limit' | sed 's/^/    /'
    ((rc == 0)) || die "$program --self-test exited $rc"
    grep -q '^qt: xcb ' <<<"$out" || die "$program --self-test did not open Qt's xcb platform on Xvfb"
    grep -q '^self-test passed$' <<<"$out" || die "$program --self-test did not say it passed"
}

echo "release-linux: system packages"
bash scripts/system-deps.sh

echo "release-linux: make package"
make package
deb="$(cat build/package/deb-path)"
[[ -f "$deb" ]] || die "make package named $deb, which does not exist"

echo "release-linux: the bundle's --self-test on Xvfb"
self_test_on_x11 "$repo_root/build/pyinstaller/dist/keybroker/keybroker"

if [[ "${KEYBROKER_RELEASE_INSTALL:-0}" == 1 ]]; then
    echo "release-linux: apt install $deb, then the installed program's --self-test on Xvfb"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "$repo_root/$deb"
    self_test_on_x11 /usr/bin/keybroker
    "${as_root[@]}" dpkg --purge keybroker
    [[ ! -e /opt/keybroker && ! -e /usr/bin/keybroker ]] || die "dpkg --purge left /opt/keybroker behind"
fi

sha256sum "$deb"
echo "release-linux: $deb"
