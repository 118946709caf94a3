//! Graph measures of the connection window: betweenness centrality (Brandes), clustering
//! coefficients and Louvain communities. They follow the definitions networkx uses (JoyfulJay
//! computes these features with networkx), written here because no maintained Rust crate offers
//! all three over a graph we rebuild every window step; nodes are visited in insertion order, so
//! results are deterministic where networkx shuffles.
//!
//! A window step's graph is rebuilt into the buffers of the step before: adjacency lists,
//! search state and Louvain's levels keep their room, so that once they have grown to the
//! window's size a step allocates nothing (a step of a hundred flows used to make a few hundred
//! allocations, most of its graph's cost).

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;

/// Windows with more addresses than this estimate betweenness from this many source nodes.
pub const EXACT_BETWEENNESS_NODES: usize = 4096;
const BETWEENNESS_SAMPLES: usize = 512;

/// Makes `lists` `n` empty lists, taking them from `spare` (where the old ones go, emptied)
/// before making new ones.
fn reset_lists<T>(lists: &mut Vec<Vec<T>>, spare: &mut Vec<Vec<T>>, n: usize) {
    for mut list in lists.drain(..) {
        list.clear();
        spare.push(list);
    }
    lists.extend((0..n).map(|_| spare.pop().unwrap_or_default()));
}

/// `values` made `n` copies of `value`, keeping its room.
fn refill<T: Clone>(values: &mut Vec<T>, n: usize, value: T) {
    values.clear();
    values.resize(n, value);
}

/// Directed graph of addresses; nodes are numbered in order of first appearance.
#[derive(Debug, Default)]
pub struct Digraph {
    /// Successors of each node, in order of first edge (self-loops included).
    pub out: Vec<Vec<usize>>,
    /// Predecessors of each node, in order of first edge (self-loops included).
    pub inn: Vec<Vec<usize>>,
    spare: Vec<Vec<usize>>,
}

/// Brandes' search state, kept from one graph to the next.
#[derive(Debug, Default)]
pub struct Brandes {
    sources: Vec<usize>,
    order: Vec<usize>,
    preds: Vec<Vec<usize>>,
    spare: Vec<Vec<usize>>,
    sigma: Vec<f64>,
    dist: Vec<i64>,
    delta: Vec<f64>,
    queue: VecDeque<usize>,
}

impl Digraph {
    /// A graph of `n` nodes and no edges.
    #[cfg(test)]
    pub fn with_nodes(n: usize) -> Self {
        let mut g = Self::default();
        g.reset(n);
        g
    }

    /// Makes this graph one of `n` nodes and no edges, keeping the lists' room.
    pub fn reset(&mut self, n: usize) {
        reset_lists(&mut self.out, &mut self.spare, n);
        reset_lists(&mut self.inn, &mut self.spare, n);
    }

    /// Adds the edge `from -> to`, known to be new.
    pub fn add_edge(&mut self, from: usize, to: usize) {
        self.out[from].push(to);
        self.inn[to].push(from);
    }

    fn len(&self) -> usize {
        self.out.len()
    }

    /// [`Self::betweenness_into`] with state of its own.
    #[cfg(test)]
    pub fn betweenness(&self) -> Vec<f64> {
        let mut centrality = Vec::new();
        self.betweenness_into(&mut Brandes::default(), &mut centrality);
        centrality
    }

