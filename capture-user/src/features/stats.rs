//! Bounded streaming statistics.
//!
//! `Moments` gives count, sum, min, max, mean and population standard deviation (numpy's default,
//! `ddof=0`, which is what JoyfulJay reports) in constant space. `Quantiles` keeps values exactly
//! up to [`EXACT_CAP`] and answers numpy's linear-interpolation percentiles; past that it folds
//! into a logarithmic-bucket sketch with 0.5 % relative error and a bounded bucket count, so a
//! flow's state never grows with its packet count.

use rustc_hash::FxHashMap;

use super::Dir;

/// Values kept exactly before a `Quantiles` switches to the sketch.
pub const EXACT_CAP: usize = 2048;
/// Relative accuracy of the sketch.
const SKETCH_ALPHA: f64 = 0.005;
/// Most buckets the sketch holds; the lowest are merged beyond this.
const SKETCH_MAX_BUCKETS: usize = 4096;

/// Distinct values a [`Distinct`] keeps; a flow with more keeps counting only these.
pub const MAX_DISTINCT: usize = 256;

/// Values a [`Distinct`] holds in place before it takes room on the heap: a flow's two
/// endpoints, or its two directions' values.
const IN_PLACE: usize = 2;

/// Distinct values (MAC addresses, VLAN ids, flow labels) in the order first seen, up to
/// [`MAX_DISTINCT`].
#[derive(Debug, Default)]
pub struct Distinct<T> {
    in_place: [T; IN_PLACE],
    more: Vec<T>,
    len: usize,
}

impl<T: Copy + PartialEq> Distinct<T> {
    pub fn insert(&mut self, v: T) {
        // A flow's packets mostly repeat the value the set last took in.
        if self.last() == Some(v) || self.len == MAX_DISTINCT || self.values().any(|x| x == v) {
            return;
        }
        if self.len < IN_PLACE {
            self.in_place[self.len] = v;
        } else {
            self.more.push(v);
        }
        self.len += 1;
    }

    fn last(&self) -> Option<T> {
        match self.len {
            0 => None,
            n if n <= IN_PLACE => Some(self.in_place[n - 1]),
            _ => self.more.last().copied(),
        }
    }

    pub fn values(&self) -> impl Iterator<Item = T> + '_ {
        self.in_place[..self.len.min(IN_PLACE)]
            .iter()
            .chain(&self.more)
            .copied()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn heap_bytes(&self) -> usize {
        self.more.capacity() * std::mem::size_of::<T>()
    }
}

/// A set of byte values (TTLs, ToS bytes, traffic classes) in 256 bits.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteSet([u64; 4]);

impl ByteSet {
    /// Adds a value.
    pub fn insert(&mut self, v: u8) {
        self.0[usize::from(v >> 6)] |= 1 << (v & 63);
    }

    /// Distinct values.
    #[must_use]
    pub fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest value.
    #[must_use]
    pub fn min(&self) -> Option<u8> {
        self.0
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| {
                u8::try_from(i * 64).unwrap_or(0) + u8::try_from(w.trailing_zeros()).unwrap_or(0)
            })
    }
}

/// Count, sum, extremes, and the sums of values and squares shifted by the first value.
///
/// Shifting by the first value (instead of Welford's running mean) keeps the variance exact
/// enough for lengths and time gaps while the per-value update needs no division, which matters
/// on a path run for every packet.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    shift: f64,
    shifted_sum: f64,
    shifted_squares: f64,
}

impl Moments {
    /// Adds one value.
    #[inline]
    pub fn push(&mut self, x: f64) {
        if self.count == 0 {
            self.min = x;
            self.max = x;
            self.shift = x;
        } else {
            // One `minsd` and one `maxsd`. Written as comparisons, the bounds compiled to
            // branches that the order of a flow's lengths and gaps mispredicts, or, as selects,
            // to a packed compare and blend of both bounds several times as long. The values are
            // lengths and times, never NaN; a NaN after the first value would be passed over.
            self.min = crate::sys::simd::min_or_second(x, self.min);
            self.max = crate::sys::simd::max_or_second(x, self.max);
        }
        self.count += 1;
        self.sum += x;
        let d = x - self.shift;
        self.shifted_sum += d;
        self.shifted_squares += d * d;
    }

