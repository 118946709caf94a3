//! Any bytes, as a frame of any link type, through the decoder, the reassembler and a flow with
//! every feature extractor: nothing may panic.
#![no_main]

use capture::engine::Engine;
use capture::flow::FlowConfig;
use capture::input::Frame;
use capture::decode::LinkType;
use capture::reassembly::ReassemblyLimits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let link = LinkType::from_u32(u32::from(u16::from_le_bytes([data[0], data[1]])));
    let frame = &data[2..];
    let mut engine = Engine::new(FlowConfig::default(), ReassemblyLimits::default());
    let mut sink = |f: capture::flow::FinishedFlow| {
        let _ = f.into_row();
    };
    // The same frame twice, once per direction of time, exercises the flow update path too.
    for ts in [1_000, 2_000] {
        engine.process_frame(&Frame { ts_ns: ts, data: frame, wire_len: frame.len() as u32, link }, &mut sink);
    }
    engine.finish(&mut sink);
});
