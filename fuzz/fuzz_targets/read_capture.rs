//! Any bytes as a capture file, through the reader and the engine: nothing may panic, and the
//! reader must stop with an error rather than loop or read out of bounds.
#![no_main]

use std::path::Path;

use capture::engine::Engine;
use capture::flow::FlowConfig;
use capture::input::CaptureFile;
use capture::reassembly::ReassemblyLimits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = CaptureFile::from_bytes(Path::new("fuzz.pcap"), data.to_vec());
    let Ok(frames) = file.frames() else { return };
    let mut engine = Engine::new(FlowConfig::default(), ReassemblyLimits::default());
    let mut sink = |f: capture::flow::FinishedFlow| {
        let _ = f.into_row();
    };
    for frame in frames {
        match frame {
            Ok(frame) => engine.process_frame(&frame, &mut sink),
            Err(_) => break,
        }
    }
    engine.finish(&mut sink);
});
