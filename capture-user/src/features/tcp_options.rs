//! `tcp_options` (JJ-EXTENDED): MSS, window scale, SACK and timestamps per direction.

use super::{Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::Packet;

#[derive(Clone, Copy, Debug, Default)]
struct Side {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    /// First and last timestamp value, and the first echo reply.
    ts_first: Option<(u32, u32)>,
    ts_last: u32,
    ts_count: u64,
}

#[derive(Debug, Default)]
pub(super) struct TcpOptionsGroup {
    side: [Side; 2],
    sack_blocks: u64,
    packets_with_options: u64,
}

impl Extractor for TcpOptionsGroup {
    const GROUP: Group = Group::TcpOptions;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        let Some(t) = &pkt.tcp else { return };
        let o = &t.options;
        let s = &mut self.side[dir as usize];
        // A segment counts as carrying options when it brings something new to the features:
        // the direction's first MSS or window scale, or any SACK-permitted, timestamp or SACK
        // block (JoyfulJay's definition).
        let mut counted = false;
        if let (Some(mss), None) = (o.mss, s.mss) {
            s.mss = Some(mss);
            counted = true;
        }
        if let (Some(ws), None) = (o.window_scale, s.window_scale) {
            s.window_scale = Some(ws);
            counted = true;
        }
        if o.sack_permitted {
            s.sack_permitted = true;
            counted = true;
        }
        if let Some((value, echo)) = o.timestamp {
            if s.ts_first.is_none() {
                s.ts_first = Some((value, echo));
            }
            s.ts_last = value;
            s.ts_count += 1;
            counted = true;
        }
        if o.sack_blocks > 0 {
            self.sack_blocks += u64::from(o.sack_blocks);
            counted = true;
        }
        self.packets_with_options += u64::from(counted);
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let [f, b] = self.side;
        out.int(f.mss.unwrap_or(0));
        out.int(b.mss.unwrap_or(0));
        out.int(f.window_scale.unwrap_or(0));
        out.int(b.window_scale.unwrap_or(0));
        out.int(u8::from(f.sack_permitted));
        out.int(u8::from(b.sack_permitted));
        out.int(self.sack_blocks);
        for s in [f, b] {
            let (first, echo) = s.ts_first.unwrap_or((0, 0));
            out.int(u8::from(s.ts_first.is_some()));
            out.int(first);
            out.int(s.ts_last);
            // Timestamps wrap at 2^32.
            out.int(if s.ts_count >= 2 {
                s.ts_last.wrapping_sub(first)
            } else {
                0
            });
            out.int(echo);
        }
        let mut bitmap = 0u8;
        for (present, bit) in [
            (f.mss.is_some() || b.mss.is_some(), 0x01),
            (f.window_scale.is_some() || b.window_scale.is_some(), 0x02),
            (f.sack_permitted || b.sack_permitted, 0x04),
            (f.ts_first.is_some() || b.ts_first.is_some(), 0x08),
        ] {
            if present {
                bitmap |= bit;
            }
        }
        out.int(bitmap);
        out.int(self.packets_with_options);
    }
}
