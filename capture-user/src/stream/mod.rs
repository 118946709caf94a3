//! Application-layer streams: in-order TCP payload reassembly and the parsers that read it.

pub mod dns;
pub mod http2;
pub mod quic;
pub mod ssh;
pub mod tcp_stream;
pub mod tls;

/// The ASCII bytes of `bytes` as text, the others dropped. Sized once: the text is at most as
/// long as the bytes.
pub(crate) fn ascii(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for &b in bytes.iter().filter(|b| b.is_ascii()) {
        text.push(char::from(b));
    }
    text
}
