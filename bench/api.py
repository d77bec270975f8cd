"""API benchmark at a year's scale: every list endpoint and data-model query pattern, this commit vs a baseline.

    python -m bench.api [--scales 10000,100000,1000000] [--baseline main] [--data-dir DIR] [--keep]
                        [--seconds 3] [--output bench/results/api.json]

For each scale (events; 10 detections each, see `bench.api_data`) the data is generated in the database
with `generate_series` into a database migrated by the baseline's own migrations, then copied
(`CREATE DATABASE … TEMPLATE`) and upgraded by this tree's migrations — the upgrade a user with that much
data would run, timed. Both trees serve their copy with the production entry point
(`python -m server api`: auth, access log, everything as deployed) from a `git worktree` of the
baseline and from this checkout, one after the other on the same PostgreSQL (embedded, as the server
runs it by default, under `--data-dir`) and Redis.

The load generator (`bench.http_load`) is a separate process: latency at concurrency 1 (p50 / p95) and
throughput at concurrency 16. The report prints the machine, each endpoint's figures for both trees,
the ratio baseline / this tree, and each tree's growth from the smallest to the largest scale.

With `--keep` the generated databases (and the baseline worktree) stay under `--data-dir` and are
reused by the next run with the same scales; `--fresh-current` re-copies and re-upgrades this tree's
databases (after a change to its migrations).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench import api_data
from server.db import asyncpg_dsn, create_database, drop_database
from server.embedded import EmbeddedPostgres, EmbeddedRedis

REPO = Path(__file__).resolve().parents[1]
#: Environment of a served tree: settings of the deployed server, and this tree's periodic cleanup
#: switched off (it would start deleting the generated year while it is being measured).
SERVER_ENV = {"HSI_LOG_LEVEL": "WARNING", "HSI_TIMEZONE": "UTC", "HSI_RETENTION_ENABLED": "false"}


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        memory = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "sched_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": memory,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def baseline_tree(ref: str | None, data_dir: Path) -> tuple[Path, str]:
    """A detached `git worktree` of `ref` (default: the commit this branch left main at) under the data
    directory, reused when already there."""
    commit = _git("rev-parse", ref) if ref else _git("merge-base", "HEAD", "main")
    tree = data_dir / f"baseline-{commit[:12]}"
    if not (tree / "server").is_dir():
        _git("worktree", "add", "--detach", str(tree), commit)
    return tree, commit


def _url(admin_url: str, database: str) -> str:
    from sqlalchemy import make_url

    return make_url(admin_url).set(database=database).render_as_string(hide_password=False)


def _clean_env(tree: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HSI_")}
    return {**env, "PYTHONPATH": str(tree), **SERVER_ENV, **extra}


def migrate(tree: Path, url: str) -> float:
    """`python -m server migrate` of `tree` on `url`; returns the seconds it took."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "server", "migrate"],
        cwd=tree,
        env=_clean_env(tree, {"HSI_DATABASE_URL": url, "HSI_DATA_DIR": str(tree / ".bench-data")}),
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started


async def _marker(admin_url: str, database: str) -> dict[str, Any] | None:
    """What the database comment says was loaded into `database` (None: absent or incomplete)."""
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        comment = await connection.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", database
        )
    finally:
        await connection.close()
    try:
        return json.loads(comment) if comment else None
    except ValueError:
        return None


async def _set_marker(admin_url: str, database: str, marker: dict[str, Any]) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        literal = json.dumps(marker).replace("'", "''")
        await connection.execute(f"COMMENT ON DATABASE \"{database}\" IS '{literal}'")
    finally:
        await connection.close()


