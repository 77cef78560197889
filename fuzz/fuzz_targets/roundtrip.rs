//! Any frames: the serializer either refuses one for a documented reason (line break in event
//! type or id, NUL in id) and writes nothing, or the parser gives every frame back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssekit_fuzz::{props, RoundtripInput};

fuzz_target!(|input: RoundtripInput| {
    let specs: Vec<props::Spec> = input.specs.into_iter().map(Into::into).collect();
    let lens: Vec<usize> = input.lens.iter().map(|&l| usize::from(l)).collect();
    props::check_roundtrip(&specs, &lens);
});
