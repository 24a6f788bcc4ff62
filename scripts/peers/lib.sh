# SPDX-License-Identifier: Apache-2.0
# Shared by scripts/peers/*.sh (sourced, not run): idempotent caches for the third-party test peers.
#
# peer_venv NAME VENV CHECK SPEC...   a venv with SPEC installed, like scripts/peer-venv.sh: a marker file
#                                     in the venv records the spec (and the hash of any file in it, e.g.
#                                     a constraints file); when it matches, nothing is done.
#                                     CHECK is Python run in the venv afterwards; it must print lines
#                                     starting with "NAME:" and exit 0, or the marker is not written.
# npm_peer NAME DIR SRC               `npm ci` of SRC/package.json + SRC/package-lock.json into DIR; the
#                                     marker holds the lock's hash, so a changed lock reinstalls.
# Only the registries (PyPI, npm) are used, through pip and npm as this machine configures them.

peer_venv() {
    local name="$1" venv="$2" check="$3"
    shift 3
    local spec=("$@") python="${PYTHON:-python3}" arg
    local marker="$venv/.keybroker-peer-spec" want="${spec[*]}"
    # A constraints or requirements file given in SPEC counts by its content too.
    for arg in "${spec[@]}"; do
        [[ -f "$arg" ]] && want+=" $(sha256sum "$arg" | cut -d' ' -f1)"
    done

    if [[ -x "$venv/bin/python" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
        echo "$name: $venv already has: $want (skipped)"
        return 0
    fi
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$venv"
        echo "$name: creating $venv with $("$python" --version 2>&1) ($(command -v "$python"))"
        "$python" -m venv "$venv"
    else
        echo "$name: reusing $venv (spec marker missing or different)"
    fi
    rm -f "$marker"
    echo "$name: installing ${spec[*]}"
    # This machine's pip config lists local find-links dirs that may not exist: drop those warnings only.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${spec[@]}" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    local out
    if ! out="$("$venv/bin/python" -c "$check" 2>&1)"; then
        echo "$out" >&2
        echo "$name: the check failed in $venv" >&2
        return 1
    fi
    grep "^$name:" <<<"$out"
    printf '%s' "$want" >"$marker"
    echo "$name: ready at $venv"
}

npm_peer() {
    local name="$1" dir="$2" src="$3"
    local marker="$dir/.keybroker-peer-lock" want
    want="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"

    if [[ -d "$dir/node_modules" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
        echo "$name: $dir matches $src/package-lock.json (skipped)"
        return 0
    fi
    if ! command -v npm >/dev/null; then
        echo "$name: error: npm not found (Node 20 and npm come with the machine image)" >&2
        return 1
    fi
    echo "$name: npm ci into $dir (node $(node --version), npm $(npm --version))"
    mkdir -p "$dir"
    rm -f "$marker"
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s' "$want" >"$marker"
    echo "$name: ready at $dir/node_modules"
}