async def _execute(url: str, statements: list[str]) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def baseline_database(admin_url: str, scale: int, baseline: Path) -> dict[str, Any]:
    """The baseline's database of `scale` events, generated unless an earlier run left it; its facts."""
    name = f"hsi_bench_base_{scale}"
    marker = await _marker(admin_url, name)
    if marker is not None and marker.get("events") == scale and marker.get("data") == api_data.VERSION:
        return marker
    await drop_database(admin_url, f"hsi_bench_head_{scale}")
    await drop_database(admin_url, name)
    await create_database(admin_url, name)
    migrate(baseline, _url(admin_url, name))
    anchor = datetime.now().astimezone().replace(microsecond=0)
    started = time.perf_counter()
    await _execute(_url(admin_url, name), api_data.statements(scale, f"'{anchor.isoformat()}'::timestamptz"))
    await _execute(_url(admin_url, name), ["VACUUM ANALYZE"])
    marker = {
        "events": scale,
        "data": api_data.VERSION,
        "anchor": anchor.isoformat(),
        "load_seconds": round(time.perf_counter() - started, 1),
    }
    await _set_marker(admin_url, name, marker)
    print(f"loaded {scale} events in {marker['load_seconds']} s", file=sys.stderr)
    return marker


async def current_database(admin_url: str, scale: int, fresh: bool) -> dict[str, Any]:
    """This tree's database of `scale` events: a copy of the baseline's, upgraded by this tree's
    migrations (timed), unless an earlier run left it and `fresh` is not asked for; its facts."""
    name, template = f"hsi_bench_head_{scale}", f"hsi_bench_base_{scale}"
    marker = await _marker(admin_url, name)
    base = await _marker(admin_url, template) or {}
    if marker is not None and not fresh and marker.get("anchor") == base.get("anchor"):
        return marker
    await drop_database(admin_url, name)
    started = time.perf_counter()
    await create_database(admin_url, name, template=template)
    copy_seconds = time.perf_counter() - started
    upgrade_seconds = migrate(REPO, _url(admin_url, name))
    await _execute(_url(admin_url, name), ["VACUUM ANALYZE"])
    marker = {
        **base,
        "copy_seconds": round(copy_seconds, 1),
        "upgrade_seconds": round(upgrade_seconds, 1),
    }
    await _set_marker(admin_url, name, marker)
    print(f"upgraded the copy of {scale} events in {marker['upgrade_seconds']} s", file=sys.stderr)
    return marker


