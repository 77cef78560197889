//! The HTTP/2 pieces of the raw response-head client, without I/O: [`frame`] layout,
//! [`hpack`] coding under caps, and the [`head`] reader that ties them together.

pub mod frame;
pub mod head;
pub mod hpack;
