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
    // Names on the wire are almost always ASCII throughout: then they are copied whole.
    if let Some(text) = bytes
        .is_ascii()
        .then(|| std::str::from_utf8(bytes).ok())
        .flatten()
    {
        return text.to_owned();
    }
    let mut text = String::with_capacity(bytes.len());
    for &b in bytes.iter().filter(|b| b.is_ascii()) {
        text.push(char::from(b));
    }
    text
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// The text holds exactly the ASCII bytes, in order, whether or not any byte was not.
        #[test]
        fn ascii_keeps_exactly_the_ascii_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let kept: Vec<u8> = bytes.iter().copied().filter(u8::is_ascii).collect();
            proptest::prop_assert_eq!(super::ascii(&bytes).into_bytes(), kept);
        }
    }
}
