#!/usr/bin/env python3
"""Checks capture's connection group against JoyfulJay's own ConnectionGraph (networkx behind it)
fed with capture's flows, so that the graph measures are compared on the same flows whatever
the two tools' flow segmentation. Usage: check_connection.py CAPTURE_BINARY OUT_DIR PCAP...
Every capture given, and a generated one whose address graph has communities, triangles and
flows both ways, is extracted with `--features flow_meta connection --connection-window 1e9`,
so that the window holds the whole input, as JoyfulJay's graph does.

Louvain: networkx shuffles nodes at random, and its undirected graph keeps the flow count of
one direction only; the reference here runs networkx's Louvain with the shuffle off on flow
counts of both directions, as capture defines it (docs/deviations.md)."""
import math
import random
import struct
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import pandas as pd
from joyfuljay.analysis.connection_graph import ConnectionGraph


class NoShuffle(random.Random):
    def shuffle(self, x, *args, **kwargs):
        pass


def reference(df):
    graph = ConnectionGraph(include_graph_metrics=True, include_temporal=True)
    flows = []
    for r in df.itertuples():
        flow = SimpleNamespace(
            initiator_ip=r.src_ip,
            responder_ip=r.dst_ip,
            initiator_port=int(r.src_port),
            responder_port=int(r.dst_port),
            total_packets=int(r.total_packets),
            total_bytes=int(r.total_bytes),
            start_time=float(r.start_time),
            last_seen=float(r.end_time),
        )
        flows.append(flow)
        graph.add_flow(flow)
    graph.build_graph()
    undirected = nx.Graph()
    undirected.add_nodes_from(graph._graph.nodes)
    for u, v, data in graph._graph.edges(data=True):
        w = data["flow_count"]
        if undirected.has_edge(u, v):
            undirected[u][v]["weight"] += w
        else:
            undirected.add_edge(u, v, weight=w)
    communities = nx.community.louvain_communities(undirected, weight="weight", seed=NoShuffle())
    graph._communities = {node: i for i, c in enumerate(communities) for node in c}
    return [graph.get_flow_metrics(f, True, True) for f in flows]


def write_mesh_pcap(path):
    """UDP flows among 48 hosts in four groups, mostly within a group: Louvain has work to do."""
    rng = random.Random(7)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    t = 1_700_000_000.0
    for i in range(600):
        group = rng.randrange(4)
        a = group * 12 + rng.randrange(12)
        b = group * 12 + rng.randrange(12) if rng.random() < 0.85 else rng.randrange(48)
        if a == b:
            b = (b + 1) % 48
        t += rng.choice([0.05, 0.4, 0.9, 1.5, 3.0])
        payload = bytes(rng.randrange(1, 60))
        udp = struct.pack("!HHHH", 20000 + i, rng.choice([53, 80, 443, 8080]), 8 + len(payload), 0)
        total = 20 + len(udp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, i, 0, 64, 17, 0,
                         bytes([10, 0, a // 256, a % 256 + 1]), bytes([10, 0, b // 256, b % 256 + 1]))
        frame = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + udp + payload
        sec = int(t)
        out.append(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


capture, out_dir, pcaps = sys.argv[1], Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]]
out_dir.mkdir(parents=True, exist_ok=True)
mesh = out_dir / "mesh.pcap"
write_mesh_pcap(mesh)
failures = []
compared = 0
for pcap in pcaps + [mesh]:
    csv_path = out_dir / f"{pcap.stem}.connection.csv"
    subprocess.run([capture, "extract", str(pcap), "-o", str(csv_path), "--quiet",
                    "--features", "flow_meta", "connection", "--connection-window", "1e9"],
                   check=True, stderr=subprocess.DEVNULL)
    df = pd.read_csv(csv_path, keep_default_na=False)
    if df.empty:
        continue
    if pcap == mesh:
        communities = set(df["conn_src_community"])
        if len(communities) < 3 or not (df["conn_src_clustering"] > 0).any():
            failures.append(f"the generated mesh should show communities and triangles: {len(communities)} communities")
    for i, expected in enumerate(reference(df)):
        for column, want in expected.items():
            got = df[column].iloc[i]
            compared += 1
            if isinstance(want, float):
                ok = math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-12)
            else:
                ok = int(got) == int(want)
            if not ok:
                failures.append(f"{pcap.name} row {i} {column}: capture {got}, joyfuljay {want}")

print(f"connection: {compared} values compared on {len(pcaps) + 1} captures, {len(failures)} differ")
for f in failures[:40]:
    print("  " + f)
sys.exit(1 if failures else 0)
