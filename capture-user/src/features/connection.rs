//! `connection`: where a flow sits among the flows around it (fan-out and fan-in of its
//! addresses, pair and port counts, degree, betweenness, community and clustering in the address
//! graph, the initiator's flow timing).
//!
//! These describe many flows, so they cannot be computed from one flow's packets. JoyfulJay
//! builds one graph from every flow of the input; a sensor cannot hold every flow, so records
//! wait in a sliding window instead. Time is cut into steps of half the window (by the latest
//! flow end seen); when a step is over, the records of the flows that ended in it are completed
//! from the graph of the flows of that step and of the step before, then written. Each record
//! thus sees between half a window and a whole window of traffic, flows that ended shortly
//! after it included. A step holding [`MAX_STEP_FLOWS`] records closes early, which bounds
//! memory whatever the flow rate. An input shorter than half the window forms one step: its
//! graph is the whole input's, as JoyfulJay's is.

mod graph;

use rustc_hash::FxHashMap as HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use super::registry::{index_of, Group};
use super::{group_end, Row, Value};
use crate::flow::{FinishedFlow, RECORD_BATCH};
use crate::output::RecordSink;

/// The default window, in seconds.
pub const DEFAULT_WINDOW_SECS: f64 = 300.0;

/// Most records a step holds before it closes early.
pub const MAX_STEP_FLOWS: usize = 16_384;

/// Flow starts closer than this (in seconds) belong to one burst.
const BURST_GAP_SECS: f64 = 1.0;

/// What the graph needs of one flow.
#[derive(Clone, Debug)]
struct FlowSummary {
    src: IpAddr,
    dst: IpAddr,
    dst_port: u16,
    start: f64,
    end: f64,
    packets: u64,
    bytes: u64,
}

impl FlowSummary {
    /// What the graph needs of a finished flow (its record written or not: building the record
    /// leaves the flow's counters as they were).
    fn of(finished: &FinishedFlow) -> Self {
        let flow = &finished.flow;
        let meta = &flow.features.meta;
        let (start, end) = meta.span_secs();
        Self {
            src: flow.initiator.0,
            dst: flow.responder.0,
            dst_port: flow.responder.1,
            start,
            end,
            packets: meta.packets(),
            bytes: meta.bytes(),
        }
    }
}

/// Where the identity columns the window reads sit in a record.
#[derive(Clone, Debug)]
struct IdentityColumns {
    src_ip: usize,
    dst_ip: usize,
    dst_port: usize,
    start: usize,
    end: usize,
    packets: usize,
    bytes: usize,
    /// The connection group's columns.
    connection: std::ops::Range<usize>,
}

impl IdentityColumns {
    fn new() -> Self {
        let at =
            |name: &str| index_of(name).unwrap_or_else(|| unreachable!("{name} is registered"));
        Self {
            src_ip: at("src_ip"),
            dst_ip: at("dst_ip"),
            dst_port: at("dst_port"),
            start: at("start_time"),
            end: at("end_time"),
            packets: at("total_packets"),
            bytes: at("total_bytes"),
            connection: at("conn_src_unique_dsts")..group_end(Group::Connection),
        }
    }