    /// The moments of two streams together.
    #[must_use]
    pub fn merge(a: &Self, b: &Self) -> Self {
        if a.count == 0 {
            return *b;
        }
        if b.count == 0 {
            return *a;
        }
        // Re-express b's shifted sums around a's shift: with e = b.shift - a.shift,
        // sum(x - a.shift) = S1 + n e and sum((x - a.shift)^2) = S2 + 2 e S1 + n e^2.
        let e = b.shift - a.shift;
        let n = b.count as f64;
        Self {
            count: a.count + b.count,
            sum: a.sum + b.sum,
            min: a.min.min(b.min),
            max: a.max.max(b.max),
            shift: a.shift,
            shifted_sum: a.shifted_sum + b.shifted_sum + n * e,
            shifted_squares: a.shifted_squares
                + b.shifted_squares
                + 2.0 * e * b.shifted_sum
                + n * e * e,
        }
    }

    /// Number of values.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum (0 when empty).
    #[must_use]
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Minimum (0 when empty, as JoyfulJay reports).
    #[must_use]
    pub fn min(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.min
        }
    }

    /// Maximum (0 when empty).
    #[must_use]
    pub fn max(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.max
        }
    }

    /// Mean (0 when empty).
    #[must_use]
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// Population variance (0 when empty).
    #[must_use]
    pub fn variance(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let n = self.count as f64;
        ((self.shifted_squares - self.shifted_sum * self.shifted_sum / n) / n).max(0.0)
    }

    /// Population standard deviation (0 when empty).
    #[must_use]
    pub fn std(&self) -> f64 {
        self.variance().sqrt()
    }

    /// Coefficient of variation, std / mean; 0 when empty or when the mean is 0.
    #[must_use]
    pub fn cv(&self) -> f64 {
        let mean = self.mean();
        if self.count == 0 || mean == 0.0 {
            0.0
        } else {
            self.std() / mean
        }
    }
}

/// Percentiles over a stream: exact up to [`EXACT_CAP`] values, sketched beyond (the sketch
/// counts negative values as 0; only a clock stepping back produces them).
#[derive(Clone, Debug, Default)]
pub struct Quantiles {
    exact: Vec<f64>,
    sorted: bool,
    sketch: Option<Box<Sketch>>,
}

impl Quantiles {
    /// Adds one value.
    #[inline]
    pub fn push(&mut self, x: f64) {
        // The common case, small enough to inline into every group's update: room in the
        // exact list already allocated.
        if self.sketch.is_none() && self.exact.len() < self.exact.capacity().min(EXACT_CAP) {
            self.exact.push(x);
            self.sorted = false;
            return;
        }
        self.push_rare(x);
    }

    /// The first value, a full list, or a sketch.
    #[cold]
    #[inline(never)]
    fn push_rare(&mut self, x: f64) {
        if let Some(s) = &mut self.sketch {
            s.push(x);
            return;
        }
        if self.exact.len() < EXACT_CAP {
            if self.exact.capacity() == 0 {
                // Most flows are short: one allocation covers them.
                self.exact.reserve_exact(16);
            }
            self.exact.push(x);
            self.sorted = false;
            return;
        }
        let mut s = Box::new(Sketch::default());
        for v in self.exact.drain(..) {
            s.push(v);
        }
        s.push(x);
        self.exact = Vec::new();
        self.sketch = Some(s);
    }

    /// A sketch of `n` copies of each `(x, n)`, however large the counts.
    #[must_use]
    pub fn sketch_of(weighted: impl IntoIterator<Item = (f64, u64)>) -> Self {
        let mut sketch = Box::new(Sketch::default());
        for (x, n) in weighted {
            sketch.push_n(x, n);
        }
        Self {
            exact: Vec::new(),
            sorted: false,
            sketch: Some(sketch),
        }
    }

