#!/usr/bin/env python3
"""Opens capture's outputs with pandas, polars and DuckDB, as a data scientist would, and checks
that every format holds the same flows with typed columns. Usage: check_outputs.py DIR
(DIR holds flows.parquet, flows.csv, flows.jsonl and flows.csv.zst from the same input)."""
import sys
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl

d = Path(sys.argv[1])
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


pq = pd.read_parquet(d / "flows.parquet")
csv = pd.read_csv(d / "flows.csv")
jsonl = pd.read_json(d / "flows.jsonl", lines=True)
zst = pd.read_csv(d / "flows.csv.zst", compression="zstd")
n = len(pq)
check(n > 0, "parquet has rows")
for name, df in [("csv", csv), ("jsonl", jsonl), ("csv.zst", zst)]:
    check(len(df) == n, f"{name} has {len(df)} rows, parquet {n}")
    check(list(df.columns) == list(pq.columns), f"{name} columns differ from parquet")

check(str(pq["total_packets"].dtype) == "int64", f"total_packets is {pq['total_packets'].dtype}")
check(str(pq["duration"].dtype) == "float64", f"duration is {pq['duration'].dtype}")
check(str(pq["tcp_is_tcp"].dtype) == "bool", f"tcp_is_tcp is {pq['tcp_is_tcp'].dtype}")
check(str(csv["tcp_is_tcp"].dtype) == "bool", "pandas reads CSV booleans as bool")
check(pq["src_ip"].map(type).eq(str).all(), "src_ip holds strings")
for col in ["total_packets", "total_bytes", "src_port", "ja3_hash", "hdr_desc", "flow_end_reason"]:
    a = pq[col].astype(str).tolist()
    b = csv[col].fillna("").astype(str).tolist()
    check(a == b, f"{col} differs between parquet and csv")
check(abs(pq["duration"].sum() - csv["duration"].sum()) < 1e-6, "durations agree")

pl_df = pl.read_parquet(d / "flows.parquet")
check(pl_df.height == n, "polars reads the parquet")
check(pl_df.schema["total_bytes"] == pl.Int64, f"polars total_bytes is {pl_df.schema['total_bytes']}")
check(pl.read_csv(d / "flows.csv").height == n, "polars reads the csv")

con = duckdb.connect()
rows = con.execute(f"select count(*), sum(total_packets) from read_parquet('{d / 'flows.parquet'}')").fetchone()
check(rows[0] == n and rows[1] == pq["total_packets"].sum(), f"duckdb sees {rows}")
types = {r[0]: r[1] for r in con.execute(f"describe select * from read_parquet('{d / 'flows.parquet'}')").fetchall()}
check(types.get("src_ip") == "VARCHAR", f"duckdb src_ip type {types.get('src_ip')}")
check(types.get("total_packets") == "BIGINT", f"duckdb total_packets type {types.get('total_packets')}")
check(types.get("tls_detected") == "BOOLEAN", f"duckdb tls_detected type {types.get('tls_detected')}")

if failures:
    print("output compatibility: FAILED")
    for f in failures:
        print("  -", f)
    sys.exit(1)
print(f"output compatibility: pandas, polars and DuckDB read {n} flows from parquet, csv, jsonl and csv.zst alike")
