//! The reference SSE server (in progress).
#![forbid(unsafe_code)]