    /// Whether the values are still held exactly.
    #[must_use]
    pub fn is_exact(&self) -> bool {
        self.sketch.is_none()
    }

    /// Bytes held on the heap.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.exact.capacity() * 8 + self.sketch.as_ref().map_or(0, |s| s.heap_bytes())
    }

    /// Lengths and time gaps are non-negative, and non-negative floats order exactly as their
    /// bit patterns do, which compares faster. A capture whose clock steps back can yield
    /// negative gaps; those take the general comparison.
    fn orders_by_bits(&self) -> bool {
        !self.exact.iter().any(|v| v.is_sign_negative())
    }

    /// The requested percentiles (each in 0..=100), numpy's `linear` method; 0 for an empty
    /// stream. Short series (up to 32 values per percentile asked for) are sorted; longer ones
    /// are only partitioned around each rank needed (linear time each), which is all the
    /// features ask for.
    #[must_use]
    pub fn percentiles<const N: usize>(&mut self, ps: [f64; N]) -> [f64; N] {
        let mut out = [0.0; N];
        if let Some(s) = &self.sketch {
            for (o, p) in out.iter_mut().zip(ps) {
                *o = s.quantile(p / 100.0);
            }
            return out;
        }
        if self.exact.is_empty() {
            return out;
        }
        let by_bits = self.orders_by_bits();
        // Each rank selected costs a partition and a scan of what lies above it: for several
        // ranks, sorting a series of up to 32 values per rank costs less.
        if !self.sorted && self.exact.len() <= 32 * N {
            if by_bits {
                self.exact.sort_unstable_by_key(|v| v.to_bits());
            } else {
                self.exact.sort_unstable_by(f64::total_cmp);
            }
            self.sorted = true;
        }
        // After a selection at rank r every value past r is at least as large as those
        // before it: a higher rank is then looked for among those only.
        let mut settled = 0;
        for (o, p) in out.iter_mut().zip(ps) {
            *o = if self.sorted {
                linear_percentile(&self.exact, p)
            } else {
                selected_percentile(&mut self.exact, p, by_bits, &mut settled)
            };
        }
        out
    }

    /// Combines two streams (both-direction percentiles from per-direction stores). Exact
    /// stores are concatenated; a sketched side makes the result a sketch.
    #[must_use]
    pub fn merged(a: &mut Self, b: &mut Self) -> Self {
        if a.is_exact() && b.is_exact() {
            let mut exact = Vec::with_capacity(a.exact.len() + b.exact.len());
            exact.extend_from_slice(&a.exact);
            exact.extend_from_slice(&b.exact);
            return Self {
                exact,
                sorted: false,
                sketch: None,
            };
        }
        let mut sketch = Box::new(Sketch::default());
        for q in [&*a, &*b] {
            match &q.sketch {
                None => q.exact.iter().for_each(|&v| sketch.push(v)),
                Some(s) => sketch.merge(s),
            }
        }
        Self {
            exact: Vec::new(),
            sorted: false,
            sketch: Some(sketch),
        }
    }
}

/// The rank of percentile `p` among `n` values: the lower index and the interpolation weight.
fn rank(n: usize, p: f64) -> (usize, f64) {
    let rank = (p / 100.0) * (n - 1) as f64;
    let lo = (rank.floor() as usize).min(n - 1);
    (lo, rank - lo as f64)
}

/// numpy's `_lerp`: the symmetric form keeps results within [a, b].
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    }
}

/// numpy's default percentile on sorted data.
fn linear_percentile(sorted: &[f64], p: f64) -> f64 {
    let (lo, t) = rank(sorted.len(), p);
    let hi = (lo + 1).min(sorted.len() - 1);
    lerp(sorted[lo], sorted[hi], t)
}