    /// Normalised betweenness centrality of every node, into `centrality`: the share of
    /// shortest directed paths between other pairs that pass through it, scaled by
    /// 1/((n-1)(n-2)) as networkx does. Above [`EXACT_BETWEENNESS_NODES`] nodes, sources are
    /// sampled at an even stride and the sum scaled by n/k (networkx's `k` estimate, with a
    /// deterministic choice of sources).
    pub fn betweenness_into(&self, state: &mut Brandes, centrality: &mut Vec<f64>) {
        let n = self.len();
        refill(centrality, n, 0.0);
        let Brandes {
            sources,
            order,
            preds,
            spare,
            sigma,
            dist,
            delta,
            queue,
        } = state;
        sources.clear();
        if n > EXACT_BETWEENNESS_NODES {
            sources.extend((0..BETWEENNESS_SAMPLES).map(|i| i * n / BETWEENNESS_SAMPLES));
        } else {
            sources.extend(0..n);
        }
        order.clear();
        reset_lists(preds, spare, n);
        refill(sigma, n, 0.0);
        refill(dist, n, -1);
        refill(delta, n, 0.0);
        queue.clear();
        for &s in sources.iter() {
            // A source without successors reaches no other node: it adds to no one's
            // centrality. Most addresses of a window are such leaves (servers that never open
            // a flow), so passing over them saves most of the searches.
            if self.out[s].is_empty() {
                continue;
            }
            // Only the nodes the last search reached hold anything to reset.
            for &v in order.iter() {
                preds[v].clear();
                sigma[v] = 0.0;
                dist[v] = -1;
                delta[v] = 0.0;
            }
            order.clear();
            sigma[s] = 1.0;
            dist[s] = 0;
            queue.push_back(s);
            while let Some(v) = queue.pop_front() {
                order.push(v);
                for &w in &self.out[v] {
                    if dist[w] < 0 {
                        dist[w] = dist[v] + 1;
                        queue.push_back(w);
                    }
                    if dist[w] == dist[v] + 1 {
                        sigma[w] += sigma[v];
                        preds[w].push(v);
                    }
                }
            }
            for &w in order.iter().rev() {
                let coefficient = (1.0 + delta[w]) / sigma[w];
                for &v in &preds[w] {
                    delta[v] += sigma[v] * coefficient;
                }
                if w != s {
                    centrality[w] += delta[w];
                }
            }
        }
        if n > 2 {
            let mut scale = 1.0 / ((n - 1) as f64 * (n - 2) as f64);
            if sources.len() < n {
                scale *= n as f64 / sources.len() as f64;
            }
            for c in centrality.iter_mut() {
                *c *= scale;
            }
        }
    }

    /// The undirected graph with state of its own (see [`Self::undirected_into`]).
    #[cfg(test)]
    pub fn undirected(&self, weight: impl Fn(usize, usize) -> f64) -> Undirected {
        let mut g = Undirected::default();
        self.undirected_into(weight, &mut g);
        g
    }

    /// The undirected graph, into `g`: neighbours in the order networkx's `to_undirected`
    /// inserts them (nodes in order, each node's successors in order), self-loops kept apart.
    pub fn undirected_into(&self, weight: impl Fn(usize, usize) -> f64, g: &mut Undirected) {
        g.reset(self.len());
        // Each directed edge makes at most one undirected one, listed from both ends.
        let edges: usize = self.out.iter().map(Vec::len).sum();
        g.index.reserve(2 * edges);
        for (u, successors) in self.out.iter().enumerate() {
            for &v in successors {
                g.add_weight(u, v, weight(u, v));
            }
        }
    }
}

/// Weighted undirected graph.
#[derive(Debug, Default)]
pub struct Undirected {
    /// Neighbours other than the node itself, with edge weights, in insertion order.
    adj: Vec<Vec<(usize, f64)>>,
    spare: Vec<Vec<(usize, f64)>>,
    /// Weight of each node's self-loop (0 without one).
    self_loop: Vec<f64>,
    /// Position of `v` in `adj[u]`, keyed by (u, v).
    index: HashMap<(usize, usize), usize>,
}

/// Louvain's working state, kept from one graph to the next. Communities are numbered densely,
/// in the order networkx lists them; a partition is the community number of every node.
#[derive(Debug, Default)]
pub struct Louvain {
    /// The aggregated graphs of two levels: the one being moved and the one built from it.
    levels: [Undirected; 2],
    /// The communities of the level moved last, and of the one being moved.
    inner: Vec<usize>,
    next_inner: Vec<usize>,
    /// The communities of the original nodes, as of the level moved last and the one being
    /// moved.
    partition: Vec<usize>,
    next_partition: Vec<usize>,
    /// Local moves: each node's community label (the node it started as), weighted degrees,
    /// community totals, the weights to neighbouring communities and where each one's entry
    /// is, and the dense number of each label.
    labels: Vec<usize>,
    degrees: Vec<f64>,
    total: Vec<f64>,
    weights: Vec<(usize, f64)>,
    slot: Vec<usize>,
    dense: Vec<usize>,
    modularity: ModularityScratch,
}

