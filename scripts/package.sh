#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the PyInstaller bundle and the .deb (DESIGN.md §8): `make package`.
#
#   1. $PACKAGE_VENV (default .venv-package) with `-e .[package]` (runtime dependencies + PyInstaller),
#      kept apart from the test venv so the bundle holds what the app needs and nothing from the tests;
#   2. pyinstaller packaging/keybroker.spec -> build/pyinstaller/dist/keybroker/ (one folder);
#   3. checks on the bundle: every shared library finds its dependencies, and `keybroker --self-test`
#      passes (inside a private Secret Service session when gnome-keyring is installed);
#   4. the package root (bundle in /opt/keybroker, /usr/bin/keybroker, the .desktop launcher, hicolor
#      icons, DEBIAN/ from packaging/debian/) and `dpkg-deb --build --root-owner-group`.
#
# Output: dist/keybroker_<version>_<arch>.deb, its path also in build/package/deb-path, and the figures
# (build seconds, bundle and .deb sizes) in build/package/figures.
# An unchanged tree is not rebuilt: a hash of everything that goes into the package (sources, packaging
# files, icons, the build venv's package list) is kept in build/package/inputs.sha256. FORCE=1 rebuilds.
# Env: PYTHON (for the venv), PACKAGE_VENV, DEB_COMPRESSION (zstd | gzip | xz | none). The default, zstd,
# packed this package in 1.4 s against 23 s for gzip (xz takes minutes) at a smaller size; every dpkg
# that can satisfy the package's `libc6 (>= 2.36)` reads it (dpkg >= 1.21.18: Debian 12, Ubuntu 22.04).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
venv="${PACKAGE_VENV:-.venv-package}"
compression="${DEB_COMPRESSION:-zstd}"
out_dir="build/package"
pyi_dist="build/pyinstaller/dist"
pyi_work="build/pyinstaller/work"
bundle="$pyi_dist/keybroker"
app_id="io.github.keybroker.Keybroker"

now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
die() {
    echo "package: error: $*" >&2
    exit 1
}

for tool in dpkg-deb dpkg ldd; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found: build the .deb on Debian or Ubuntu"
done
command -v objdump >/dev/null 2>&1 || die "'objdump' not found (PyInstaller needs it): apt-get install binutils"

t_start="$(now)"
bash scripts/venv.sh "$venv" package
python="$venv/bin/python"
version="$("$python" -c 'import keybroker; print(keybroker.__version__)')"
arch="$(dpkg --print-architecture)"
deb="dist/keybroker_${version}_${arch}.deb"
mkdir -p "$out_dir" dist

inputs_hash() {
    {
        git ls-files -z --cached --others --exclude-standard -- desktop packaging resources/icons \
            pyproject.toml scripts/package.sh 2>/dev/null | sort -z | xargs -0 sha256sum 2>/dev/null ||
            find desktop packaging resources/icons pyproject.toml scripts/package.sh -type f \
                -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
        "$python" -m pip freeze --disable-pip-version-check 2>/dev/null
        echo "$compression $arch"
    } | sha256sum | cut -d' ' -f1
}
want="$(inputs_hash)"
if [[ "${FORCE:-0}" != 1 && -f "$deb" && -x "$bundle/keybroker" && -f "$out_dir/inputs.sha256" &&
    "$(cat "$out_dir/inputs.sha256")" == "$want" ]]; then
    echo "package: $deb is up to date (inputs unchanged; FORCE=1 rebuilds)"
    printf '%s\n' "$deb" >"$out_dir/deb-path"
    exit 0
fi
rm -f "$out_dir/inputs.sha256"

# --- the bundle ------------------------------------------------------------------------------------
echo "package: PyInstaller bundle (packaging/keybroker.spec)"
t_build="$(now)"
"$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$pyi_dist" --workpath "$pyi_work" packaging/keybroker.spec
bundle_seconds="$(since "$t_build")"
[[ -x "$bundle/keybroker" ]] || die "PyInstaller made no $bundle/keybroker"

echo "package: checking that every bundled library finds its dependencies"
missing="$(
    cd "$bundle/_internal"
    find . -type f \( -name '*.so' -o -name '*.so.*' \) -print0 |
        xargs -0 -n 32 env LD_LIBRARY_PATH="$PWD:$PWD/PySide6/Qt/lib" ldd 2>/dev/null |
        awk '/^\.\// { file = $1 } /not found/ { print file ": " $1 }' | sort -u
)"
[[ -z "$missing" ]] || die "bundled libraries with unresolved dependencies:"$'\n'"$missing"

echo "package: $bundle/keybroker --self-test"
self_test=(env -u DISPLAY -u WAYLAND_DISPLAY KEYBROKER_HOME="$repo_root/$out_dir/self-test-home"
    "$repo_root/$bundle/keybroker" --self-test)