    fn summary(&self, row: &Row) -> FlowSummary {
        let address = |i: usize| match row.value(i) {
            Value::Str(s) => s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        let float = |i: usize| match row.value(i) {
            Value::Float(f) => f,
            Value::Int(n) => n as f64,
            _ => 0.0,
        };
        let int = |i: usize| match row.value(i) {
            Value::Int(n) => u64::try_from(n).unwrap_or(0),
            _ => 0,
        };
        FlowSummary {
            src: address(self.src_ip),
            dst: address(self.dst_ip),
            dst_port: u16::try_from(int(self.dst_port)).unwrap_or(0),
            start: float(self.start),
            end: float(self.end),
            packets: int(self.packets),
            bytes: int(self.bytes),
        }
    }
}

/// A record sink that completes the connection columns of each record from the flows around it
/// (see the module documentation), then hands the record to `inner`.
#[derive(Debug)]
pub struct ConnectionWindow<S> {
    inner: S,
    step_secs: f64,
    columns: IdentityColumns,
    /// Start of step 0: the first flow end seen.
    origin: Option<f64>,
    step: i64,
    /// Flows of the step before the current one (graph only; their records are written).
    previous: Vec<FlowSummary>,
    /// Flows of the current step and their records, waiting.
    current: Vec<FlowSummary>,
    /// The current step's records, built as their flows ended; their connection columns are
    /// filled in when the step closes.
    held: Vec<Row>,
    /// Records already written, whose buffers the next flows reuse.
    spare: Vec<Row>,
    /// The rows a batch of records is being built in.
    batch: Vec<Row>,
    /// The graph of the last step closed, whose buffers the next step's graph is built in.
    graph: WindowGraph,
    max_step_flows: usize,
    /// Steps closed because they were full.
    steps_closed_full: u64,
}

impl<S: RecordSink> ConnectionWindow<S> {
    /// Wraps `inner` with a window of `window_secs` seconds.
    pub fn new(inner: S, window_secs: f64) -> Self {
        Self {
            inner,
            step_secs: (window_secs / 2.0).max(f64::MIN_POSITIVE),
            columns: IdentityColumns::new(),
            origin: None,
            step: 0,
            previous: Vec::new(),
            current: Vec::new(),
            held: Vec::new(),
            spare: Vec::new(),
            batch: Vec::new(),
            graph: WindowGraph::default(),
            max_step_flows: MAX_STEP_FLOWS,
            steps_closed_full: 0,
        }
    }

    /// Closes steps at `flows` records instead of [`MAX_STEP_FLOWS`].
    #[must_use]
    pub fn with_step_limit(mut self, flows: usize) -> Self {
        self.max_step_flows = flows.max(1);
        self
    }

    /// Steps that closed early because they were full.
    #[must_use]
    pub fn steps_closed_full(&self) -> u64 {
        self.steps_closed_full
    }

    fn add(&mut self, summary: FlowSummary, held: Row) -> io::Result<()> {
        let origin = *self.origin.get_or_insert(summary.end);
        // Flows end out of order (idle ones are noticed a timeout late): steps follow the latest end.
        let step = ((summary.end - origin) / self.step_secs).floor() as i64;
        if step > self.step {
            self.close_step()?;
            if step > self.step + 1 {
                self.previous.clear();
            }
            self.step = step;
        } else if self.held.len() >= self.max_step_flows {
            self.steps_closed_full += 1;
            self.close_step()?;
        }
        self.current.push(summary);
        self.held.push(held);
        Ok(())
    }

    /// Completes and writes the current step's records; its flows become the previous step.
    fn close_step(&mut self) -> io::Result<()> {
        self.graph.build(&self.previous, &self.current);
        // The current step's flows follow the previous step's in the window.
        let first = self.previous.len();
        for (i, (mut row, flow)) in self.held.drain(..).zip(&self.current).enumerate() {
            self.graph
                .write(first + i, flow, &mut row, self.columns.connection.start);
            self.inner.write_row(&row)?;
            self.spare.push(row);
        }
        self.previous = std::mem::take(&mut self.current);
        Ok(())
    }
}

impl<S: RecordSink> RecordSink for ConnectionWindow<S> {
    fn write_row(&mut self, row: &Row) -> io::Result<()> {
        let summary = self.columns.summary(row);
        let mut held = self.spare.pop().unwrap_or_default();
        held.clone_from(row);
        self.add(summary, held)
    }

    fn write_flow(&mut self, finished: FinishedFlow, _scratch: &mut Row) -> io::Result<()> {
        let summary = FlowSummary::of(&finished);
        // The record is built while the flow's state is still in cache, and the state freed:
        // a record is a few kilobytes, the state of every group several more.
        let mut held = self.spare.pop().unwrap_or_default();
        finished.write_into(&mut held);
        self.add(summary, held)
    }

    fn write_flows(
        &mut self,
        flows: &mut Vec<FinishedFlow>,
        _scratch: &mut Vec<Row>,
    ) -> io::Result<()> {
        // The records are built together straight into rows the window holds.
        let mut rows = std::mem::take(&mut self.batch);
        let written = flows.chunks_mut(RECORD_BATCH).try_for_each(|batch| {
            rows.clear();
            rows.extend(batch.iter().map(|_| self.spare.pop().unwrap_or_default()));
            FinishedFlow::write_all(batch, &mut rows);
            batch
                .iter()
                .zip(rows.drain(..))
                .try_for_each(|(finished, held)| self.add(FlowSummary::of(finished), held))
        });
        flows.clear();
        self.batch = rows;
        written
    }