/// numpy's default percentile on unsorted data: partitions `values` around the lower rank and
/// takes the next value as the smallest of the upper part. `values[settled..]` holds every value
/// at least as large as those before it (from a selection at a lower rank); it becomes the part
/// past this rank.
fn selected_percentile(values: &mut [f64], p: f64, by_bits: bool, settled: &mut usize) -> f64 {
    let (lo, t) = rank(values.len(), p);
    let from = if lo >= *settled { *settled } else { 0 };
    let (_, &mut a, upper) = if by_bits {
        values[from..].select_nth_unstable_by_key(lo - from, |v| v.to_bits())
    } else {
        values[from..].select_nth_unstable_by(lo - from, f64::total_cmp)
    };
    *settled = lo + 1;
    if t == 0.0 || upper.is_empty() {
        return a;
    }
    let b = upper.iter().copied().fold(f64::INFINITY, f64::min);
    lerp(a, b, t)
}

/// A logarithmic-bucket quantile sketch (in the manner of DDSketch) for non-negative values.
#[derive(Clone, Debug, Default)]
struct Sketch {
    buckets: FxHashMap<i32, u64>,
    zeros: u64,
    count: u64,
}

impl Sketch {
    fn gamma_ln() -> f64 {
        ((1.0 + SKETCH_ALPHA) / (1.0 - SKETCH_ALPHA)).ln()
    }

    fn push(&mut self, x: f64) {
        self.push_n(x, 1);
    }

    /// Adds `n` copies of `x` (none for 0: an empty bucket would only count towards the cap).
    fn push_n(&mut self, x: f64, n: u64) {
        if n == 0 {
            return;
        }
        self.count += n;
        if x <= 0.0 || !x.is_finite() {
            self.zeros += n;
            return;
        }
        let idx = (x.ln() / Self::gamma_ln()).ceil() as i32;
        *self.buckets.entry(idx).or_insert(0) += n;
        if self.buckets.len() > SKETCH_MAX_BUCKETS {
            self.collapse_lowest();
        }
    }

    fn collapse_lowest(&mut self) {
        let mut keys: Vec<i32> = self.buckets.keys().copied().collect();
        keys.sort_unstable();
        let (a, b) = (keys[0], keys[1]);
        let moved = self.buckets.remove(&a).unwrap_or(0);
        *self.buckets.entry(b).or_insert(0) += moved;
    }

    fn merge(&mut self, other: &Self) {
        self.count += other.count;
        self.zeros += other.zeros;
        for (&k, &v) in &other.buckets {
            *self.buckets.entry(k).or_insert(0) += v;
        }
        while self.buckets.len() > SKETCH_MAX_BUCKETS {
            self.collapse_lowest();
        }
    }

    fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * 16
    }

    fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = (q * (self.count - 1) as f64).round() as u64;
        if rank < self.zeros {
            return 0.0;
        }
        let mut keys: Vec<(i32, u64)> = self.buckets.iter().map(|(&k, &v)| (k, v)).collect();
        keys.sort_unstable();
        let mut seen = self.zeros;
        let gamma = Self::gamma_ln().exp();
        for (k, v) in keys {
            seen += v;
            if seen > rank {
                return 2.0 * gamma.powi(k) / (gamma + 1.0);
            }
        }
        0.0
    }
}

/// Distinct lengths [`LengthCounts`] counts; lengths first seen after this many distinct ones
/// are not counted (a flow would need thousands of distinct sizes to reach it).
pub const MAX_DISTINCT_LENGTHS: usize = 4096;

/// Distinct lengths looked through one by one: most flows have a handful, and a short search
/// costs less than hashing.
const SEARCHED_LENGTHS: usize = 32;

