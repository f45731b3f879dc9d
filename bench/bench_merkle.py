"""Cost of the audit log's public consistency proofs (GET /v1/audit/consistency).

Floor, measured in the same run: one RFC 9162 node hash (SHA-256 of 65 bytes). For logs of
1,000 / 10,000 / 100,000 entries it prints, as multiples of that floor and in microseconds:
a proof from the service's in-memory tree (what a request costs now), the same proof
recomputed from the leaf hashes (the tree rebuilt per request), and the leaf hash of one
entry (paid once per entry, as entries are appended).

    python bench/bench_merkle.py [--json FILE]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import result_json  # the bench/ folder is on sys.path

from joingate.audit import AuditEntry, leaf_hashes, make_entry
from joingate.merkle import Tree, consistency_proof, node_hash


def best(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Best of `repeat` runs, seconds per call."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - started) / number)
    return min(times)


def entries(n: int) -> list[AuditEntry]:
    made: list[AuditEntry] = []
    prev = None
    for i in range(n):
        prev = make_entry(prev, "2026-06-04T00:00:00Z", "token:admin", "restriction.create",
                          f"restriction/{i}", {"rooms": ["vigil"], "countries": ["CN"],
                                               "mode": "block", "reason": "request 12 (R-1)",
                                               "request": 12, "starts_at": None,
                                               "ends_at": None})
        made.append(prev)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result_json.add_option(parser)
    args = parser.parse_args()
    a, b = b"a" * 32, b"b" * 32
    floor = best(lambda: node_hash(a, b), number=100_000)
    print(f"floor: one node hash {floor * 1e9:.0f} ns")
    sizes = (1_000, 10_000, 100_000)
    figures = [measure(n, floor) for n in sizes]

    def series(i: int, scale: float, unit: str) -> str:
        return (" / ".join(f"{f[i] * scale:,.1f}" for f in figures) + f" {unit} ("
                + " / ".join(f"{f[i] / floor:,.0f}x" for f in figures) + ")")
    result_json.write(args.json, [result_json.row(
        "audit consistency proof (`GET /v1/audit/consistency`)",
        f"one RFC 9162 node hash, same run ({floor * 1e9:,.0f} ns)",
        "at " + " / ".join(f"{n:,}" for n in sizes) + " entries: from the tree the service "
        f"keeps {series(0, 1e6, 'us')}; the same proof with the tree rebuilt per request "
        f"{series(1, 1e3, 'ms')}; leaf hash per entry {series(2, 1e6, 'us')}",
        "O(log² n), flat")])


def measure(n: int, floor: float) -> tuple[float, float, float]:
    """Seconds per proof from the kept tree, per proof rebuilt, per leaf hash."""
    log = entries(n)
    leaves = leaf_hashes(log)
    tree = Tree(leaves)
    firsts = (1, n // 3, n // 2 + 1, n - 1)
    kept = best(lambda: [tree.consistency_proof(m, n) for m in firsts], number=20) / 4
    rebuilt = best(lambda: consistency_proof(n // 3, leaves), repeat=3)
    leaf = best(lambda: leaf_hashes(log[:1000]), repeat=3) / 1000
    print(f"{n:>7} entries: proof from the kept tree {kept * 1e6:8.1f} us "
          f"({kept / floor:7.0f}x floor); rebuilt per request {rebuilt * 1e6:10.0f} us "
          f"({rebuilt / floor:9.0f}x); leaf hash per entry {leaf * 1e6:.1f} us "
          f"({leaf / floor:.0f}x)")
    return kept, rebuilt, leaf


if __name__ == "__main__":
    main()
