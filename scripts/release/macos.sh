#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The macOS legs of a release (.github/workflows/release.yml), one step per call, in this order:
#
#   bundle         .venv-package, then PyInstaller from packaging/keybroker.spec -> dist/Keybroker.app
#                  (LSUIElement: a menu-bar app, no Dock icon); checks the program's architecture
#   sign-app       only with the signing secrets: a throw-away keychain with the Developer ID certificate,
#                  then codesign with the hardened runtime (what notarisation requires)
#   self-test      Keybroker.app's --self-test: must open Qt's cocoa platform and pass; LSUIElement set
#   dmg            dist/Keybroker-<version>-<arch>.dmg holding Keybroker.app and an /Applications link
#   notarize       only with the secrets: sign the .dmg, submit it to Apple's notary service, staple it
#   self-test-dmg  mounts the .dmg read-only and runs --self-test from it: what a user copies out
#   cleanup        removes the throw-away keychain
#
# Runs on the macOS runner's /bin/bash (3.2): no associative arrays, no empty arrays under `set -u`.
# Env: RELEASE_ARCH (arm64 | x86_64, default: this machine's), PYTHON (default python3, a 3.11
# framework build as PyInstaller needs on macOS); for sign-app MACOS_CERTIFICATE_P12 (base64 .p12),
# MACOS_CERTIFICATE_PASSWORD, MACOS_SIGNING_IDENTITY ("Developer ID Application: NAME (TEAMID)"); for
# notarize also MACOS_NOTARY_APPLE_ID, MACOS_NOTARY_TEAM_ID, MACOS_NOTARY_PASSWORD (app-specific).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"
python="${PYTHON:-python3}"
venv=".venv-package"
app="dist/Keybroker.app"
program="Contents/MacOS/keybroker"
arch="${RELEASE_ARCH:-$(uname -m)}"
keychain="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/keybroker-signing.keychain-db"

die() {
    echo "release-macos: error: $*" >&2
    exit 1
}
need() {
    local name
    for name in "$@"; do
        [[ -n "${!name:-}" ]] || die "$name is not set (a repository secret; see packaging/README.md)"
    done
}
version() { "$python" scripts/release/version.py; }
dmg_path() { echo "dist/Keybroker-$(version)-$arch.dmg"; }

bundle() {
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[package]'
    rm -rf "$app" dist/keybroker
    "$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
        --distpath dist --workpath build/pyinstaller packaging/keybroker.spec
    [[ -x "$app/$program" ]] || die "PyInstaller made no $app/$program"
    # The .dmg is named for one architecture: the program must be built for it (a Python for the other
    # one would build a bundle that only runs under Rosetta, or not at all).
    local built
    built="$(lipo -archs "$app/$program")"
    [[ " $built " == *" $arch "* ]] || die "$app/$program is built for '$built', not $arch"
    echo "release-macos: $app ($built)"
}

sign_app() {
    need MACOS_CERTIFICATE_P12 MACOS_CERTIFICATE_PASSWORD MACOS_SIGNING_IDENTITY
    local keychain_pass p12
    keychain_pass="$(uuidgen)"
    p12="$(mktemp)"
    security create-keychain -p "$keychain_pass" "$keychain"
    security set-keychain-settings -lut 21600 "$keychain"
    security unlock-keychain -p "$keychain_pass" "$keychain"
    printf '%s' "$MACOS_CERTIFICATE_P12" | base64 --decode >"$p12"
    security import "$p12" -k "$keychain" -P "$MACOS_CERTIFICATE_PASSWORD" -f pkcs12 \
        -T /usr/bin/codesign -T /usr/bin/security
    rm -f "$p12"
    # Let codesign use the key without a dialog nobody could answer.
    security set-key-partition-list -S apple-tool:,apple:,codesign: -s -k "$keychain_pass" "$keychain" >/dev/null
    # Add it to the search list, keeping the login keychain (the self-test's vault) where it was.
    # shellcheck disable=SC2046 # the list is one quoted path per line
    security list-keychains -d user -s "$keychain" $(security list-keychains -d user | tr -d '"')
    # --deep signs every library and framework inside first; the hardened runtime (--options runtime)
    # and a secure timestamp are what the notary service insists on.
    codesign --deep --force --options runtime --timestamp --sign "$MACOS_SIGNING_IDENTITY" "$app"
    codesign --verify --deep --strict --verbose=2 "$app"
}