/// Packets per length (of IP packets) and direction, in order of first appearance, up to
/// [`MAX_DISTINCT_LENGTHS`] distinct lengths. IP lengths repeat: a flow has a handful of
/// distinct ones however many packets it has, so this is also how their percentiles are
/// answered exactly.
#[derive(Debug, Default)]
pub struct LengthCounts {
    /// (length, packets from each direction), in order of first appearance.
    seen: Vec<(u32, [u64; 2])>,
    /// Where each length sits in `seen`, once there are too many to look through.
    index: Option<FxHashMap<u32, u32>>,
    /// Where the length of each direction's previous packet sits in `seen`: a bulk transfer
    /// sends one length after another, and its acknowledgments another.
    last: [u32; 2],
}

impl LengthCounts {
    /// Counts one packet of `len` from `dir`; false when the length was turned away because
    /// [`MAX_DISTINCT_LENGTHS`] others came first.
    #[inline]
    pub fn add(&mut self, len: u32, dir: Dir) -> bool {
        let d = dir as usize;
        if let Some((size, packets)) = self.seen.get_mut(self.last[d] as usize) {
            if *size == len {
                packets[d] += 1;
                return true;
            }
        }
        self.add_looked_up(len, d)
    }

    fn add_looked_up(&mut self, len: u32, d: usize) -> bool {
        let at = match &self.index {
            None => self.seen.iter().position(|&(size, _)| size == len),
            Some(index) => index.get(&len).map(|&i| i as usize),
        };
        if let Some(i) = at {
            self.seen[i].1[d] += 1;
            self.last[d] = i as u32;
            return true;
        }
        if self.seen.len() >= MAX_DISTINCT_LENGTHS {
            return false;
        }
        self.last[d] = self.seen.len() as u32;
        if let Some(index) = &mut self.index {
            index.insert(len, self.seen.len() as u32);
        }
        let mut packets = [0; 2];
        packets[d] = 1;
        self.seen.push((len, packets));
        if self.index.is_none() && self.seen.len() > SEARCHED_LENGTHS {
            self.index = Some(
                self.seen
                    .iter()
                    .enumerate()
                    .map(|(i, &(size, _))| (size, i as u32))
                    .collect(),
            );
        }
        true
    }

    /// The most frequent length and its count; of equally frequent ones, the first seen;
    /// `(0, 0)` when nothing was counted.
    #[must_use]
    pub fn dominant(&self) -> (u32, u64) {
        self.seen.iter().fold(
            (0, 0),
            |best, &(size, [f, b])| {
                if f + b > best.1 {
                    (size, f + b)
                } else {
                    best
                }
            },
        )
    }

    /// Distinct lengths counted.
    #[must_use]
    pub fn distinct(&self) -> usize {
        self.seen.len()
    }

    /// The packets of each length, in order of first appearance.
    pub fn counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.seen.iter().map(|&(_, [f, b])| f + b)
    }

    /// The lengths counted, in increasing order, with the packets up to each.
    #[must_use]
    pub fn sorted(&self) -> SortedLengths {
        let mut by_length = self.seen.clone();
        by_length.sort_unstable_by_key(|&(size, _)| size);
        let mut upto = [0; 2];
        for (_, packets) in &mut by_length {
            upto = [upto[0] + packets[0], upto[1] + packets[1]];
            *packets = upto;
        }
        SortedLengths(by_length)
    }

    /// (length, packets from each direction), in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = (u32, [u64; 2])> + '_ {
        self.seen.iter().copied()
    }

    /// Bytes held on the heap.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.seen.capacity() * 24 + self.index.as_ref().map_or(0, |i| i.capacity() * 8)
    }
}

/// [`LengthCounts`] in increasing order of length: each length with the packets from each
/// direction of that length or shorter.
#[derive(Debug)]
pub struct SortedLengths(Vec<(u32, [u64; 2])>);

