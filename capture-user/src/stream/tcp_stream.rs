//! One direction of a TCP byte stream, delivered in order with bounded buffering for
//! out-of-order segments. Retransmitted bytes are delivered once.

/// Out-of-order bytes held per direction before the stream gives up.
const MAX_PENDING_BYTES: usize = 64 * 1024;
/// Out-of-order segments held per direction before the stream gives up.
const MAX_PENDING_SEGMENTS: usize = 32;

/// In-order reassembly of one direction.
#[derive(Debug, Default)]
pub struct TcpStream {
    next_seq: Option<u32>,
    pending: Vec<(u32, Vec<u8>)>,
    pending_bytes: usize,
    broken: bool,
}

/// Signed distance from `b` to `a` in sequence space.
fn seq_diff(a: u32, b: u32) -> i32 {
    i32::from_ne_bytes(a.wrapping_sub(b).to_ne_bytes())
}

impl TcpStream {
    /// Whether a gap could not be filled within the bounds; nothing more will be delivered.
    #[must_use]
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Heap bytes held.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.pending_bytes + self.pending.capacity() * 32
    }

    /// Releases buffers once the reader needs no more bytes.
    pub fn close(&mut self) {
        self.broken = true;
        self.pending = Vec::new();
        self.pending_bytes = 0;
    }

    /// Adds a segment; `deliver` receives every newly in-order byte run.
    pub fn push(&mut self, seq: u32, syn: bool, payload: &[u8], deliver: &mut impl FnMut(&[u8])) {
        if self.broken {
            return;
        }
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let next = *self.next_seq.get_or_insert(data_seq);
        if payload.is_empty() {
            return;
        }
        let diff = seq_diff(data_seq, next);
        if diff > 0 {
            if self.pending.len() >= MAX_PENDING_SEGMENTS
                || self.pending_bytes + payload.len() > MAX_PENDING_BYTES
            {
                self.close();
                return;
            }
            self.pending_bytes += payload.len();
            self.pending.push((data_seq, payload.to_vec()));
            return;
        }
        self.deliver_from(data_seq, payload, deliver);
        self.drain(deliver);
    }

    fn deliver_from(&mut self, seq: u32, payload: &[u8], deliver: &mut impl FnMut(&[u8])) {
        let Some(next) = self.next_seq else { return };
        let skip = usize::try_from(-seq_diff(seq, next)).unwrap_or(0);
        if skip < payload.len() {
            let fresh = &payload[skip..];
            self.next_seq = Some(next.wrapping_add(u32::try_from(fresh.len()).unwrap_or(u32::MAX)));
            deliver(fresh);
        }
    }

    fn drain(&mut self, deliver: &mut impl FnMut(&[u8])) {
        while let Some(next) = self.next_seq {
            let Some(i) = self
                .pending
                .iter()
                .position(|(s, _)| seq_diff(*s, next) <= 0)
            else {
                break;
            };
            let (seq, data) = self.pending.swap_remove(i);
            self.pending_bytes -= data.len();
            self.deliver_from(seq, &data, deliver);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(stream: &mut TcpStream, segs: &[(u32, bool, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(seq, syn, data) in segs {
            stream.push(seq, syn, data, &mut |b| out.extend_from_slice(b));
        }
        out
    }

    #[test]
    fn reorders_and_deduplicates() {
        let mut s = TcpStream::default();
        let out = collect(
            &mut s,
            &[
                (99, true, b""),
                (106, false, b"world"),
                (100, false, b"hello "),
                (100, false, b"hello "),
                (104, false, b"o wor"),
            ],
        );
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn wraps_around_sequence_space() {
        let mut s = TcpStream::default();
        let start = u32::MAX - 2;
        let out = collect(
            &mut s,
            &[
                (start, false, b"abc"),
                (start.wrapping_add(3), false, b"def"),
            ],
        );
        assert_eq!(out, b"abcdef");
    }

    #[test]
    fn gives_up_on_an_unfillable_gap() {
        let mut s = TcpStream::default();
        let big = vec![0u8; 1000];
        let mut segs: Vec<(u32, bool, &[u8])> = vec![(0, false, b"x")];
        for i in 0..100 {
            segs.push((10_000 + i * 1000, false, &big));
        }
        collect(&mut s, &segs);
        assert!(s.is_broken());
    }
}