    fn tick(&mut self) -> io::Result<()> {
        self.inner.tick()
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.close_step()?;
        if self.steps_closed_full > 0 {
            eprintln!(
                "capture: note: {} connection-window steps reached {} flows and closed early: their records saw less than half a window",
                self.steps_closed_full, self.max_step_flows
            );
        }
        Box::new(self.inner).finish()
    }
}

/// Per-address totals over the window.
#[derive(Debug)]
struct Node {
    flows_out: u64,
    flows_in: u64,
    packets_sent: u64,
    bytes_sent: u64,
    packets_received: u64,
    bytes_received: u64,
    dst_ports: Vec<u16>,
    first_seen: f64,
    last_seen: f64,
    /// Start times of the flows the address took part in, on either side.
    starts: Vec<f64>,
    /// Their standard deviation and longest burst, once the window's flows are all in.
    start_spread: f64,
    longest_burst: usize,
}

impl Node {
    fn new() -> Self {
        Self {
            flows_out: 0,
            flows_in: 0,
            packets_sent: 0,
            bytes_sent: 0,
            packets_received: 0,
            bytes_received: 0,
            dst_ports: Vec::new(),
            first_seen: f64::INFINITY,
            last_seen: 0.0,
            starts: Vec::new(),
            start_spread: 0.0,
            longest_burst: 0,
        }
    }

    /// As new, keeping the lists' room.
    fn reset(&mut self) {
        let (mut dst_ports, mut starts) = (
            std::mem::take(&mut self.dst_ports),
            std::mem::take(&mut self.starts),
        );
        dst_ports.clear();
        starts.clear();
        *self = Self {
            dst_ports,
            starts,
            ..Self::new()
        };
    }
}

/// Per-(initiator, responder) totals over the window.
#[derive(Debug, Default)]
struct Edge {
    flows: u64,
}

/// The window's address graph with every measure the records need. One is kept for the whole
/// run and rebuilt at every step, keeping its maps' and lists' room.
#[derive(Debug, Default)]
struct WindowGraph {
    index: HashMap<IpAddr, usize>,
    nodes: Vec<Node>,
    /// The initiator's and responder's nodes of each flow of the window, in window order.
    flow_nodes: Vec<(usize, usize)>,
    /// Nodes of an earlier graph, taken as addresses appear.
    spare_nodes: Vec<Node>,
    edges: HashMap<(usize, usize), Edge>,
    /// The window's (initiator, responder) pairs in order of first flow.
    edge_order: Vec<(usize, usize)>,
    /// Flows per (initiator, responder, responder port): one map for the window instead of a
    /// list per edge, which was an allocation per edge and window.
    port_flows: HashMap<(usize, usize, u16), u64>,
    digraph: graph::Digraph,
    undirected: graph::Undirected,
    brandes: graph::Brandes,
    louvain: graph::Louvain,
    betweenness: Vec<f64>,
    clustering: Vec<f64>,
    community: Vec<usize>,
}

impl WindowGraph {
    /// Rebuilds the graph from the flows of the step before and of this step, in that order.
    fn build(&mut self, previous: &[FlowSummary], current: &[FlowSummary]) {
        let flows = previous.len() + current.len();
        // Room for every flow's two addresses and its pair at once: the maps never grow
        // within a step.
        self.spare_nodes.append(&mut self.nodes);
        self.index.clear();
        self.index.reserve(2 * flows);
        self.nodes.reserve(2 * flows);
        self.flow_nodes.clear();
        self.flow_nodes.reserve(flows);
        self.edges.clear();
        self.edges.reserve(flows);
        self.edge_order.clear();
        self.port_flows.clear();
        self.port_flows.reserve(flows);
        for f in previous.iter().chain(current) {
            let src = self.node(f.src);
            let dst = self.node(f.dst);
            self.flow_nodes.push((src, dst));
            for (id, sent) in [(src, true), (dst, false)] {
                let n = &mut self.nodes[id];
                if sent {
                    n.flows_out += 1;
                    n.packets_sent += f.packets;
                    n.bytes_sent += f.bytes;
                    n.dst_ports.push(f.dst_port);
                } else {
                    n.flows_in += 1;
                    n.packets_received += f.packets;
                    n.bytes_received += f.bytes;
                }
                n.first_seen = n.first_seen.min(f.start);
                n.last_seen = n.last_seen.max(f.end);
                n.starts.push(f.start);
            }
            let edge_order = &mut self.edge_order;
            let edge = self.edges.entry((src, dst)).or_insert_with(|| {
                edge_order.push((src, dst));
                Edge::default()
            });
            edge.flows += 1;
            *self.port_flows.entry((src, dst, f.dst_port)).or_insert(0) += 1;
        }
        for n in &mut self.nodes {
            n.dst_ports.sort_unstable();
            n.dst_ports.dedup();
            n.starts.sort_unstable_by(f64::total_cmp);
            n.start_spread = population_std(&n.starts);
            n.longest_burst = longest_burst(&n.starts);
        }
        self.digraph.reset(self.nodes.len());
        for &(a, b) in &self.edge_order {
            self.digraph.add_edge(a, b);
        }
        self.digraph
            .betweenness_into(&mut self.brandes, &mut self.betweenness);
        // Community edges weigh the flows between the two addresses, both ways together.
        let edges = &self.edges;
        self.digraph.undirected_into(
            |a, b| {
                let flows = |k| edges.get(&k).map_or(0, |e: &Edge| e.flows);
                if a == b {
                    flows((a, a)) as f64
                } else if a < b || !edges.contains_key(&(b, a)) {
                    (flows((a, b)) + flows((b, a))) as f64
                } else {
                    0.0
                }
            },
            &mut self.undirected,
        );
        self.undirected.clustering_into(&mut self.clustering);
        self.undirected
            .louvain_into(&mut self.louvain, &mut self.community);
    }