self_test_app() {
    local where="$1" home out rc=0 ui_element
    ui_element="$(plutil -extract LSUIElement raw -o - "$where/Contents/Info.plist")"
    [[ "$ui_element" == true ]] || die "$where/Contents/Info.plist: LSUIElement is '$ui_element', not true"
    # Who signed it (Developer ID, or PyInstaller's ad-hoc signature when no secrets were set), for the log;
    # sign-app and notarize check the signature itself.
    codesign --display --verbose=2 "$where" 2>&1 | grep -E '^(Authority|Signature|TeamIdentifier)' || true
    home="$(mktemp -d)"
    out="$(env -u KEYBROKER_VAULT KEYBROKER_HOME="$home" "$where/$program" --self-test 2>&1)" || rc=$?
    rm -rf "$home"
    printf '%s\n' "$out" | sed 's/^/    /'
    ((rc == 0)) || die "$where/$program --self-test exited $rc"
    grep -q '^qt: cocoa ' <<<"$out" || die "$where --self-test did not open Qt's cocoa platform"
    grep -q '^self-test passed$' <<<"$out" || die "$where --self-test did not say it passed"
}

dmg() {
    local dmg stage=build/dmg
    dmg="$(dmg_path)"
    rm -rf "$stage" "$dmg"
    mkdir -p "$stage"
    cp -R "$app" "$stage/"
    ln -s /Applications "$stage/Applications"
    hdiutil create -volname Keybroker -srcfolder "$stage" -ov -format UDZO "$dmg"
    rm -rf "$stage"
    shasum -a 256 "$dmg"
}

notarize() {
    need MACOS_SIGNING_IDENTITY MACOS_NOTARY_APPLE_ID MACOS_NOTARY_TEAM_ID MACOS_NOTARY_PASSWORD
    local dmg
    dmg="$(dmg_path)"
    codesign --force --timestamp --sign "$MACOS_SIGNING_IDENTITY" "$dmg"
    xcrun notarytool submit "$dmg" --apple-id "$MACOS_NOTARY_APPLE_ID" --team-id "$MACOS_NOTARY_TEAM_ID" \
        --password "$MACOS_NOTARY_PASSWORD" --wait
    xcrun stapler staple "$dmg"
    xcrun stapler validate "$dmg"
    spctl --assess --type open --context context:primary-signature --verbose=2 "$dmg"
}

self_test_dmg() {
    local dmg mount rc=0
    dmg="$(dmg_path)"
    mount="$(mktemp -d)"
    hdiutil attach -nobrowse -readonly -noautoopen -mountpoint "$mount" "$dmg" >/dev/null
    [[ -L "$mount/Applications" ]] || rc=1
    (self_test_app "$mount/Keybroker.app") || rc=$?
    hdiutil detach "$mount" >/dev/null || hdiutil detach -force "$mount" >/dev/null
    rmdir "$mount" 2>/dev/null || true
    ((rc == 0)) || die "the disk image $dmg failed its self-test (or lacks the Applications link)"
}

cleanup() {
    if [[ -f "$keychain" ]]; then
        security delete-keychain "$keychain"
    fi
}

case "${1:-}" in
    bundle) bundle ;;
    sign-app) sign_app ;;
    self-test) self_test_app "$app" ;;
    dmg) dmg ;;
    notarize) notarize ;;
    self-test-dmg) self_test_dmg ;;
    cleanup) cleanup ;;
    *)
        echo "usage: scripts/release/macos.sh bundle|sign-app|self-test|dmg|notarize|self-test-dmg|cleanup" >&2
        exit 2
        ;;
esac
