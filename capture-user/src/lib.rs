//! The capture engine: decode packets, assemble bidirectional flows, compute features, write records.
//!
//! Where things happen, for a newcomer:
//! - a packet enters at [`engine::Engine::process_frame`] (from [`input`] for files, from an
//!   AF_XDP socket in [`live`]);
//! - it is decoded by [`decode::decode_frame`] and its flow updated in [`flow::FlowTable::process`];
//! - a flow ends in [`flow::FlowTable`] (`expire`, `end_before`, `flush`) with a [`capture_common::FlowEndReason`];
//! - its record is built by [`features::FlowFeatures::finish`] and leaves through an [`output::RecordSink`]:
//!   a file, or Parquet segments on disk through the [`spill`] writer.
#![deny(unsafe_code)]
// The exceptions (memory maps, the allocator, AF_XDP and TPACKET rings, io_uring) live in `sys`,
// which opts back in.

pub mod decode;
pub mod engine;
pub mod extract;
pub mod features;
pub mod filter;
pub mod flow;
pub mod gen;
pub mod input;
pub mod live;
pub mod output;
pub mod reassembly;
pub mod spill;
pub mod stream;
mod sys;

pub use sys::alloc::Allocator;
