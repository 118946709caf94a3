//! `tcp_window` (JJ-EXTENDED): advertised windows per direction, their changes, window scaling.

use super::{share, Dir, Extractor, FlowIdentity, Group, Row};
use crate::decode::Packet;

#[derive(Clone, Copy, Debug, Default)]
struct Windows {
    count: u64,
    sum: u64,
    min: u16,
    max: u16,
    first: u16,
    last: u16,
    zeros: u64,
    ups: u64,
    downs: u64,
    /// The first window-scale option seen in this direction.
    scale: Option<u8>,
}

impl Windows {
    fn push(&mut self, window: u16, scale: Option<u8>) {
        let seen = self.count > 0;
        if !seen {
            self.min = window;
            self.max = window;
            self.first = window;
        }
        // Counted without a branch: windows go up and down at the data's whim.
        self.ups += u64::from(seen & (window > self.last));
        self.downs += u64::from(seen & (window < self.last));
        self.count += 1;
        self.sum += u64::from(window);
        self.min = self.min.min(window);
        self.max = self.max.max(window);
        self.last = window;
        self.zeros += u64::from(window == 0);
        self.scale = self.scale.or(scale);
    }

    /// The largest window with this direction's scale applied. RFC 7323 caps the shift at 14;
    /// a crafted option is capped at 47 so the value still fits a signed 64-bit column.
    fn scaled_max(&self) -> u64 {
        u64::from(self.max) << self.scale.map_or(0, |s| s.min(47))
    }
}

#[derive(Debug, Default)]
pub(super) struct TcpWindow {
    dir: [Windows; 2],
}

impl Extractor for TcpWindow {
    const GROUP: Group = Group::TcpWindow;
    type Reads<'a> = &'a FlowIdentity;

    #[inline]
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir) {
        if let Some(t) = &pkt.tcp {
            self.dir[dir as usize].push(t.window, t.options.window_scale);
        }
    }

    fn finish(&mut self, _flow: &FlowIdentity, out: &mut Row) {
        let [f, b] = self.dir;
        out.int(f.first);
        out.int(b.first);
        out.int(f.scale.unwrap_or(0));
        out.int(b.scale.unwrap_or(0));
        for w in [f, b] {
            out.int(w.min);
            out.int(w.max);
            out.float(share(w.sum as f64, w.count as f64));
            out.int(w.zeros);
        }
        for w in [f, b] {
            out.int(w.ups);
            out.int(w.downs);
            out.int(w.ups + w.downs);
        }
        out.int(f.scaled_max());
        out.int(b.scaled_max());
        let total = f.count + b.count;
        out.float(if total > 0 {
            (f.zeros + b.zeros) as f64 / total as f64
        } else {
            0.0
        });
    }
}