/// What computing a modularity needs besides the graph, kept from one call to the next.
#[derive(Debug, Default)]
struct ModularityScratch {
    /// The weighted degree of each node.
    degrees: Vec<f64>,
    /// The members of each community in node order, back to back, and where each one ends.
    members: Vec<usize>,
    ends: Vec<usize>,
}

impl Undirected {
    #[cfg(test)]
    fn with_nodes(n: usize) -> Self {
        let mut g = Self::default();
        g.reset(n);
        g
    }

    /// Makes this graph one of `n` nodes and no edges, keeping the lists' and the index's room.
    fn reset(&mut self, n: usize) {
        reset_lists(&mut self.adj, &mut self.spare, n);
        refill(&mut self.self_loop, n, 0.0);
        self.index.clear();
    }

    /// Adds `w` to the weight of the edge {u, v}, creating it when new.
    fn add_weight(&mut self, u: usize, v: usize, w: f64) {
        if u == v {
            self.self_loop[u] += w;
            return;
        }
        match self.index.get(&(u, v)) {
            Some(&i) => {
                self.adj[u][i].1 += w;
                let j = self.index[&(v, u)];
                self.adj[v][j].1 += w;
            }
            None => {
                self.index.insert((u, v), self.adj[u].len());
                self.adj[u].push((v, w));
                self.index.insert((v, u), self.adj[v].len());
                self.adj[v].push((u, w));
            }
        }
    }

    fn len(&self) -> usize {
        self.adj.len()
    }

    /// Weighted degree, a self-loop counting twice.
    fn degree(&self, u: usize) -> f64 {
        self.adj[u].iter().map(|&(_, w)| w).sum::<f64>() + 2.0 * self.self_loop[u]
    }

    #[cfg(test)]
    pub fn clustering(&self) -> Vec<f64> {
        let mut out = Vec::new();
        self.clustering_into(&mut out);
        out
    }

    /// Unweighted clustering coefficient of every node, into `out`: linked pairs among its
    /// neighbours over all pairs of them (self-loops ignored).
    pub fn clustering_into(&self, out: &mut Vec<f64>) {
        out.clear();
        out.extend((0..self.len()).map(|v| {
            let d = self.adj[v].len();
            if d < 2 {
                return 0.0;
            }
            // Each triangle through v is met twice, once from each of its other corners.
            let mut twice_triangles = 0usize;
            for &(u, _) in &self.adj[v] {
                let (small, large) = if self.adj[u].len() < d {
                    (u, v)
                } else {
                    (v, u)
                };
                twice_triangles += self.adj[small]
                    .iter()
                    .filter(|&&(x, _)| x != large && self.index.contains_key(&(large, x)))
                    .count();
            }
            twice_triangles as f64 / (d * (d - 1)) as f64
        }));
    }

    /// Modularity at resolution 1 of the partition that puts node `u` in community
    /// `community[u]`, of `count` communities numbered densely. Sums run in the order of
    /// networkx's: communities in order, each one's members in node order.
    fn modularity(
        &self,
        community: &[usize],
        count: usize,
        scratch: &mut ModularityScratch,
    ) -> f64 {
        let ModularityScratch {
            degrees,
            members,
            ends,
        } = scratch;
        degrees.clear();
        degrees.extend((0..self.len()).map(|u| self.degree(u)));
        let degree_sum: f64 = degrees.iter().sum();
        let m = degree_sum / 2.0;
        // The members of each community, in node order (a counting sort): community `c`'s
        // start is counted into `ends[c]`, which then serves as its cursor and ends at its end.
        refill(ends, count + 1, 0);
        for &c in community {
            ends[c + 1] += 1;
        }
        for c in 0..count {
            ends[c + 1] += ends[c];
        }
        refill(members, community.len(), 0);
        for (u, &c) in community.iter().enumerate() {
            members[ends[c]] = u;
            ends[c] += 1;
        }
        (0..count)
            .map(|c| {
                let start = c.checked_sub(1).map_or(0, |b| ends[b]);
                let members = &members[start..ends[c]];
                let mut inside = 0.0;
                for &u in members {
                    inside += self.self_loop[u];
                    inside += self.adj[u]
                        .iter()
                        .filter(|&&(v, _)| v > u && community[v] == c)
                        .map(|&(_, w)| w)
                        .sum::<f64>();
                }
                let degree: f64 = members.iter().map(|&u| degrees[u]).sum();
                inside / m - degree * degree / (degree_sum * degree_sum)
            })
            .sum()
    }

