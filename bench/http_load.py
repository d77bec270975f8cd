"""HTTP load generator for `bench.api`, run in its own process so it does not share the server's loop.

    python -m bench.http_load < plan.json > results.json

The plan names the servers (`servers`: each a `label`, a `port`, its `targets` (`name` → path) and its
`cpu_pids`), the `host` and `headers`. For each target name it measures latency one request at a time
on each server in turn (`c1_requests` requests, at most `c1_seconds`, at least `c1_min_requests`),
`rounds` times, pooling each server's slices; then throughput on each with `concurrency` requests in
flight for `throughput_seconds` (skipped when one request took longer than `throughput_max_p50_ms` at
concurrency 1: a 30 s request measures nothing at 16 in flight but the time it holds the database).
Taking turns like this, the trees and scales compared meet the same moments of a shared machine.

The client is a few lines of HTTP/1.1 over asyncio streams with keep-alive, no library: at a thousand
requests a second a full client library would cost the 2-core machine more CPU than the server's
handler, and that CPU would be missing from the server it measures.

With `cpu_pids` (`{"server": pid, "postgres": postmaster pid}`) each phase also reports the CPU time
the server process and the database's processes spent per request (from /proc): what a request
costs, whatever else the machine was busy with while it was measured. (The database's figure counts
every backend and autovacuum worker of the cluster, and a backend that exits is counted when it
does: an upper bound, noisier than the server's.)
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU time of a process (0 if it is gone), with its reaped children's if asked."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _TICKS


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of the server, and of the postmaster and its children (the backends)."""
    snapshot = {}
    if "server" in pids:
        snapshot["server"] = _cpu_seconds(pids["server"])
    if "postgres" in pids:  # backends come and go: the exited ones count in the postmaster's cutime
        postmaster = pids["postgres"]
        live = sum(_cpu_seconds(pid) for pid in _children(postmaster))
        snapshot["postgres"] = _cpu_seconds(postmaster, reaped=True) + live
    return snapshot


def cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    return {
        f"{name}_cpu_ms_per_request": round((after[name] - before.get(name, 0.0)) * 1000 / max(requests, 1), 3)
        for name in after
    }


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host = host
        self.port = port
        self.head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.head}\r\n"
        self.writer.write(request.encode("latin-1"))
        status_line = await self.reader.readline()
        if not status_line:
            self.writer = None
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length: int | None = None
        chunked = close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            body = b"".join(parts)
        else:
            body = await self.reader.readexactly(length or 0)
        if close:
            self.writer.close()
            self.writer = None
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values (p95 of 20 values is the 19th)."""
    index = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def summary(latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(_percentile(ordered, 0.95) * 1000, 2),
        "p99_ms": round(_percentile(ordered, 0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def sequential(plan: dict[str, Any], server: dict[str, Any], path: str) -> tuple[list[float], int, float, float]:
    """One slice of latency at concurrency 1 (after `warmup` uncounted requests): the latencies, the
    errors, and the server's and the database's CPU seconds spent meanwhile."""
    connection = Connection(plan["host"], server["port"], plan["headers"])
    latencies: list[float] = []
    errors = 0
    pids = server.get("cpu_pids", {})
    try:
        for _ in range(plan.get("warmup", 3)):
            await connection.get(path)
        before = cpu_snapshot(pids)
        deadline = time.perf_counter() + plan["c1_seconds"]
        while len(latencies) < plan["c1_requests"] and (
            time.perf_counter() < deadline or len(latencies) < plan["c1_min_requests"]
        ):
            started = time.perf_counter()
            status, _ = await connection.get(path)
            latencies.append(time.perf_counter() - started)
            errors += status != 200
        after = cpu_snapshot(pids)
    finally:
        connection.close()
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    return latencies, errors, spent.get("server", 0.0), spent.get("postgres", 0.0)


async def concurrent(plan: dict[str, Any], server: dict[str, Any], path: str) -> dict[str, Any]:
    """Requests per second with `concurrency` keep-alive connections busy for `throughput_seconds`."""
    connections = [Connection(plan["host"], server["port"], plan["headers"]) for _ in range(plan["concurrency"])]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + plan["throughput_seconds"]

    async def worker(connection: Connection) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status, _ = await connection.get(path)
            latencies.append(time.perf_counter() - started)
            errors += status != 200

    pids = server.get("cpu_pids", {})
    before = cpu_snapshot(pids)
    began = time.perf_counter()
    try:
        await asyncio.gather(*(worker(connection) for connection in connections))
    finally:
        for connection in connections:
            connection.close()
    elapsed = time.perf_counter() - began
    after = cpu_snapshot(pids)
    return {
        "concurrency": plan["concurrency"],
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        **summary(latencies),
        "errors": errors,
        **cpu_per_request(before, after, len(latencies)),
    }


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    """Each target on every server in turn, `rounds` times (latency slices pooled per server), then
    the throughput of each: every server meets the same moments of a machine others share too."""
    servers = plan["servers"]
    results: dict[str, dict[str, Any]] = {server["label"]: {} for server in servers}
    for name in servers[0]["targets"]:
        pooled = {server["label"]: ([], 0, 0.0, 0.0) for server in servers}
        for _ in range(plan["rounds"]):
            for server in servers:
                latencies, errors, server_cpu, database_cpu = await sequential(plan, server, server["targets"][name])
                kept = pooled[server["label"]]
                pooled[server["label"]] = (kept[0] + latencies, kept[1] + errors, kept[2] + server_cpu, kept[3] + database_cpu)
        for server in servers:
            latencies, errors, server_cpu, database_cpu = pooled[server["label"]]
            one = {
                **summary(latencies),
                "errors": errors,
                "server_cpu_ms_per_request": round(server_cpu * 1000 / len(latencies), 3),
                "postgres_cpu_ms_per_request": round(database_cpu * 1000 / len(latencies), 3),
            }
            path = server["targets"][name]
            busy = await concurrent(plan, server, path) if one["p50_ms"] <= plan["throughput_max_p50_ms"] else None
            results[server["label"]][name] = {"path": path, "c1": one, "throughput": busy}
            print(
                f"  {name:30} {server['label']:16} p50 {one['p50_ms']:8.2f} ms  p95 {one['p95_ms']:8.2f} ms  "
                f"rps@c{plan['concurrency']} {busy['rps'] if busy else '-':>7}  "
                f"cpu/request server {(busy or one).get('server_cpu_ms_per_request')} ms, "
                f"postgres {(busy or one).get('postgres_cpu_ms_per_request')} ms",
                file=sys.stderr,
            )
    return results


def main() -> int:
    plan = json.load(sys.stdin)
    json.dump(asyncio.run(run(plan)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