    fn node(&mut self, address: IpAddr) -> usize {
        let next = self.nodes.len();
        *self.index.entry(address).or_insert_with(|| {
            let node = match self.spare_nodes.pop() {
                Some(mut used) => {
                    used.reset();
                    used
                }
                None => Node::new(),
            };
            self.nodes.push(node);
            next
        })
    }

    /// Writes the connection columns of `flow`, the window's flow number `at`, into `row`,
    /// from feature `first` on, in registry order.
    fn write(&self, at: usize, flow: &FlowSummary, row: &mut Row, first: usize) {
        let (src, dst) = self.flow_nodes[at];
        let (s, d) = (&self.nodes[src], &self.nodes[dst]);
        let edge = &self.edges[&(src, dst)];
        let port_flows = self
            .port_flows
            .get(&(src, dst, flow.dst_port))
            .copied()
            .unwrap_or(0);
        let int = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
        let count = |v: usize| int(v as u64);
        let span = s.last_seen - s.first_seen;
        // Each value straight into its column: gathered in an array of `Value`s first, they
        // were copied through the stack in pieces that the next loads had to wait for.
        let mut column = first;
        let mut put = |v: Value<'_>| {
            row.set(column, v);
            column += 1;
        };
        put(count(self.digraph.out[src].len()));
        put(count(self.digraph.inn[dst].len()));
        put(int(edge.flows));
        put(int(port_flows));
        put(int(s.flows_out));
        put(int(d.flows_in));
        put(int(s.packets_sent));
        put(int(s.bytes_sent));
        put(int(d.packets_received));
        put(int(d.bytes_received));
        put(count(s.dst_ports.len()));
        put(count(self.digraph.out[src].len()));
        put(count(self.digraph.inn[dst].len()));
        put(Value::Float(self.betweenness[src]));
        put(Value::Float(self.betweenness[dst]));
        put(count(self.community[src]));
        put(count(self.community[dst]));
        put(Value::Int(i64::from(
            self.community[src] == self.community[dst],
        )));
        put(Value::Float(self.clustering[src]));
        put(Value::Float(self.clustering[dst]));
        put(Value::Float(if span > 0.0 {
            s.flows_out as f64 / span
        } else {
            0.0
        }));
        put(Value::Float(s.start_spread));
        put(count(s.longest_burst));
    }
}

fn population_std(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
}

