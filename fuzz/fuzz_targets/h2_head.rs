//! Any bytes from a server, cut into any chunks, through the raw HTTP/2 client's head reader:
//! no panic; the same head or error, and the same reply bytes, as one chunk; a reply never
//! longer than what was read (only SETTINGS and PING are answered, each with at most its own
//! size); a head within the header-list cap.
//!
//! Input: 8 chunk lengths (cycled; 0 feeds an empty chunk; all zero means one byte at a time),
//! then the server's bytes (frames, starting after the client's preface).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssekit_wire::h2::head::{HeadError, HeadReader, MAX_INPUT};
use ssekit_wire::h2::hpack::{Field, MAX_HEADER_LIST};

fuzz_target!(|data: &[u8]| {
    let Some((lens, stream)) = data.split_first_chunk::<8>() else {
        return;
    };
    let mut whole_reply = Vec::new();
    let whole = HeadReader::default().feed(stream, &mut whole_reply);
    check_bounds(&whole, &whole_reply, stream.len());

    let mut reply = Vec::new();
    let pieces = in_pieces(lens, stream, &mut reply);
    check_bounds(&pieces, &reply, stream.len());
    // Past MAX_INPUT one big read fails before parsing while small reads may find the head first.
    if stream.len() <= MAX_INPUT {
        assert_eq!(whole, pieces);
        assert_eq!(whole_reply, reply);
    }
});

type Got = Result<Option<Vec<Field>>, HeadError>;

fn in_pieces(lens: &[u8; 8], stream: &[u8], reply: &mut Vec<u8>) -> Got {
    let one_at_a_time = lens.iter().all(|&l| l == 0);
    let mut reader = HeadReader::default();
    let mut at = 0;
    for i in 0.. {
        let len = if one_at_a_time {
            1
        } else {
            usize::from(lens[i % 8])
        };
        let end = (at + len).min(stream.len());
        let got = reader.feed(&stream[at..end], reply);
        at = end;
        if got != Ok(None) || at == stream.len() {
            return got;
        }
    }
    unreachable!("the loop returns once the stream is fed")
}

fn check_bounds(got: &Got, reply: &[u8], fed: usize) {
    assert!(reply.len() <= fed, "reply {} > fed {fed}", reply.len());
    match got {
        Ok(Some(fields)) => {
            let size: usize = fields
                .iter()
                .map(|f| f.name.len() + f.value.len() + 32)
                .sum();
            assert!(size <= MAX_HEADER_LIST);
        }
        Ok(None) => {}
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
