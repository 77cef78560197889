#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from vectors/*.sse (corpus directories are not committed).
# `parse` and `differential` read a 16-byte feeding header before the stream (see
# fuzz/src/lib.rs), so each vector is written three times, behind headers that mean:
#   one chunk, default limits | one byte per chunk, ignored lines reported |
#   mixed chunk lengths with empty chunks, early-dropped feeds, small limits.
# `roundtrip` takes structured frames, so the raw vectors only serve as text to mutate.
# `h2_head`, `hpack` and `chunked` (the runner's readers of server bytes) get a few server
# replies written here, each behind its target's small header (see their fuzz_targets/*.rs).
set -euo pipefail
cd "$(dirname "$0")"

# bytes HEX...: writes the bytes the hex digits spell (spaces ignored).
bytes() {
    local h="$*" i
    h="${h// /}"
    for ((i = 0; i < ${#h}; i += 2)); do printf "\\x${h:i:2}"; done
}
# frame TYPE FLAGS STREAM PAYLOAD-HEX: one HTTP/2 frame, as hex.
frame() {
    local p="${4// /}"
    printf '%06x%02x%02x%08x%s' $((${#p} / 2)) "$1" "$2" "$3" "$p"
}
# txt TEXT: TEXT's bytes as hex.
txt() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }

seed_readers() {
    # HPACK: `:status: 200`, then `connection: keep-alive`, then `content-type:
    # text/event-stream` added to the dynamic table; RFC 7541 C.6.1 and C.6.2 (Huffman, table).
    local block c61 c62 early
    block="88000a$(txt connection)0a$(txt keep-alive)5f11$(txt text/event-stream)"
    c61="4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"
    c62="4883 640e ffc1 c0bf"
    early="0803$(txt 103)"
    local settings ping
    settings=$(frame 4 0 0 "0003 00000064 0004 0000ffff")
    ping=$(frame 6 0 0 "0102030405060708")
    mkdir -p corpus/h2_head corpus/hpack corpus/chunked
    local -A h2=(
        [plain]="$settings $(frame 8 0 0 00001000) $(frame 1 4 1 "$block")"
        [continued]="$settings $ping $(frame 1 0 1 "${block:0:10}") $(frame 9 4 1 "${block:10}")"
        [interim]="$settings $(frame 1 4 1 "$early") $(frame 1 4 1 "$c61")"
        [padded]="$settings $(frame 1 0x2c 1 "03 00000003 10 $block 000000")"
        [goaway]="$settings $(frame 7 0 0 "00000001 00000000") $(frame 1 5 1 "$block")"
        [reset]="$settings $(frame 3 0 1 00000008)"
    )
    local name
    for name in "${!h2[@]}"; do
        { bytes ffffffffffffffff; bytes "${h2[$name]}"; } >"corpus/h2_head/$name.h0"
        { bytes 0000000000000000; bytes "${h2[$name]}"; } >"corpus/h2_head/$name.h1"
        { bytes 0703000109001102; bytes "${h2[$name]}"; } >"corpus/h2_head/$name.h2"
    done
    { bytes 36 "$c61" "$c62"; } >corpus/hpack/rfc7541-c6
    { bytes 2b "$block" "be bf"; } >corpus/hpack/table
    local head=$'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n'
    local -A chunked=(
        [events]="${head}e\r\ndata: hello\n\n\r\n15\r\n: keep-alive comment\n\r\n"
        [cut]="${head}e\r\ndata: hello\n\n\r\n15\r\n: keep"
        [end]="${head}5\r\nhello\r\n0\r\nx-trailer: 1\r\n\r\n"
        [ext]="${head}5;name=value\r\nhello\r\n"
        [length]=$'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello'
    )
    for name in "${!chunked[@]}"; do
        { bytes 4000; printf '%b' "${chunked[$name]}"; } >"corpus/chunked/$name"
    done
    echo "seed.sh: seeded h2_head, hpack, chunked"
}
seed_readers
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