async def install_key(url: str, key: str) -> None:
    """The benchmark's API key (hashed as the server stores keys), and GPU samples ending now.

    Moving the samples rewrites every row of `gpu_stats` (400 000 at 1 M events): vacuumed here, so
    that autovacuum does not do it while the endpoints are measured."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    await _execute(
        url,
        [
            f"INSERT INTO api_keys (key_hash, name) VALUES ('{digest}', 'bench') ON CONFLICT DO NOTHING",
            "UPDATE gpu_stats SET recorded_at = recorded_at + (now() - (SELECT max(recorded_at) FROM gpu_stats))",
            "VACUUM ANALYZE gpu_stats",
        ],
    )


def postmaster_pid(data_dir: Path) -> int | None:
    """The embedded cluster's postmaster (first line of postmaster.pid), whose children are the backends."""
    try:
        return int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """`python -m server api` of one tree on one database, until `stop()`."""

    def __init__(self, tree: Path, url: str, redis_url: str, work: Path, log: Path) -> None:
        self.port = _free_port()
        work.mkdir(parents=True, exist_ok=True)
        env = _clean_env(
            tree,
            {
                "HSI_DATABASE_URL": url,
                "HSI_REDIS_URL": redis_url,
                "HSI_DATA_DIR": str(work / "data"),
                "HSI_CAMERAS_DIR": str(work / "cameras"),
                "HSI_HOST": "127.0.0.1",
                "HSI_PORT": str(self.port),
            },
        )
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "api"],
            cwd=tree,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/system/health", timeout=5)
                return
            except urllib.error.HTTPError:
                return  # 503 (no pipeline workers here) still means the API answers
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not answer within {timeout} s; see {self.log}")

    def get(self, path: str, key: str) -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers={"X-API-Key": key})
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def targets(server: Served, key: str, anchor: datetime, scale: int) -> dict[str, str]:
    """Every list endpoint and every query pattern of the data model, with realistic parameters."""

    def ago(**delta: float) -> str:
        return urllib.parse.quote((anchor - timedelta(**delta)).isoformat())

    deep = server.get("/api/events?limit=50", key)["next_cursor"]
    for _ in range(18):  # the cursor of page 20
        deep = server.get(f"/api/events?limit=50&cursor={deep}", key)["next_cursor"]
    middle_event = scale // 2
    return {
        "events list": "/api/events?limit=50",
        "events cursor page 20": f"/api/events?limit=50&cursor={deep}",
        "events camera+risk+7d": f"/api/events?camera_id=cam_3&risk_level=high&since={ago(days=7)}&limit=50",
        "events unreviewed": "/api/events?reviewed=false&limit=50",
        "events camera last 24h": f"/api/events?camera_id=cam_3&since={ago(hours=24)}&limit=50",
        "events unreviewed high risk": "/api/events?reviewed=false&min_risk=60&limit=50",
        "events object type": "/api/events?object_type=dog&limit=50",
        "event detections (timeline)": f"/api/events/{middle_event}/detections",
        "detections list": "/api/detections?limit=50",
        "detections camera+24h": f"/api/detections?camera_id=cam_3&since={ago(hours=24)}&limit=50",
        "alerts list": "/api/alerts?limit=50",
        "alerts pending": "/api/alerts?status=pending&limit=50",
        "cameras": "/api/cameras",
        "alert rules": "/api/alert-rules",
        "alert rules enabled": "/api/alert-rules?enabled=true",
        "zones of a camera": "/api/cameras/cam_3/zones",
        "logs": "/api/logs?limit=50",
        "audit": "/api/audit?limit=50",
        # 20: a full page at every scale (the resource has 25 entries at 10 k events)
        "audit of a resource": "/api/audit?resource_type=camera&resource_id=cam_4&limit=20",
        "api keys": "/api/keys",
        "gpu history 1h": "/api/system/gpu?minutes=60",
        "search two words": "/api/events/search?q=person%20door&limit=50",
        "search phrase -exclusion": "/api/events/search?q=%22back%20gate%22%20-cat&limit=50",
        "search rare word (a plate)": f"/api/events/search?q={api_data.plate(scale // 2 - scale // 2 % 4 + 1)}&limit=50",
        "stats 30 days": f"/api/events/stats?since={ago(days=30)}",
        "system stats": "/api/system/stats",
    }