    /// [`Self::modularity`] of every node in a community of its own, the same sums without
    /// building the communities: inside a singleton lies only its self-loop.
    fn singleton_modularity(&self, degrees: &mut Vec<f64>) -> f64 {
        degrees.clear();
        degrees.extend((0..self.len()).map(|u| self.degree(u)));
        let degree_sum: f64 = degrees.iter().sum();
        let m = degree_sum / 2.0;
        degrees
            .iter()
            .zip(&self.self_loop)
            .map(|(&degree, &self_loop)| {
                self_loop / m - degree * degree / (degree_sum * degree_sum)
            })
            .sum()
    }

    /// [`Self::louvain_into`] with state of its own.
    #[cfg(test)]
    pub fn louvain(&self) -> Vec<usize> {
        let mut community = Vec::new();
        self.louvain_into(&mut Louvain::default(), &mut community);
        community
    }

    /// Louvain communities (resolution 1, modularity threshold 1e-7), into `community`: the
    /// community number of every node, communities numbered as networkx's
    /// `louvain_communities` lists them when its node shuffle keeps insertion order.
    pub fn louvain_into(&self, state: &mut Louvain, community: &mut Vec<usize>) {
        let n = self.len();
        community.clear();
        let has_edges =
            self.self_loop.iter().any(|&w| w > 0.0) || self.adj.iter().any(|a| !a.is_empty());
        if !has_edges {
            community.extend(0..n);
            return;
        }
        let mut modularity = self.singleton_modularity(&mut state.modularity.degrees);
        let m = state.modularity.degrees.iter().sum::<f64>() / 2.0;
        // `moved` holds the aggregated graph moved last (none yet: this one), `next` the one
        // built from it.
        let [mut moved, mut next] = std::mem::take(&mut state.levels);
        let mut aggregated = false;
        let mut count = one_level(self, m, state);
        std::mem::swap(&mut state.inner, &mut state.next_inner);
        // On the first level each node is itself: the partition is its communities.
        state.partition.clone_from(&state.inner);
        loop {
            let graph = if aggregated { &moved } else { self };
            let new_modularity = graph.modularity(&state.inner, count, &mut state.modularity);
            if new_modularity - modularity <= 1e-7 {
                break;
            }
            modularity = new_modularity;
            aggregate(graph, &state.inner, count, &mut next);
            let next_count = one_level(&next, m, state);
            // A level where no node moves leaves the partition as it was.
            if next_count == count {
                break;
            }
            // Each original node's community was a node of the level just moved.
            let Louvain {
                partition,
                next_partition,
                next_inner,
                ..
            } = state;
            next_partition.clear();
            next_partition.extend(partition.iter().map(|&c| next_inner[c]));
            std::mem::swap(&mut state.partition, &mut state.next_partition);
            std::mem::swap(&mut state.inner, &mut state.next_inner);
            std::mem::swap(&mut moved, &mut next);
            aggregated = true;
            count = next_count;
        }
        community.extend_from_slice(&state.partition);
        state.levels = [moved, next];
    }
}

