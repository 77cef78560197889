#!/usr/bin/env bash
# Installs what the zoo's cases need (conformance/cli/tests/zoo.rs): Debian packages listed in
# every */apt-packages.txt, a Python venv at .venv from apps/python/requirements.txt (pinned,
# with hashes), and apps/node/node_modules from the committed package-lock.json.
#
# Idempotent: what is already there is not installed again. A step that fails prints why and
# the script goes on; the cases that needed it then print SKIPPED instead of failing. Always
# exits 0, so CI (.ci/run) can call it before `cargo test`.
set -uo pipefail

ZOO=$(cd "$(dirname "$0")" && pwd)
skipped=()

note() { echo "zoo setup: $*"; }

# Debian packages: one name per line in */apt-packages.txt; `#` starts a comment.
apt_packages() {
    local wanted=() package
    while read -r package; do
        [ -n "$package" ] || continue
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
            || wanted+=("$package")
    done < <(cat "$ZOO"/*/apt-packages.txt 2>/dev/null | sed 's/#.*//' | tr -s ' \t' '\n' | sort -u)
    if [ ${#wanted[@]} -eq 0 ]; then
        note "apt: nothing to install"
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        skipped+=("apt packages ${wanted[*]} (no apt-get)")
        return
    fi
    note "apt: installing ${wanted[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}"; } >/dev/null; then
        skipped+=("apt packages ${wanted[*]} (apt-get failed)")
    fi
}

# The venv is rebuilt only when requirements.txt changed since it was made.
python_venv() {
    local venv="$ZOO/.venv" requirements="$ZOO/apps/python/requirements.txt"
    local stamp="$venv/.requirements.sha256" sum
    if ! command -v python3 >/dev/null 2>&1; then
        skipped+=("Python apps (no python3)")
        return
    fi
    sum=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
        note "python: $venv is up to date"
        return
    fi
    note "python: creating $venv"
    rm -rf "$venv"
    if python3 -m venv "$venv" \
        && "$venv/bin/pip" install -q --disable-pip-version-check --require-hashes --only-binary :all: -r "$requirements"; then
        echo "$sum" >"$stamp"
    else
        rm -rf "$venv"
        skipped+=("Python apps (venv or pip install failed)")
    fi
}

# node_modules is reinstalled only when package-lock.json changed since the last `npm ci`.
node_modules() {
    local dir="$ZOO/apps/node" stamp="$ZOO/apps/node/node_modules/.package-lock.sha256" sum
    if ! command -v npm >/dev/null 2>&1; then
        skipped+=("Node apps (no npm; apt-get install nodejs npm)")
        return
    fi
    sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
        note "node: $dir/node_modules is up to date"
        return
    fi
    note "node: npm ci in $dir"
    if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
        echo "$sum" >"$stamp"
    else
        skipped+=("Node apps (npm ci failed)")
    fi
}

apt_packages
python_venv
node_modules

if [ ${#skipped[@]} -eq 0 ]; then
    note "done, nothing skipped"
else
    for what in "${skipped[@]}"; do
        note "SKIPPED $what: the cases that need it will print SKIPPED"
    done
fi
exit 0