def load(servers: list[dict[str, Any]], key: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run the load generator over every served tree and scale (`bench.http_load`, its own process)."""
    plan = {
        "host": "127.0.0.1",
        "headers": {"X-API-Key": key, "User-Agent": "hsi-bench"},
        "servers": servers,
        "rounds": args.rounds,
        "c1_requests": args.requests,
        "c1_seconds": args.seconds,
        "c1_min_requests": 3,
        "concurrency": args.concurrency,
        "throughput_seconds": args.throughput_seconds,
        "throughput_max_p50_ms": 500,
    }
    result = subprocess.run(
        [sys.executable, "-m", "bench.http_load"],
        cwd=REPO,
        input=json.dumps(plan),
        capture_output=False,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def compare(results: dict[str, Any], scales: list[int]) -> dict[str, Any]:
    """Speed-up (baseline / this tree) per scale, and each tree's growth from smallest to largest scale."""
    summary: dict[str, Any] = {}
    smallest, largest = str(min(scales)), str(max(scales))
    for name in results[smallest]["current"]:
        row: dict[str, Any] = {}
        for scale in map(str, scales):
            base = results[scale]["baseline"][name]
            head = results[scale]["current"][name]
            row[scale] = {
                "p50_ms": [base["c1"]["p50_ms"], head["c1"]["p50_ms"]],
                "p95_ms": [base["c1"]["p95_ms"], head["c1"]["p95_ms"]],
                "rps_c16": [(base["throughput"] or {}).get("rps"), (head["throughput"] or {}).get("rps")],
                "server_cpu_ms": [
                    (base["throughput"] or base["c1"]).get("server_cpu_ms_per_request"),
                    (head["throughput"] or head["c1"]).get("server_cpu_ms_per_request"),
                ],
                "postgres_cpu_ms": [
                    (base["throughput"] or base["c1"]).get("postgres_cpu_ms_per_request"),
                    (head["throughput"] or head["c1"]).get("postgres_cpu_ms_per_request"),
                ],
                "speedup_p95": ratio(base["c1"]["p95_ms"], head["c1"]["p95_ms"]),
            }
        if smallest != largest:
            row["growth_p50"] = {
                tree: ratio(results[largest][tree][name]["c1"]["p50_ms"], results[smallest][tree][name]["c1"]["p50_ms"])
                for tree in ("baseline", "current")
            }
            row["growth_p95"] = {
                tree: ratio(results[largest][tree][name]["c1"]["p95_ms"], results[smallest][tree][name]["c1"]["p95_ms"])
                for tree in ("baseline", "current")
            }
        summary[name] = row
    return summary


def print_table(summary: dict[str, Any], scales: list[int]) -> None:
    columns = " | ".join(f"{scale:>7} p50 / p95 ms (base → this)   rps@16" for scale in scales)
    print(f"{'endpoint':30} | {columns} | growth p95", file=sys.stderr)
    for name, row in summary.items():
        cells = []
        for scale in map(str, scales):
            cell = row[scale]
            cells.append(
                f"{cell['p50_ms'][0]:8.1f}/{cell['p95_ms'][0]:8.1f} → {cell['p50_ms'][1]:6.2f}/{cell['p95_ms'][1]:6.2f}"
                f"  {cell['rps_c16'][0] or '-'!s:>6}→{cell['rps_c16'][1] or '-'!s:>6}"
            )
        growth = row.get("growth_p95", {})
        print(f"{name:30} | {' | '.join(cells)} | {growth.get('baseline')} → {growth.get('current')}", file=sys.stderr)


async def _measure(
    args: argparse.Namespace,
    data_dir: Path,
    admin_url: str,
    redis_url: str,
    baseline: Path,
    key: str,
    facts: dict[str, Any],
) -> dict[str, Any]:
    """Serve every tree at every scale at once, then load them in turn; results by scale and tree."""
    trees = {"baseline": baseline, "current": REPO}
    served: dict[tuple[int, str], Served] = {}
    try:
        for scale in args.scales:
            for tree_name in args.trees:
                url = _url(admin_url, f"hsi_bench_{'base' if tree_name == 'baseline' else 'head'}_{scale}")
                await install_key(url, key)
                work = data_dir / "runs" / f"{tree_name}-{scale}"
                shutil.rmtree(work, ignore_errors=True)
                log = data_dir / f"server-{tree_name}-{scale}.log"
                served[(scale, tree_name)] = Served(trees[tree_name], url, redis_url, work, log)
        postmaster = postmaster_pid(data_dir)
        servers = []
        for (scale, tree_name), server in served.items():
            server.wait_ready()
            anchor = datetime.fromisoformat(facts[str(scale)]["anchor"])
            servers.append(
                {
                    "label": f"{tree_name}@{scale}",
                    "port": server.port,
                    "targets": targets(server, key, anchor, scale),
                    "cpu_pids": {"server": server.process.pid, **({"postgres": postmaster} if postmaster else {})},
                }
            )
        measured = load(servers, key, args)
    finally:
        for server in served.values():
            server.stop()
    results: dict[str, Any] = {str(scale): {} for scale in args.scales}
    for (scale, tree_name) in served:
        results[str(scale)][tree_name] = measured[f"{tree_name}@{scale}"]
    return results


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    baseline, baseline_commit = baseline_tree(args.baseline, data_dir)
    postgres = EmbeddedPostgres(data_dir / "pg")
    admin_url = await asyncio.to_thread(postgres.start)
    redis_dir = data_dir / f"redis-{os.getpid()}"
    redis_server = EmbeddedRedis(redis_dir)
    redis_url = await asyncio.to_thread(redis_server.start)
    key = "hsi_bench_" + secrets.token_urlsafe(24)
    results: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    try:
        connection = await asyncpg.connect(asyncpg_dsn(admin_url))
        pg_version = await connection.fetchval("SHOW server_version")
        await connection.close()
        for scale in args.scales:
            facts[str(scale)] = await baseline_database(admin_url, scale, baseline)
            current = await current_database(admin_url, scale, args.fresh_current)
            facts[str(scale)]["upgrade_seconds"] = current["upgrade_seconds"]
        if not args.prepare_only:
            results = await _measure(args, data_dir, admin_url, redis_url, baseline, key, facts)
    finally:
        await asyncio.to_thread(redis_server.stop)
        shutil.rmtree(redis_dir, ignore_errors=True)
        await asyncio.to_thread(postgres.stop)
        if not args.keep:
            shutil.rmtree(data_dir / "pg", ignore_errors=True)
            _git("worktree", "remove", "--force", str(baseline))
    if args.prepare_only:
        return {}
    summary = compare(results, args.scales) if set(args.trees) == {"baseline", "current"} else {}
    print_table(summary, args.scales)
    return {
        "benchmark": "api",
        "machine": machine_info(),
        "postgres": pg_version,
        "baseline": {"ref": args.baseline, "commit": baseline_commit},
        "current": {"commit": _git("rev-parse", "HEAD"), "uncommitted_changes": bool(_git("status", "--porcelain"))},
        "scales": {str(scale): {**api_data.rows(scale), **facts[str(scale)]} for scale in args.scales},
        "method": {
            "latency": (
                f"concurrency 1, {args.rounds} rounds per endpoint, each server in turn, per round up to "
                f"{args.requests} requests or {args.seconds} s (at least 3); rounds pooled"
            ),
            "throughput": (
                f"concurrency {args.concurrency} for {args.throughput_seconds} s per server "
                "(skipped when p50 at c1 > 500 ms)"
            ),
            "client": "bench.http_load, a separate process (HTTP/1.1 keep-alive)",
            "cpu": "server process and PostgreSQL (postmaster, backends, reaped children) CPU per request",
        },
        "summary": summary,
        "results": results,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=lambda text: [int(v) for v in text.split(",")], default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--baseline", help="git ref of the previous design (default: the commit this branch left main at)"
    )
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench-api"))
    parser.add_argument("--keep", action="store_true", help="keep the databases and the baseline worktree")
    parser.add_argument("--fresh-current", action="store_true", help="re-copy and re-upgrade this tree's databases")
    parser.add_argument("--prepare-only", action="store_true", help="build the databases, measure nothing")
    parser.add_argument(
        "--trees", type=lambda text: text.split(","), default=["baseline", "current"], help="measure only these"
    )
    # 10: with 3 (300 requests per endpoint and server) one slice that met other work on the machine
    # moved a p95 by 3 ms from run to run, and with it the growth from 10 k to 1 M events
    parser.add_argument("--rounds", type=int, default=10, help="latency slices per endpoint and server")
    parser.add_argument("--seconds", type=float, default=1.0, help="most seconds of one latency slice")
    parser.add_argument("--requests", type=int, default=100, help="most requests of one latency slice")
    parser.add_argument("--throughput-seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    if args.prepare_only:
        return 0
    text_report = json.dumps(report, indent=2)
    if args.output:
        args.output.write_text(text_report + "\n")
    else:
        print(text_report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