impl SortedLengths {
    /// numpy's linear-interpolation percentiles (each in 0..=100) of the lengths of the packets
    /// from `dir`, or from both directions for `None`; 0 when there are none. The same values as
    /// [`Quantiles::percentiles`] over every packet's length.
    #[must_use]
    pub fn percentiles<const N: usize>(&self, dir: Option<Dir>, ps: [f64; N]) -> [f64; N] {
        let upto = |&(_, [f, b]): &(u32, [u64; 2])| match dir {
            Some(Dir::Fwd) => f,
            Some(Dir::Bwd) => b,
            None => f + b,
        };
        let n = self.0.last().map_or(0, upto);
        if n == 0 {
            return [0.0; N];
        }
        // The length of the packet at `rank` (from 0) in increasing order of length.
        let at = |rank: usize| {
            let i = self.0.partition_point(|e| upto(e) <= rank as u64);
            f64::from(self.0[i.min(self.0.len() - 1)].0)
        };
        ps.map(|p| {
            let (lo, t) = rank(n as usize, p);
            let a = at(lo);
            if t == 0.0 {
                a
            } else {
                lerp(a, at((lo + 1).min(n as usize - 1)), t)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set counts each value once whether held in place or on the heap, and stops at
    /// [`MAX_DISTINCT`], as a plain list of distinct values does.
    #[test]
    fn a_set_holds_distinct_values_in_place_then_on_the_heap() {
        let mut set = Distinct::<u16>::default();
        let mut list: Vec<u16> = Vec::new();
        let values = (0..2_000u32).map(|i| (i * 7919 % 1000) as u16 / (1 + (i % 3) as u16));
        for (i, v) in [5, 5, 9, 5, 9, 7].into_iter().chain(values).enumerate() {
            set.insert(v);
            if list.len() < MAX_DISTINCT && !list.contains(&v) {
                list.push(v);
            }
            assert_eq!(set.len(), list.len(), "after {i} values");
            assert_eq!(set.values().collect::<Vec<_>>(), list);
        }
        assert_eq!(set.len(), MAX_DISTINCT);
        assert!(set.heap_bytes() >= (MAX_DISTINCT - IN_PLACE) * 2);
    }

    #[test]
    fn byte_set() {
        let mut s = ByteSet::default();
        assert_eq!((s.len(), s.min(), s.is_empty()), (0, None, true));
        for v in [200, 3, 64, 3, 255, 0] {
            s.insert(v);
        }
        assert_eq!((s.len(), s.min()), (5, Some(0)));
    }

    #[test]
    fn moments_match_numpy_population_definitions() {
        let mut m = Moments::default();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            m.push(x);
        }
        assert_eq!(m.mean(), 5.0);
        assert!((m.std() - 2.0).abs() < 1e-12);
        assert_eq!(m.min(), 2.0);
        assert_eq!(m.max(), 9.0);
        assert!((m.cv() - 0.4).abs() < 1e-12);
        let empty = Moments::default();
        assert_eq!(
            (empty.mean(), empty.std(), empty.min(), empty.cv()),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn merged_moments_equal_one_stream() {
        let (mut a, mut b, mut all) = (Moments::default(), Moments::default(), Moments::default());
        for i in 0..1000 {
            let x = 1500.0 + f64::from(i % 17) * 3.5;
            if i % 4 == 0 {
                a.push(x);
            } else {
                b.push(x);
            }
            all.push(x);
        }
        let m = Moments::merge(&a, &b);
        assert_eq!(m.count(), all.count());
        assert!((m.mean() - all.mean()).abs() < 1e-9);
        assert!((m.std() - all.std()).abs() < 1e-9);
        assert_eq!((m.min(), m.max()), (all.min(), all.max()));
    }

    #[test]
    fn variance_is_exact_for_tiny_gaps() {
        // Nanosecond-scale gaps around a large offset lose nothing to cancellation.
        let mut m = Moments::default();
        for x in [1e-6, 2e-6, 3e-6, 4e-6] {
            m.push(x);
        }
        assert!((m.std() - 1.118_033_988_749_895e-6).abs() < 1e-15);
    }

    #[test]
    fn exact_percentiles_match_numpy_linear() {
        let mut q = Quantiles::default();
        for x in [4.0, 2.0, 3.0, 1.0] {
            q.push(x);
        }
        let mut negative = Quantiles::default();
        for x in [0.5, -1.0, 2.0] {
            negative.push(x);
        }
        assert_eq!(negative.percentiles([0.0, 50.0, 100.0]), [-1.0, 0.5, 2.0]);
        // numpy.percentile([1,2,3,4], [25,50,75,90,99]) = 1.75, 2.5, 3.25, 3.7, 3.97
        let [p25, p50, p75, p90, p99] = q.percentiles([25.0, 50.0, 75.0, 90.0, 99.0]);
        assert!((p25 - 1.75).abs() < 1e-12);
        assert!((p50 - 2.5).abs() < 1e-12);
        assert!((p75 - 3.25).abs() < 1e-12);
        assert!((p90 - 3.7).abs() < 1e-12);
        assert!((p99 - 3.97).abs() < 1e-12);
        assert_eq!(Quantiles::default().percentiles([50.0]), [0.0]);
    }

    #[test]
    fn selection_equals_sorting_on_long_series() {
        for n in [33usize, 100, 1000, 2048] {
            let mut q = Quantiles::default();
            let mut sorted = Vec::new();
            for i in 0..n {
                let x = ((i * 7919) % 1013) as f64 * 0.25;
                q.push(x);
                sorted.push(x);
            }
            sorted.sort_by(f64::total_cmp);
            let ps = [0.0, 25.0, 50.0, 75.0, 90.0, 99.0, 100.0];
            let expected = ps.map(|p| linear_percentile(&sorted, p));
            assert_eq!(q.percentiles(ps), expected, "n = {n}");
        }
    }

    proptest::proptest! {
        #[test]
        fn selection_in_any_order_equals_sorting(
            values in proptest::collection::vec(-5.0f64..1e6, 33..600),
            ps in proptest::array::uniform6(0.0f64..=100.0),
        ) {
            let mut q = Quantiles::default();
            values.iter().for_each(|&v| q.push(v));
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            // Ranks out of order and repeated, each with its own selection.
            let ps = [ps[0], ps[1], ps[1], ps[2], ps[3], 100.0, ps[4], 0.0, ps[5]];
            proptest::prop_assert_eq!(q.percentiles(ps), ps.map(|p| linear_percentile(&sorted, p)));
            // One rank asked for: a series this long is selected in, not sorted.
            let mut one = Quantiles::default();
            values.iter().for_each(|&v| one.push(v));
            proptest::prop_assert_eq!(one.percentiles([ps[0]]), [linear_percentile(&sorted, ps[0])]);
            proptest::prop_assert!(!one.sorted);
        }

        /// The counts agree with a list of every length, the first-seen length winning ties,
        /// below and past the point where lengths are indexed, up to the cap.
        #[test]
        fn length_counts_agree_with_a_plain_list(
            packets in proptest::collection::vec(
                (proptest::prop_oneof![0u32..8, 0u32..200, 0u32..6000], proptest::bool::ANY),
                0..6000,
            ),
        ) {
            let mut counts = LengthCounts::default();
            let mut reference: Vec<(u32, [u64; 2])> = Vec::new();
            for &(len, backward) in &packets {
                let (dir, d) = if backward { (Dir::Bwd, 1) } else { (Dir::Fwd, 0) };
                let counted = counts.add(len, dir);
                if let Some(entry) = reference.iter_mut().find(|(size, _)| *size == len) {
                    entry.1[d] += 1;
                    proptest::prop_assert!(counted);
                } else if reference.len() < MAX_DISTINCT_LENGTHS {
                    let mut n = [0; 2];
                    n[d] = 1;
                    reference.push((len, n));
                    proptest::prop_assert!(counted);
                } else {
                    proptest::prop_assert!(!counted);
                }
            }
            let mut want = (0, 0);
            for &(size, [f, b]) in &reference {
                if f + b > want.1 {
                    want = (size, f + b);
                }
            }
            proptest::prop_assert_eq!(counts.dominant(), want);
            proptest::prop_assert_eq!(counts.distinct(), reference.len());
            proptest::prop_assert!(counts.counts().eq(reference.iter().map(|&(_, [f, b])| f + b)));
            proptest::prop_assert_eq!(&counts.seen, &reference);
        }

        /// Percentiles from the counts equal numpy's over the list of every packet's length, for
        /// each direction and for both.
        #[test]
        fn length_percentiles_equal_those_of_every_length(
            packets in proptest::collection::vec(
                (proptest::prop_oneof![40u32..44, 0u32..1600, 0u32..66_000], proptest::bool::ANY),
                0..3000,
            ),
            ps in proptest::array::uniform5(0.0f64..=100.0),
        ) {
            let mut counts = LengthCounts::default();
            let mut lists: [Vec<f64>; 3] = Default::default();
            for &(len, backward) in &packets {
                let dir = if backward { Dir::Bwd } else { Dir::Fwd };
                proptest::prop_assert!(counts.add(len, dir));
                lists[dir as usize].push(f64::from(len));
                lists[2].push(f64::from(len));
            }
            let sorted = counts.sorted();
            let ps = [ps[0], ps[1], 0.0, ps[2], 50.0, ps[3], 100.0, ps[4]];
            for (list, dir) in lists.iter_mut().zip([Some(Dir::Fwd), Some(Dir::Bwd), None]) {
                list.sort_by(f64::total_cmp);
                let want = if list.is_empty() {
                    [0.0; 8]
                } else {
                    ps.map(|p| linear_percentile(list, p))
                };
                proptest::prop_assert_eq!(sorted.percentiles(dir, ps), want, "{:?}", dir);
            }
        }
    }

    #[test]
    fn weighted_sketch_equals_repeated_pushes() {
        let mut repeated = Quantiles::default();
        for i in 0..5000u32 {
            repeated.push(f64::from(i % 7 * 100));
        }
        let mut weighted = Quantiles::sketch_of((0..7u32).map(|k| {
            let n = (0..5000u32).filter(|i| i % 7 == k).count() as u64;
            (f64::from(k * 100), n)
        }));
        let ps = [0.0, 10.0, 50.0, 90.0, 100.0];
        assert_eq!(weighted.percentiles(ps), repeated.percentiles(ps));
        // Values of no packet (a length only the other direction sent) leave no bucket.
        let sparse = Quantiles::sketch_of((1..=5000u32).map(|k| (f64::from(k), u64::from(k == 7))));
        assert_eq!(sparse.sketch.as_ref().map(|s| s.buckets.len()), Some(1));
    }

    #[test]
    fn sketch_is_bounded_and_accurate() {
        let mut q = Quantiles::default();
        let n = 100_000;
        for i in 1..=n {
            q.push(f64::from(i));
        }
        assert!(!q.is_exact());
        assert!(q.heap_bytes() < 200_000);
        let [median] = q.percentiles([50.0]);
        assert!(
            (median - 50_000.0).abs() / 50_000.0 < 0.01,
            "median {median}"
        );
    }

    #[test]
    fn merge_equals_single_stream() {
        let (mut a, mut b, mut all) = (
            Quantiles::default(),
            Quantiles::default(),
            Quantiles::default(),
        );
        for i in 0..100 {
            let x = f64::from(i * 7 % 31);
            if i % 3 == 0 {
                a.push(x);
            } else {
                b.push(x);
            }
            all.push(x);
        }
        assert_eq!(
            Quantiles::merged(&mut a, &mut b).percentiles([10.0, 50.0, 90.0]),
            all.percentiles([10.0, 50.0, 90.0])
        );
        // A sketched side makes the merge a sketch.
        let mut big = Quantiles::default();
        for i in 0..3000 {
            big.push(f64::from(i));
        }
        let mut merged = Quantiles::merged(&mut big, &mut a);
        assert!(!merged.is_exact());
        let [median] = merged.percentiles([50.0]);
        assert!((median - 1500.0).abs() < 30.0, "{median}");
    }
}
