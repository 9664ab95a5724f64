"""Reading a partition back: `KafkaRestClient.iter_records` (default page size) vs Microsoft's sample loop.

Setup (not measured): `provision up`, then `provision access grant bench-consumer` writes a client config; the
client is `provision.clientconfig.load(path).build_client()`. 5,000 records are produced to a one-partition topic.

Measured, same run, same records:
- `iter_records`: pages of DEFAULT_PAGE_SIZE records (reads the log-end offset first, so no trailing empty page);
- the sample's loop (rest-proxy.md): `GET .../offsets/{offset}?count=2`, following the `NextOffset` header until it
  stops moving, with `requests.get` per call (a new connection each time, as the sample does) and one token;
- the same sample loop over one keep-alive `requests.Session`, to separate the page size from connection set-up.
Requests are counted from the emulator's request log.

Bounded: each sample loop stops after `--budget` seconds. When it does, its records/s is measured over the part it
read, and `requests_full` adds the requests the rest would take (one per 2 records, plus the final empty page, as the
loop is deterministic); the row is marked `partial`. `rtt_ms` is the median round trip of a small keep-alive GET
to the emulator, the per-request floor every reader pays.

    python bench/bench_kafkarest_consume.py [--records 5000] [--budget 40] [--json]
"""

from __future__ import annotations

import time

import requests

import _common as c
from provision import clientconfig
from provision.emulator import launcher
from provision.kafkarest.client import DEFAULT_PAGE_SIZE

TOPIC = "bench-consume"


def sample_loop(get, base: str, token: str, ca: str, budget: float) -> tuple[int, bool]:
    """Microsoft's sample: count=2 per request, follow NextOffset until it equals the offset asked for.
    (records read, finished) — it gives up after `budget` seconds."""
    offset, records = 0, 0
    deadline = time.perf_counter() + budget
    while True:
        if time.perf_counter() > deadline:
            return records, False
        r = get(f"{base}/v1/consumer/topics/{TOPIC}/partitions/0/offsets/{offset}?count=2",
                headers={"Authorization": f"Bearer {token}"}, verify=ca, timeout=10)
        r.raise_for_status()
        records += len(r.json()["records"])
        next_offset = int(r.headers["NextOffset"])
        if next_offset == offset:
            return records, True
        offset = next_offset


def measure(admin: launcher.Admin, fn) -> tuple[int, bool, float, int]:
    """(records read, finished, seconds, REST proxy requests in the log)."""
    seq = admin.last_seq()
    started = time.perf_counter()
    n, finished = fn()
    took = time.perf_counter() - started
    reqs = [e for e in admin.requests(seq) if e["family"] == "kafkarest"]
    return n, finished, took, len(reqs)


def round_trip_ms(info: launcher.EmulatorInfo, runs: int = 20) -> float:
    with requests.Session() as http:
        times = []
        for _ in range(runs + 1):
            started = time.perf_counter()
            http.get(f"{info.url}/_emulator/health", verify=str(info.ca_cert), timeout=10).raise_for_status()
            times.append(time.perf_counter() - started)
    return c.median(times[1:]) * 1000


def main() -> None:
    args = c.arguments(__doc__.splitlines()[0], records=(int, 5000, "records to produce and read back"),
                       budget=(float, 40.0, "seconds each sample loop may run before it stops"))
    with c.workdir("consume") as root:
        with c.emulator(root) as info:
            env = c.cli_env(info, root)
            admin = launcher.Admin(info)
            c.run_cli(["up", "--output", "json"], env, root)
            config = root / "consumer.env"
            c.run_cli(["access", "grant", "bench-consumer", "--out", str(config), "--output", "json"], env, root)
            cfg = clientconfig.load(config, environ={})
            kr = cfg.build_client()
            deadline = time.monotonic() + 30
            while True:  # the new member reaches the proxy within membership_propagation_seconds
                try:
                    kr.list_topics()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            kr.create_topic(TOPIC, partitions=1)
            started = time.perf_counter()
            produced = kr.produce(TOPIC, [{"n": i, "payload": f"record-{i:06d}"} for i in range(args.records)])
            produce_s = time.perf_counter() - started
            token = kr.get_token().token
            ca = str(info.ca_cert)

            rtt = round_trip_ms(info)
            results = {
                f"iter_records (page {DEFAULT_PAGE_SIZE})": measure(
                    admin, lambda: (sum(1 for _ in kr.iter_records(TOPIC)), True)),
                "sample: count=2, requests.get": measure(
                    admin, lambda: sample_loop(requests.get, cfg.endpoint, token, ca, args.budget)),
            }
            with requests.Session() as http:
                results["sample: count=2, one Session"] = measure(
                    admin, lambda: sample_loop(http.get, cfg.endpoint, token, ca, args.budget))
            kr.close()
    rows = []
    for label, (n, finished, took, reqs) in results.items():
        if finished and n != args.records:
            raise SystemExit(f"{label} read {n} records, expected {args.records}")
        full = reqs if finished else reqs + (args.records - n + 1) // 2 + 1
        rows.append({"reader": label, "records": n, "partial": not finished, "requests": reqs,
                     "requests_full": full, "seconds": took, "records_per_s": round(n / took)})
    base = rows[1]
    for row in rows:
        row["x_requests"] = c.ratio(row["requests_full"], base["requests_full"])
        row["x_records_per_s"] = c.ratio(row["records_per_s"], base["records_per_s"])
    c.report(f"Consume {args.records} records from one partition", rows, as_json=args.json,
             extra={"produce": f"{produced.records} records in {produced.requests} requests, {produce_s:.2f} s",
                    "rtt_ms": round(rtt, 2)},
             notes=["x_*: relative to the sample as written (count=2, requests.get per call); records_per_s higher "
                    "is better, requests lower is better",
                    "partial: the loop hit --budget; requests_full = requests made + those the rest would take"])


if __name__ == "__main__":
    main()
