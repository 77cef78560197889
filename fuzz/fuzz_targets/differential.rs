//! Any bytes, cut into any chunks: the fast parser (no limits) and the nom oracle report the
//! same events (type, data, id) and retry values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssekit_fuzz::{props, StreamInput};

fuzz_target!(|input: StreamInput| {
    let plan = input.header.plan();
    props::check_against_oracle(&input.stream, &plan, ssekit_parser::oracle::parse);
});
