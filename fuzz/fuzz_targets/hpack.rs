//! Any two header blocks decoded in turn on one connection's HPACK decoder (the second sees the
//! first's dynamic table): no panic, each result within the header-list cap, and a decoded list
//! encodes to a block that decodes to the same list.
//!
//! Input: 1 byte saying where the first block ends (modulo the rest's length + 1), then both
//! blocks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssekit_wire::h2::hpack::{decode, decoder, encode, MAX_HEADER_LIST};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, blocks)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut) % (blocks.len() + 1);
    let mut d = decoder();
    for block in [&blocks[..cut], &blocks[cut..]] {
        let Ok(fields) = decode(&mut d, block) else {
            // A connection whose block failed is over: the table may be out of step.
            return;
        };
        let size: usize = fields
            .iter()
            .map(|f| f.name.len() + f.value.len() + 32)
            .sum();
        assert!(size <= MAX_HEADER_LIST);
        let again = decode(&mut decoder(), &encode(&fields));
        assert_eq!(again.as_ref(), Ok(&fields));
    }
});