if command -v gnome-keyring-daemon >/dev/null 2>&1 && command -v dbus-run-session >/dev/null 2>&1; then
    bash scripts/secret-service-session.sh "${self_test[@]}" 2> >(grep -v 'Failed to set fd limit' >&2)
else
    echo "package: no gnome-keyring here: the self-test uses KEYBROKER_VAULT=memory"
    KEYBROKER_VAULT=memory "${self_test[@]}"
fi
rm -rf "$out_dir/self-test-home"

# --- the package root ------------------------------------------------------------------------------
root="$out_dir/root"
rm -rf "$root"
install -d -m 755 "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
    "$root/usr/share/doc/keybroker" "$root/usr/share/icons/hicolor/scalable/apps"
cp -a "$bundle" "$root/opt/keybroker"
ln -s /opt/keybroker/keybroker "$root/usr/bin/keybroker"
install -m 644 "packaging/linux/$app_id.desktop" "$root/usr/share/applications/$app_id.desktop"
install -m 644 "resources/icons/$app_id.svg" "$root/usr/share/icons/hicolor/scalable/apps/$app_id.svg"
for png in resources/icons/hicolor/*/apps/"$app_id.png"; do
    size="$(basename "$(dirname "$(dirname "$png")")")"
    install -D -m 644 "$png" "$root/usr/share/icons/hicolor/$size/apps/$app_id.png"
done
install -m 644 packaging/debian/copyright "$root/usr/share/doc/keybroker/copyright"
# A native package's changelog, and keybroker(1) written from the CLI's own argparse tree (gzip -n: no
# name or time stamp in the archive, so the same input packs the same bytes).
gzip -9n <packaging/debian/changelog >"$root/usr/share/doc/keybroker/changelog.gz"
install -d -m 755 "$root/usr/share/man/man1"
"$python" packaging/make_manpage.py "$out_dir/keybroker.1"
gzip -9n <"$out_dir/keybroker.1" >"$root/usr/share/man/man1/keybroker.1.gz"
chmod 644 "$root/usr/share/doc/keybroker/changelog.gz" "$root/usr/share/man/man1/keybroker.1.gz"
# Files readable by all, nothing writable but by root. Executable: the bundle's programs only; PyInstaller
# copies shared libraries and some data files (licenses) with the execute bit, which Debian policy (and
# lintian) reject: a library is mapped, not run.
chmod -R u+rwX,go+rX,go-w "$root"
find "$root/opt/keybroker" -type f -perm /111 -print0 | while IFS= read -r -d '' file; do
    magic="$(head -c 4 "$file" | od -An -c | tr -d ' ')"
    if [[ "$file" == *.so || "$file" == *.so.* || ("$magic" != '177ELF' && "$magic" != '#!'*) ]]; then
        chmod 644 "$file"
    fi
done

if command -v desktop-file-validate >/dev/null 2>&1; then
    desktop-file-validate "$root/usr/share/applications/$app_id.desktop"
fi
[[ ! -e "$root/etc" ]] || die "the package must not install anything under /etc (no system-wide autostart)"

glibc="$(dpkg-query -W -f='${Version}' libc6 | sed 's/-.*//')"
depends="libc6 (>= $glibc)"
while read -r line; do
    line="${line%%#*}"
    line="${line//[[:space:]]/}"
    [[ -n "$line" ]] && depends+=", $line"
done <packaging/debian/depends
installed_kib="$(du -s -k --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_kib/" \
    -e "s/@DEPENDS@/$depends/" packaging/debian/control.in >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

echo "package: dpkg-deb --build ($compression)"
t_deb="$(now)"
dpkg-deb --root-owner-group -Z"$compression" --build "$root" "$deb" >/dev/null
deb_seconds="$(since "$t_deb")"
rm -rf "$root"

total_seconds="$(since "$t_start")"
bundle_size="$(du -sh "$bundle" | cut -f1)"
bundle_kib="$(du -sk "$bundle" | cut -f1)"
deb_kib="$(($(stat -c %s "$deb") / 1024))"
cat >"$out_dir/figures" <<EOF
build_seconds=$total_seconds
pyinstaller_seconds=$bundle_seconds
dpkg_deb_seconds=$deb_seconds
bundle_size=$bundle_size
bundle_kib=$bundle_kib
installed_kib=$installed_kib
deb_kib=$deb_kib
deb_compression=$compression
EOF
printf '%s\n' "$deb" >"$out_dir/deb-path"
printf '%s' "$want" >"$out_dir/inputs.sha256"
echo "package: $deb ($((deb_kib / 1024)) MiB, $compression); bundle $bundle_size; built in $total_seconds s" \
    "(PyInstaller $bundle_seconds s, dpkg-deb $deb_seconds s)"