/// One pass of local moves over `g`: leaves the community of each of its nodes, numbered
/// densely in the order of their labels, in `state.next_inner`, and returns how many
/// communities there are (as many as nodes when no node moved).
fn one_level(g: &Undirected, m: f64, state: &mut Louvain) -> usize {
    let n = g.len();
    let Louvain {
        labels,
        degrees,
        total,
        weights,
        slot,
        dense,
        next_inner,
        ..
    } = state;
    labels.clear();
    labels.extend(0..n);
    degrees.clear();
    degrees.extend((0..n).map(|u| g.degree(u)));
    total.clone_from(degrees);
    // Weight from the node being moved to each neighbouring community, in order of first
    // neighbour; `slot` finds a community's entry without a search.
    weights.clear();
    refill(slot, n, usize::MAX);
    loop {
        let mut moves = 0;
        for u in 0..n {
            let own = labels[u];
            for &(v, w) in &g.adj[u] {
                let c = labels[v];
                if slot[c] == usize::MAX {
                    slot[c] = weights.len();
                    weights.push((c, w));
                } else {
                    weights[slot[c]].1 += w;
                }
            }
            if slot[own] == usize::MAX {
                slot[own] = weights.len();
                weights.push((own, 0.0));
            }
            let degree = degrees[u];
            total[own] -= degree;
            let remove_cost = -weights[slot[own]].1 / m + total[own] * degree / (2.0 * m * m);
            let mut best_gain = 0.0;
            let mut best = own;
            for &(c, w) in weights.iter() {
                let gain = remove_cost + w / m - total[c] * degree / (2.0 * m * m);
                if gain > best_gain {
                    best_gain = gain;
                    best = c;
                }
            }
            total[best] += degree;
            for &(c, _) in weights.iter() {
                slot[c] = usize::MAX;
            }
            weights.clear();
            if best != own {
                labels[u] = best;
                moves += 1;
            }
        }
        if moves == 0 {
            break;
        }
    }
    // Labels in use, numbered in order.
    refill(dense, n, usize::MAX);
    for &label in labels.iter() {
        dense[label] = 0;
    }
    let mut count = 0;
    for d in dense.iter_mut().filter(|d| **d == 0) {
        *d = count;
        count += 1;
    }
    next_inner.clear();
    next_inner.extend(labels.iter().map(|&label| dense[label]));
    count
}

