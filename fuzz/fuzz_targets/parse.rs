//! Any bytes, cut into any chunks (empty ones included) and fed with feeds dropped early: no
//! panic, the same output as one chunk, nothing larger than the limits (default ones, or small
//! ones the header picks to reach the limit paths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssekit_fuzz::{props, StreamInput};

fuzz_target!(|input: StreamInput| {
    let plan = input.header.plan();
    props::check_chunking(&input.stream, &plan, input.header.limits());
});