/// Longest run of sorted times each within [`BURST_GAP_SECS`] of the one before.
fn longest_burst(sorted: &[f64]) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let (mut longest, mut run) = (1, 1);
    for pair in sorted.windows(2) {
        if pair[1] - pair[0] <= BURST_GAP_SECS {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 1;
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FEATURES;

    #[derive(Default)]
    struct Collect(Vec<Row>);

    impl RecordSink for &mut Collect {
        fn write_row(&mut self, row: &Row) -> io::Result<()> {
            self.0.push(row.clone());
            Ok(())
        }

        fn finish(self: Box<Self>) -> io::Result<()> {
            Ok(())
        }
    }

    fn record(src: &'static str, dst: &'static str, port: i64, start: f64, end: f64) -> Row {
        let mut row = Row::from_values(FEATURES.iter().map(|_| Value::Int(0)));
        let mut set = |name: &str, v: Value| row.set(index_of(name).expect(name), v);
        set("src_ip", Value::Str(src));
        set("dst_ip", Value::Str(dst));
        set("dst_port", Value::Int(port));
        set("start_time", Value::Float(start));
        set("end_time", Value::Float(end));
        set("total_packets", Value::Int(2));
        set("total_bytes", Value::Int(100));
        row
    }

    fn int(row: &Row, name: &str) -> i64 {
        match row.get(name) {
            Some(Value::Int(n)) => n,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn records_wait_for_their_step_and_see_the_step_before() {
        let mut out = Collect::default();
        let mut window = ConnectionWindow::new(&mut out, 300.0);
        window
            .write_row(&record("10.0.0.1", "10.0.0.2", 80, 0.0, 1.0))
            .unwrap();
        window
            .write_row(&record("10.0.0.1", "10.0.0.3", 443, 5.0, 100.0))
            .unwrap();
        window
            .write_row(&record("10.0.0.1", "10.0.0.2", 80, 120.0, 140.0))
            .unwrap();
        assert_eq!(
            window.held.len(),
            3,
            "all three ended in the first half-window step"
        );
        // Ends 150 s after the first flow: the first step closes, its records see all three flows.
        window
            .write_row(&record("10.0.0.1", "10.0.0.4", 22, 150.0, 160.0))
            .unwrap();
        assert_eq!(window.inner.0.len(), 3);
        let first = &window.inner.0[0];
        assert_eq!(int(first, "conn_src_total_flows"), 3);
        assert_eq!(int(first, "conn_src_dst_flows"), 2);
        assert_eq!(int(first, "conn_src_unique_dsts"), 2);
        assert_eq!(int(first, "conn_src_unique_ports"), 2);
        assert_eq!(int(first, "conn_src_total_bytes"), 300);
        assert_eq!(int(first, "conn_burst_connections"), 1);
        // The next step's record sees its own step and the one before: four flows, three peers.
        // Then a flow three steps later: the steps between held nothing, its graph is itself.
        window
            .write_row(&record("10.0.0.1", "2001:db8::5", 22, 900.0, 910.0))
            .unwrap();
        Box::new(window).finish().unwrap();
        let last = &out.0[3];
        assert_eq!(int(last, "conn_src_total_flows"), 4);
        assert_eq!(int(last, "conn_src_unique_dsts"), 3);
        let alone = &out.0[4];
        assert_eq!(int(alone, "conn_src_total_flows"), 1);
        assert_eq!(
            int(alone, "conn_same_community"),
            1,
            "two linked addresses form one community"
        );
        assert_eq!(out.0.len(), 5, "every record is written exactly once");
        for def in FEATURES.iter().filter(|f| f.group == Group::Connection) {
            assert_eq!(
                last.get(def.name).map(|v| v.kind()),
                Some(def.kind),
                "{}",
                def.name
            );
        }
    }

    #[test]
    fn a_full_step_closes_early() {
        let mut out = Collect::default();
        let mut window = ConnectionWindow::new(&mut out, 300.0).with_step_limit(2);
        for i in 0..5 {
            window
                .write_row(&record(
                    "10.0.0.1",
                    "10.0.0.2",
                    80,
                    f64::from(i),
                    f64::from(i),
                ))
                .unwrap();
        }
        assert_eq!(window.steps_closed_full(), 2);
        Box::new(window).finish().unwrap();
        let flows: Vec<i64> = out
            .0
            .iter()
            .map(|r| int(r, "conn_src_total_flows"))
            .collect();
        // Steps of two records; each sees itself and the step before.
        assert_eq!(flows, vec![2, 2, 4, 4, 3]);
    }

    #[test]
    fn bursts_chain_starts_within_a_second() {
        assert_eq!(longest_burst(&[0.0, 0.5, 1.4, 3.0, 3.9, 5.0]), 3);
        assert_eq!(longest_burst(&[]), 0);
        assert!((population_std(&[1.0, 3.0]) - 1.0).abs() < 1e-12);
    }
}
