//! HPACK (RFC 7541) for the raw client, on `loona-hpack`: the request's header block, and the
//! response's decoded under a size cap. The codec lives in that crate; this module only bounds it.

use loona_hpack::decoder::DecoderError;
pub use loona_hpack::Decoder;
use loona_hpack::Encoder;

/// The dynamic table size both sides start with (SETTINGS_HEADER_TABLE_SIZE, never changed by
/// the raw client): a peer's size update beyond it is an error, not an allocation.
const TABLE_SIZE: usize = 4096;

/// The most decoded header list the raw client keeps, counted as RFC 9113 §6.5.2 does (name,
/// value, 32 bytes each). A 64 KiB block of one-byte references to a 4 KiB dynamic entry would
/// otherwise decode to 256 MiB.
pub const MAX_HEADER_LIST: usize = 64 * 1024;

/// One decoded header field, as received (names are not checked for case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Name bytes.
    pub name: Vec<u8>,
    /// Value bytes.
    pub value: Vec<u8>,
}

impl Field {
    /// A field from text (tests, and the fields the client sends).
    ///
    /// ```
    /// let f = ssekit_wire::h2::hpack::Field::new(":status", "200");
    /// assert_eq!(f.value, b"200");
    /// ```
    pub fn new(name: &str, value: &str) -> Self {
        Field {
            name: name.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
        }
    }
}

/// Why a response header block was not decoded.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum HpackError {
    /// The block is not valid HPACK.
    #[error("HPACK: {0}")]
    Decode(#[from] DecoderError),
    /// The decoded list is larger than the client keeps.
    #[error("decoded header list larger than {MAX_HEADER_LIST} bytes")]
    TooLarge,
}

/// The header block for `fields`, from a fresh encoder (the first block of a connection).
///
/// ```
/// use ssekit_wire::h2::hpack::{decode, decoder, encode, Field};
/// let fields = [Field::new(":method", "GET"), Field::new("accept", "text/event-stream")];
/// assert_eq!(decode(&mut decoder(), &encode(&fields)).unwrap(), fields);
/// ```
pub fn encode(fields: &[Field]) -> Vec<u8> {
    Encoder::new().encode(fields.iter().map(|f| (&f.name[..], &f.value[..])))
}

/// Decodes one response header block into `decoder`'s connection state.
///
/// ```
/// use ssekit_wire::h2::hpack::{decode, decoder, Field, HpackError};
/// let mut d = decoder();
/// assert_eq!(decode(&mut d, &[0x88]).unwrap(), [Field::new(":status", "200")]);
/// // An index past both tables is an error, not a panic.
/// assert!(matches!(decode(&mut d, &[0xff, 0x80, 0x01]), Err(HpackError::Decode(_))));
/// ```
pub fn decode(decoder: &mut Decoder<'_>, block: &[u8]) -> Result<Vec<Field>, HpackError> {
    let mut fields = Vec::new();
    let mut size = 0usize;
    let mut too_large = false;
    // The whole block is still decoded past the cap: skipping the rest would leave the dynamic
    // table out of step with the server's for any later block.
    decoder.decode_with_cb(block, |name, value| {
        size = size.saturating_add(name.len() + value.len() + 32);
        too_large |= size > MAX_HEADER_LIST;
        if !too_large {
            fields.push(Field {
                name: name.into_owned(),
                value: value.into_owned(),
            });
        }
    })?;
    if too_large {
        return Err(HpackError::TooLarge);
    }
    Ok(fields)
}

/// A decoder for one connection, refusing dynamic table growth past the default size.
pub fn decoder() -> Decoder<'static> {
    let mut decoder = Decoder::new();
    decoder.set_max_allowed_table_size(TABLE_SIZE);
    decoder
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7541 C.6.1: a response with Huffman-coded literals added to the dynamic table.
    const C61: &str = "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 \
                       66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3";
    /// RFC 7541 C.6.2: the next response, mostly references into that dynamic table.
    const C62: &str = "4883 640e ffc1 c0bf";

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn huffman_and_the_dynamic_table_are_decoded() {
        let mut d = decoder();
        let first = decode(&mut d, &hex(C61)).unwrap();
        assert_eq!(first[0], Field::new(":status", "302"));
        assert_eq!(first[3], Field::new("location", "https://www.example.com"));
        let second = decode(&mut d, &hex(C62)).unwrap();
        assert_eq!(
            second,
            [
                Field::new(":status", "307"),
                Field::new("cache-control", "private"),
                Field::new("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                Field::new("location", "https://www.example.com"),
            ]
        );
    }

    #[test]
    fn hostile_blocks_are_errors_not_panics() {
        // A size update cut short (RUSTSEC-2023-0085), an index past both tables, a string
        // longer than the block, a size update above the allowed table size.
        for block in [
            &[0x3f][..],
            &[0xff, 0x80, 0x01],
            &[0x00, 0x7f, 0xff],
            &[0x3f, 0xe2, 0x1f],
        ] {
            assert!(decode(&mut decoder(), block).is_err(), "{block:?}");
        }
    }

    #[test]
    fn a_decompression_bomb_is_capped() {
        // One 4000-byte entry added to the dynamic table, then referenced 100 times (index 62).
        let value = vec![b'x'; 4000];
        let mut block = vec![0x40, 1, b'a'];
        block.extend(loona_hpack::encoder::encode_integer(value.len(), 7));
        block.extend(&value);
        block.extend([0xbe; 100]);
        assert_eq!(decode(&mut decoder(), &block), Err(HpackError::TooLarge));
    }
}
