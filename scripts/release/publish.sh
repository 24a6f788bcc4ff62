#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The last job of a release (.github/workflows/release.yml): SHA256SUMS over what the build legs made,
# then a *draft* GitHub release with all of it, for a maintainer to read and publish by hand.
#
# Usage: scripts/release/publish.sh TAG DIR     (DIR: the downloaded artifacts, one flat folder)
# Needs the gh CLI (on every hosted runner) with GH_TOKEN and GH_REPO set. With DRY_RUN=1 it stops
# before gh, so the checks and SHA256SUMS can be tried anywhere.
#
# A re-run of the workflow replaces the files of a draft, but never touches a published release: what
# users have downloaded must stay what its SHA256SUMS says.
set -euo pipefail

die() {
    echo "publish: error: $*" >&2
    exit 1
}

tag="${1:?usage: publish.sh TAG DIR}"
dir="${2:?usage: publish.sh TAG DIR}"
version="${tag#v}"
[[ -d "$dir" ]] || die "$dir is not a folder"

files=()
while IFS= read -r -d '' file; do
    name="$(basename "$file")"
    [[ "$name" == SHA256SUMS ]] && continue
    # Every file is named for the version (keybroker_X_amd64.deb, Keybroker-X-arm64.dmg, ...): anything
    # else is a stale or misnamed build and must not reach a release.
    [[ "$name" == *"$version"* ]] || die "$name does not carry the version $version"
    files+=("$name")
done < <(find "$dir" -maxdepth 1 -type f -print0 | sort -z)
((${#files[@]})) || die "no files in $dir"

(cd "$dir" && sha256sum -- "${files[@]}" >SHA256SUMS)
echo "publish: SHA256SUMS"
sed 's/^/    /' "$dir/SHA256SUMS"

notes="$(mktemp)"
trap 'rm -f "$notes"' EXIT
{
    echo "Keybroker $version."
    echo
    echo "| file | for |"
    echo "| --- | --- |"
    for name in "${files[@]}"; do
        case "$name" in
            *.deb) what="Debian 12 or newer, amd64: \`sudo apt install ./$name\`" ;;
            *arm64.dmg) what="macOS 13 or newer on Apple silicon: open it, drag Keybroker to Applications" ;;
            *x86_64.dmg) what="macOS 13 or newer on Intel: open it, drag Keybroker to Applications" ;;
            *setup.exe) what="Windows 10/11 x64: a per-user installer (no administrator rights)" ;;
            *) what="" ;;
        esac
        echo "| \`$name\` | $what |"
    done
    echo
    echo "Check a download with \`sha256sum --check --ignore-missing SHA256SUMS\`" \
        "(macOS: \`shasum -a 256 -c --ignore-missing SHA256SUMS\`)."
    echo "Each file passed \`keybroker --self-test\` on its own OS before it was uploaded;" \
        "packaging/README.md says what else was checked and how a release is made."
} >"$notes"

if [[ "${DRY_RUN:-0}" == 1 ]]; then
    echo "publish: DRY_RUN=1: would publish draft $tag with: ${files[*]} SHA256SUMS"
    sed 's/^/    /' "$notes"
    exit 0
fi

command -v gh >/dev/null 2>&1 || die "the gh CLI is not installed"
paths=()
for name in "${files[@]}" SHA256SUMS; do
    paths+=("$dir/$name")
done
if draft="$(gh release view "$tag" --json isDraft --jq .isDraft 2>/dev/null)"; then
    [[ "$draft" == true ]] || die "release $tag is already published: its files stay as they are"
    echo "publish: draft $tag exists: replacing its files"
    gh release upload "$tag" "${paths[@]}" --clobber
else
    gh release create "$tag" --draft --verify-tag --title "Keybroker $version" --notes-file "$notes" \
        "${paths[@]}"
fi
echo "publish: draft release $tag is ready; publish it on GitHub after reading it"
