"""The long schema-driven fuzz run of the HTTP API (the CI run is tests/fuzz/test_api_fuzz.py).

    .venv/bin/python bench/fuzz_api.py [--cases 10000] [--seed 20200604] [--per-round 100]
                                       [--json FILE]

Starts a real `joingate serve` on a temporary directory (test GeoIP DB, SQLite), records two
authority requests and two restrictions, then fuzzes every operation of its /openapi.json in
positive and negative mode with Schemathesis, `--per-round` examples per operation and mode
per round, each round with the next seed, until at least `--cases` requests were sent. Every
answer goes through the checks in tests/fuzz/driver.py (no 5xx; error documents naming the
field; nothing written by a refused request; the jurisdiction rule). Prints the cases sent,
the statuses seen (overall and per operation) and each distinct failure with a curl command
that replays it. Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import result_json  # the bench/ folder is on sys.path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from joingate.testing.service import JoingateService
from tests.fuzz.conftest import ENV
from tests.fuzz.driver import Fuzzer, plan, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="send at least this many")
    parser.add_argument("--seed", type=int, default=20200604, help="seed of the first round")
    parser.add_argument("--per-round", type=int, default=100,
                        help="examples per operation and mode in each round")
    result_json.add_option(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="joingate-fuzz-") as tmp, \
            JoingateService(Path(tmp) / "svc", env=ENV) as service:
        fuzzer = Fuzzer(service)
        started = time.monotonic()
        rounds = 0
        try:
            fuzzer.seed_objects()
            while fuzzer.tally.cases < args.cases:
                before = fuzzer.tally.cases
                for label, mode in plan(fuzzer):
                    fuzzer.run(label, mode, args.per_round, args.seed + rounds)
                    if fuzzer.tally.cases >= args.cases:
                        break
                rounds += 1
                print(f"round {rounds} (seed {args.seed + rounds - 1}): "
                      f"{fuzzer.tally.cases - before} cases, {fuzzer.tally.cases} in all, "
                      f"{time.monotonic() - started:.0f} s", file=sys.stderr)
        finally:
            fuzzer.close()
        elapsed = time.monotonic() - started

    tally = fuzzer.tally
    print(f"seed {args.seed}, {rounds} rounds of {args.per_round} examples per operation "
          f"and mode, {elapsed:.0f} s ({tally.cases / elapsed:.0f} cases/s)")
    print(summary(tally))
    if tally.failures:
        print("\nfailures (first example of each):")
        print(tally.report(limit=100))
    failures = sum(tally.failure_counts.values())
    result_json.write(args.json, [result_json.row(
        "API fuzzing (Schemathesis over every operation of `/openapi.json`, positive and "
        "negative)",
        f"— (a fresh `joingate serve`: SQLite, the test GeoIP DB; seeds from {args.seed})",
        f"{tally.cases:,} cases in {elapsed:.0f} s; statuses "
        + ", ".join(f"{s}: {n:,}" for s, n in sorted(tally.statuses.items()))
        + f"; {failures} failures ({len(tally.failures)} distinct"
        + (": " + "; ".join(f"{f.operation} {f.check}" for f in tally.failures.values())
           if tally.failures else "") + ")",
        "no 5xx, every check held")])
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
