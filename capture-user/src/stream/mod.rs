//! Application-layer streams: in-order TCP payload reassembly and the parsers that read it.

pub mod dns;
pub mod http2;
pub mod quic;
pub mod ssh;
pub mod tcp_stream;
pub mod tls;
