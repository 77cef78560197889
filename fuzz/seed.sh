#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from vectors/*.sse (corpus directories are not committed).
# `parse` and `differential` read a 16-byte feeding header before the stream (see
# fuzz/src/lib.rs), so each vector is written three times, behind headers that mean:
#   one chunk, default limits | one byte per chunk, ignored lines reported |
#   mixed chunk lengths with empty chunks, early-dropped feeds, small limits.
# `roundtrip` takes structured frames, so the raw vectors only serve as text to mutate.
set -euo pipefail
cd "$(dirname "$0")"
vectors=../vectors
shopt -s nullglob
files=("$vectors"/*.sse)
if [ ${#files[@]} -eq 0 ]; then
    echo "seed.sh: no $vectors/*.sse found; targets start from an empty corpus" >&2
    exit 0
fi
headers=(
    '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
    '\x01\x00\x00\x00\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00'
    '\x03\x28\x00\x01\x03\x00\x07\x01\x02\x05\x00\x03\x00\x02\x00\x04'
)
for target in parse differential; do
    mkdir -p "corpus/$target"
    for f in "${files[@]}"; do
        name=$(basename "$f" .sse)
        for i in "${!headers[@]}"; do
            { printf "${headers[$i]}"; cat "$f"; } >"corpus/$target/$name.h$i"
        done
    done
done
mkdir -p corpus/roundtrip
cp "${files[@]}" corpus/roundtrip/
echo "seed.sh: seeded parse, differential, roundtrip from ${#files[@]} vectors"
