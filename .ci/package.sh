#!/usr/bin/env bash
# Packages each publishable crate named as an argument (default: ssekit-parser) the way
# `cargo publish` would, and builds the parser on its declared minimum Rust version (MSRV).
#
#   bash .ci/package.sh [CRATE...]
#
# `cargo package` builds the packaged sources on their own, so a file the crate needs but does
# not ship fails here. The MSRV build uses a copy of the packaged parser outside the workspace
# with a lockfile of its own, resolved for its `rust-version`: that is what a user on that
# toolchain gets (cargo >= 1.84 picks dependency versions that support the user's Rust). The
# workspace lockfile cannot serve: the servers and benches need dependencies newer than the
# parser's MSRV (tokio-util 0.7.20 wants Rust 1.85, 0.7.19 works on 1.80). Only the library
# is held to the MSRV; tests and examples use dev-dependencies that need newer Rust.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
    set -- ssekit-parser
fi
target_dir=${CARGO_TARGET_DIR:-target}

# The `rust-version` a package declares (its workspace's, when inherited), from cargo itself.
rust_version() {
    cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
name = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == name:
        print(p.get("rust_version") or "")
' "$1"
}

package_version() {
    cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == sys.argv[1]))
' "$1"
}

# One `cargo package` for all of them: a crate whose workspace dependencies are not on
# crates.io yet is verified against the others' packaged sources.
echo "== package: $*"
cargo package $(printf -- '-p %s ' "$@")
for crate in "$@"; do
    version=$(package_version "$crate")
    echo "package: $crate $version: $(tar -tzf "$target_dir/package/$crate-$version.crate" | wc -l) files, $(du -h "$target_dir/package/$crate-$version.crate" | cut -f1) compressed"
done

# --- MSRV build of the parser ------------------------------------------------------
msrv=$(rust_version ssekit-parser)
if [ -z "$msrv" ]; then
    echo "msrv: ssekit-parser declares no rust-version" >&2
    exit 1
fi
if ! rustup toolchain list | grep -q "^$msrv-"; then
    if ! rustup toolchain install "$msrv" --profile minimal; then
        # A machine that cannot fetch toolchains still packages; the MSRV build is then skipped,
        # loudly, never passed.
        echo "msrv: SKIPPED, Rust $msrv could not be installed (rustup toolchain install $msrv)"
        exit 0
    fi
fi
version=$(package_version ssekit-parser)
packaged="$target_dir/package/ssekit-parser-$version"
if [ ! -d "$packaged" ]; then
    cargo package -p ssekit-parser
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$packaged" "$work/ssekit-parser"
cd "$work/ssekit-parser"
rm -f Cargo.lock
# An empty [workspace] keeps the copy from joining any workspace above the temporary dir.
printf '\n[workspace]\n' >>Cargo.toml
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile
for dep in tokio-util tokio bytes memchr; do
    echo "msrv: resolved $dep $(grep -A1 "^name = \"$dep\"$" Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')"
done
echo "== msrv: ssekit-parser $version on Rust $msrv (all features, library)"
CARGO_TARGET_DIR="$work/target" cargo "+$msrv" check --locked --lib --all-features
echo "msrv: ssekit-parser builds on Rust $msrv"