/// The graph of `g`'s communities, into `h`: one node per community, edge weights summed,
/// edges inside a community becoming its self-loop.
fn aggregate(g: &Undirected, community: &[usize], count: usize, h: &mut Undirected) {
    h.reset(count);
    for u in 0..g.len() {
        let cu = community[u];
        if g.self_loop[u] > 0.0 {
            h.add_weight(cu, cu, g.self_loop[u]);
        }
        for &(v, w) in &g.adj[u] {
            if v > u {
                h.add_weight(cu, community[v], w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digraph(n: usize, edges: &[(usize, usize)]) -> Digraph {
        let mut g = Digraph::with_nodes(n);
        for &(a, b) in edges {
            g.add_edge(a, b);
        }
        g
    }

    #[test]
    fn betweenness_of_a_directed_path_and_a_star() {
        // 0 -> 1 -> 2 -> 3: node 1 lies on 0->2 and 0->3, node 2 on 0->3 and 1->3; (n-1)(n-2) = 6.
        let b = digraph(4, &[(0, 1), (1, 2), (2, 3)]).betweenness();
        assert_eq!(b, vec![0.0, 2.0 / 6.0, 2.0 / 6.0, 0.0]);
        // Hub 0 with spokes in both directions: every spoke-to-spoke path passes the hub.
        let b = digraph(4, &[(1, 0), (0, 1), (2, 0), (0, 2), (3, 0), (0, 3)]).betweenness();
        assert_eq!(b, vec![1.0, 0.0, 0.0, 0.0]);
        // Two equal shortest paths 0->1->3 and 0->2->3 share the credit.
        let b = digraph(4, &[(0, 1), (0, 2), (1, 3), (2, 3)]).betweenness();
        assert_eq!(b, vec![0.0, 0.5 / 6.0, 0.5 / 6.0, 0.0]);
    }

    /// Betweenness from its definition, independent of Brandes' accumulation: for every pair
    /// (s, t) and every other node v, the share of the shortest s–t paths through v, which is
    /// σ(s, v)·σ(v, t)/σ(s, t) where d(s, v) + d(v, t) = d(s, t).
    fn betweenness_by_definition(g: &Digraph) -> Vec<f64> {
        let n = g.len();
        // Distance and number of shortest paths from every node, by breadth-first search.
        let from: Vec<(Vec<i64>, Vec<f64>)> = (0..n)
            .map(|s| {
                let (mut dist, mut paths) = (vec![-1i64; n], vec![0.0f64; n]);
                dist[s] = 0;
                paths[s] = 1.0;
                let mut frontier = vec![s];
                while !frontier.is_empty() {
                    let mut next = Vec::new();
                    for &v in &frontier {
                        for &w in &g.out[v] {
                            if dist[w] < 0 {
                                dist[w] = dist[v] + 1;
                                next.push(w);
                            }
                            if dist[w] == dist[v] + 1 {
                                paths[w] += paths[v];
                            }
                        }
                    }
                    frontier = next;
                }
                (dist, paths)
            })
            .collect();
        let mut centrality = vec![0.0; n];
        for s in 0..n {
            for t in (0..n).filter(|&t| t != s && from[s].0[t] > 0) {
                for v in (0..n).filter(|&v| v != s && v != t) {
                    let (dsv, dvt) = (from[s].0[v], from[v].0[t]);
                    if dsv > 0 && dvt > 0 && dsv + dvt == from[s].0[t] {
                        centrality[v] += from[s].1[v] * from[v].1[t] / from[s].1[t];
                    }
                }
            }
        }
        if n > 2 {
            let scale = 1.0 / ((n - 1) as f64 * (n - 2) as f64);
            for c in &mut centrality {
                *c *= scale;
            }
        }
        centrality
    }

    proptest::proptest! {
        #[test]
        fn betweenness_matches_its_definition(
            n in 1usize..40,
            pairs in proptest::collection::vec((0usize..40, 0usize..40), 0..120),
        ) {
            let mut g = Digraph::with_nodes(n);
            let mut seen = std::collections::HashSet::new();
            for (a, b) in pairs {
                let (a, b) = (a % n, b % n);
                if seen.insert((a, b)) {
                    g.add_edge(a, b);
                }
            }
            let ours = g.betweenness();
            let reference = betweenness_by_definition(&g);
            for (x, y) in ours.iter().zip(&reference) {
                proptest::prop_assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{ours:?} {reference:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn singleton_modularity_is_the_modularity_of_singletons(
            n in 1usize..30,
            pairs in proptest::collection::vec((0usize..30, 0usize..30, 1u8..5), 1..80),
        ) {
            let mut g = Undirected::with_nodes(n);
            for (a, b, w) in pairs {
                g.add_weight(a % n, b % n, f64::from(w));
            }
            let singletons: Vec<usize> = (0..n).collect();
            proptest::prop_assert_eq!(
                g.singleton_modularity(&mut Vec::new()).to_bits(),
                g.modularity(&singletons, n, &mut ModularityScratch::default()).to_bits()
            );
        }
    }

    #[test]
    fn clustering_counts_linked_neighbour_pairs() {
        // Triangle 0-1-2 plus a pendant 3 on 0: node 0 has pairs (1,2) linked, (1,3), (2,3) not.
        let g = digraph(4, &[(0, 1), (1, 2), (2, 0), (0, 3), (3, 3)]).undirected(|_, _| 1.0);
        assert_eq!(g.clustering(), vec![1.0 / 3.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn louvain_separates_two_cliques_joined_by_one_edge() {
        let mut edges = Vec::new();
        for group in [0usize, 4] {
            for a in group..group + 4 {
                for b in a + 1..group + 4 {
                    edges.push((a, b));
                }
            }
        }
        edges.push((3, 4));
        let g = digraph(8, &edges).undirected(|_, _| 1.0);
        let c = g.louvain();
        assert!(c[..4].iter().all(|&x| x == c[0]), "{c:?}");
        assert!(c[4..].iter().all(|&x| x == c[4]), "{c:?}");
        assert_ne!(c[0], c[4]);
        // A graph without edges keeps every node alone.
        assert_eq!(
            digraph(3, &[]).undirected(|_, _| 1.0).louvain(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn sampled_betweenness_stays_close_on_a_large_star() {
        let n = EXACT_BETWEENNESS_NODES + 100;
        let edges: Vec<(usize, usize)> = (1..n).flat_map(|i| [(0, i), (i, 0)]).collect();
        let b = digraph(n, &edges).betweenness();
        assert!((b[0] - 1.0).abs() < 0.05, "{}", b[0]);
        assert!(b[1..].iter().all(|&x| x == 0.0));
    }
}
