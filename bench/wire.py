"""Wire benchmark: the CPU cost of turning a page of rows into a response body, new design vs old.

    python -m bench.wire [--baseline REV] [--rows 50] [--output FILE]

The new design validates a handler's rows against the endpoint's pydantic model and encodes them with
pydantic (`server.wire`, `server.api.registry`); the old one built dicts by hand (`server/serialize.py`
of `--baseline`, read with `git show`) and encoded them with orjson. Both are timed in the same run on
the same rows: real asyncpg records from an embedded PostgreSQL (`SELECT … FROM generate_series`, with
the columns and types of `detections` and `events`), the rows the list endpoints get from the driver.
Figures: the best of 9 rounds, milliseconds of CPU per page, and the ratio new / old.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from pydantic import TypeAdapter

from bench.machine import machine_info
from server.api.pagination import Page
from server.db import asyncpg_dsn
from server.embedded import EmbeddedPostgres
from server.wire import DetectionOut, EventOut

REPO = Path(__file__).resolve().parents[1]
#: The commit before `server/wire.py` replaced the hand-written builders.
BASELINE = "71e5e94"

#: Rows shaped like each table's (column names and types as `selected(Model)` returns them).
QUERIES = {
    "detections": """
        SELECT g AS id, 'front_door'::varchar AS camera_id, '/cameras/front_door/' || g || '.jpg' AS file_path,
               'image/jpeg'::varchar AS file_type, md5(g::text) AS file_hash, now() - g * interval '1 s' AS detected_at,
               'person'::varchar AS object_type, 0.91::float8 AS confidence, 10 + g AS bbox_x, 20 AS bbox_y,
               120 AS bbox_width, 240 AS bbox_height, '/data/thumbnails/' || g || '.jpg' AS thumbnail_path,
               'image'::varchar AS media_type, NULL::float8 AS duration, NULL::varchar AS video_codec,
               NULL::int AS video_width, NULL::int AS video_height, 1920 AS image_width, 1080 AS image_height,
               g AS track_id, false AS stationary
        FROM generate_series(1, $1) AS g""",
    "events": """
        SELECT g AS id, md5(g::text) AS batch_id, 'front_door'::varchar AS camera_id,
               now() - g * interval '1 min' AS started_at, now() - g * interval '1 min' + interval '90 s' AS ended_at,
               (g * 7) % 100 AS risk_score, 'medium'::varchar AS risk_level,
               'A person walks up the driveway and stops at the front door' AS summary,
               'Person at an entry point in daylight; no loitering, a delivery is likely.' AS reasoning,
               '[' || g || ',' || g + 1 || ',' || g + 2 || ']' AS detection_ids, false AS reviewed, NULL::text AS notes,
               false AS is_fast_path, '["person","car"]' AS object_types, NULL::varchar AS clip_path,
               'llm'::varchar AS analysis_backend
        FROM generate_series(1, $1) AS g""",
}


def old_serialize(rev: str) -> types.ModuleType:
    """`server/serialize.py` as it was at `rev`, loaded as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{rev}:server/serialize.py"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType("serialize_baseline")
    exec(compile(source, f"{rev}:server/serialize.py", "exec"), module.__dict__)
    return module


def best_ms(work: Callable[[], Any], repeat: int = 300, rounds: int = 9) -> float:
    work()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat):
            work()
        best = min(best, (time.process_time() - started) / repeat * 1000)
    return best


async def fetch_rows(url: str, count: int) -> dict[str, list[asyncpg.Record]]:
    connection = await asyncpg.connect(url)
    try:
        return {name: await connection.fetch(sql, count) for name, sql in QUERIES.items()}
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="the commit whose serialize.py is the old design")
    parser.add_argument("--rows", type=int, default=50, help="rows per page (the lists' default limit)")
    parser.add_argument("--output", type=Path, help="also write the JSON result here")
    args = parser.parse_args()
    old = old_serialize(args.baseline)
    with tempfile.TemporaryDirectory(prefix="hsi-bench-wire-") as folder:
        postgres = EmbeddedPostgres(Path(folder) / "pg")
        admin_url = postgres.start()
        try:
            rows = asyncio.run(fetch_rows(asyncpg_dsn(admin_url), args.rows))
        finally:
            postgres.stop()
    builders = {"detections": (old.detection_to_dict, DetectionOut), "events": (old.event_to_dict, EventOut)}
    report: dict[str, Any] = {"machine": machine_info("pydantic", "orjson", "asyncpg"), "baseline": args.baseline, "rows": args.rows}
    print(json.dumps(report["machine"]), file=sys.stderr)
    for name, (builder, model) in builders.items():
        page = rows[name]
        adapter = TypeAdapter(Page[model])
        old_ms = best_ms(lambda: orjson.dumps({"items": [builder(row) for row in page], "next_cursor": None}, default=str))
        new_ms = best_ms(
            lambda: adapter.dump_json(adapter.validate_python({"items": page, "next_cursor": None}), exclude_unset=True)
        )
        report[name] = {"old_ms": round(old_ms, 4), "new_ms": round(new_ms, 4), "new_over_old": round(new_ms / old_ms, 2)}
        print(f"{name:<11} page of {args.rows}: old {old_ms:.3f} ms, new {new_ms:.3f} ms CPU, new/old {new_ms / old_ms:.2f}")
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
