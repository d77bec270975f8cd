"""Indexes for every list order, and the rollups the stats read (HSI extension: the store at a year's scale).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Added, none removed (the base schema's indexes all stay; the ones the new composites make redundant are
named in the models and the README):

- events: `(started_at, id)`, `(camera_id, started_at, id)`, partial `(started_at, id) WHERE NOT reviewed`,
  GIN on the object types as `text[]`; detections: `(camera_id, detected_at, id)`; alerts: partial
  `(created_at, id) WHERE status = 'pending'`. Each list (newest first, ties by id) reads one index range.
- `event_counts_hourly` (per hour and camera), `event_counts_hourly_total` (per hour), `event_counts_daily`
  (per day and camera) and `store_counters`: deltas appended by statement-level triggers on `events` and
  `alerts` in the transaction that changes them (see server/models/rollups.py), backfilled here while
  both tables are locked against writes, so no row is counted twice or missed.
- a trigger on `api_keys` that notifies channel `hsi_api_keys` on every change, so each API process
  can keep the keys in memory and forget them the moment one is revoked (server/api/key_cache.py).

Frozen snapshot: the SQL below does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OBJECT_TYPES_SQL = r"""regexp_split_to_array(lower(btrim(object_types)), '\s*[\[\]",]+\s*')"""

#: Risk bands by score (server.analyze.risk); NULL is unscored.
LEVELS = (
    ("low", "risk_score < 30"),
    ("medium", "risk_score >= 30 AND risk_score < 60"),
    ("high", "risk_score >= 60 AND risk_score < 85"),
    ("critical", "risk_score >= 85"),
    ("unscored", "risk_score IS NULL"),
)
COUNT_COLUMNS = [name for name, _ in LEVELS] + [f"unreviewed_{name}" for name, _ in LEVELS]
_SUMS = [f"coalesce(sum(sign) FILTER (WHERE {condition}), 0)" for _, condition in LEVELS] + [
    f"coalesce(sum(sign) FILTER (WHERE ({condition}) AND NOT reviewed), 0)" for _, condition in LEVELS
]


#: The rollups of events: table -> (its time bucket column, that bucket of `started_at`, per camera).
ROLLUPS = {
    "event_counts_hourly": ("hour", "date_trunc('hour', started_at, 'UTC')", True),
    "event_counts_hourly_total": ("hour", "date_trunc('hour', started_at, 'UTC')", False),
    "event_counts_daily": ("day", "date_trunc('day', started_at, 'UTC')", True),
}


def _event_deltas(source: str, table: str) -> str:
    """Rows of rollup `table` for the changes in `source` (started_at, camera_id, risk_score, reviewed,
    sign), one per bucket (and camera) whose counts changed."""
    bucket, expression, per_camera = ROLLUPS[table]
    keys = f"{bucket}, camera_id" if per_camera else bucket
    aliases = ", ".join(f"{sql} AS {name}" for sql, name in zip(_SUMS, COUNT_COLUMNS, strict=True))
    columns = ", ".join(COUNT_COLUMNS)
    zeros = ", ".join("0" for _ in COUNT_COLUMNS)
    return (
        f"INSERT INTO {table} ({keys}, {columns}) "
        f"SELECT {keys}, {columns} FROM ("
        f"SELECT {expression} AS {bucket}{', camera_id' if per_camera else ''}, {aliases} "
        f"FROM ({source}) AS changed GROUP BY {keys}) AS deltas WHERE ({columns}) <> ({zeros})"
    )


def _rollup_index(table: str) -> tuple[str, list[str]]:
    """Name and key of a rollup's covering index (the counts are INCLUDEd)."""
    bucket, _, per_camera = ROLLUPS[table]
    keys = [bucket, "camera_id"] if per_camera else [bucket]
    return f"idx_{table}_{bucket}{'_camera' if per_camera else ''}", keys


def _counter_delta(name: str, source: str, condition: str) -> str:
    return (
        f"INSERT INTO store_counters (name, value) SELECT '{name}', sum(sign) FROM ({source}) AS changed "
        f"WHERE {condition} HAVING coalesce(sum(sign), 0) <> 0"
    )


def _sources(columns: str) -> dict[str, str]:
    """The changed rows of a statement, signed: +1 for rows that arrive, -1 for rows that leave."""
    arriving = f"SELECT {columns}, 1 AS sign FROM new_rows"
    leaving = f"SELECT {columns}, -1 AS sign FROM old_rows"
    return {"INSERT": arriving, "DELETE": leaving, "UPDATE": f"{arriving} UNION ALL {leaving}"}


def _trigger_function(name: str, statements: dict[str, list[str]]) -> str:
    branches = " ".join(
        f"{'IF' if index == 0 else 'ELSIF'} TG_OP = '{operation}' THEN {' '.join(s + ';' for s in sqls)}"
        for index, (operation, sqls) in enumerate(statements.items())
    )
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {branches} END IF; RETURN NULL; END $$"
    )


EVENT_SOURCES = _sources("started_at, camera_id, risk_score, reviewed")
ALERT_SOURCES = _sources("status")
ALERT_OPEN = "status IN ('pending', 'delivered')"

FUNCTIONS = {
    "hsi_count_events": _trigger_function(
        "hsi_count_events",
        {
            operation: [
                *(_event_deltas(source, table) for table in ROLLUPS),
                _counter_delta("events.unreviewed", source, "NOT reviewed"),
            ]
            for operation, source in EVENT_SOURCES.items()
        },
    ),
    "hsi_count_alerts": _trigger_function(
        "hsi_count_alerts",
        {operation: [_counter_delta("alerts.open", source, ALERT_OPEN)] for operation, source in ALERT_SOURCES.items()},
    ),
    "hsi_events_truncated": (
        "CREATE FUNCTION hsi_events_truncated() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        + " ".join(f"DELETE FROM {table};" for table in ROLLUPS)
        + " DELETE FROM store_counters WHERE name = 'events.unreviewed'; RETURN NULL; END $$"
    ),
    "hsi_alerts_truncated": (
        "CREATE FUNCTION hsi_alerts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "DELETE FROM store_counters WHERE name = 'alerts.open'; RETURN NULL; END $$"
    ),
    "hsi_api_keys_changed": (
        "CREATE FUNCTION hsi_api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_notify('hsi_api_keys', TG_OP); RETURN NULL; END $$"
    ),
}

_TRANSITIONS = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}
TRIGGERS = {
    **{
        (f"hsi_{table}_counted_{operation.lower()}", table): (
            f"CREATE TRIGGER hsi_{table}_counted_{operation.lower()} AFTER {operation} ON {table} "
            f"{transition} FOR EACH STATEMENT EXECUTE FUNCTION hsi_count_{table}()"
        )
        for table in ("events", "alerts")
        for operation, transition in _TRANSITIONS.items()
    },
    **{
        (f"hsi_{table}_truncated", table): (
            f"CREATE TRIGGER hsi_{table}_truncated AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION hsi_{table}_truncated()"
        )
        for table in ("events", "alerts")
    },
    ("hsi_api_keys_changed", "api_keys"): (
        "CREATE TRIGGER hsi_api_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys "
        "FOR EACH STATEMENT EXECUTE FUNCTION hsi_api_keys_changed()"
    ),
}


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False)


def upgrade() -> None:
    op.create_index("idx_events_started_at_id", "events", ["started_at", "id"])
    op.create_index("idx_events_camera_id_started_at_id", "events", ["camera_id", "started_at", "id"])
    op.create_index("idx_events_unreviewed", "events", ["started_at", "id"], postgresql_where=sa.text("NOT reviewed"))
    op.create_index("idx_events_object_types", "events", [sa.text(OBJECT_TYPES_SQL)], postgresql_using="gin")
    op.create_index("idx_detections_camera_id_detected_at_id", "detections", ["camera_id", "detected_at", "id"])
    op.create_index(
        "idx_alerts_pending", "alerts", ["created_at", "id"], postgresql_where=sa.text("status = 'pending'")
    )

    for table, (bucket, _, per_camera) in ROLLUPS.items():
        op.create_table(
            table,
            _id(),
            sa.Column(bucket, sa.DateTime(timezone=True), nullable=False),
            *([sa.Column("camera_id", sa.String(), nullable=False)] if per_camera else []),
            *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in COUNT_COLUMNS),
            sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        )
        name, keys = _rollup_index(table)
        op.create_index(name, table, keys, postgresql_include=COUNT_COLUMNS)
    op.create_table(
        "store_counters",
        _id(),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_store_counters"),
    )
    op.create_index("idx_store_counters_name", "store_counters", ["name"])

    # No writer may slip between the backfill and the triggers: both tables are locked until commit.
    op.execute("LOCK TABLE events, alerts IN SHARE ROW EXCLUSIVE MODE")
    backfill_events = "SELECT started_at, camera_id, risk_score, reviewed, 1 AS sign FROM events"
    for table in ROLLUPS:
        op.execute(_event_deltas(backfill_events, table))
    op.execute(_counter_delta("events.unreviewed", backfill_events, "NOT reviewed"))
    op.execute(_counter_delta("alerts.open", "SELECT status, 1 AS sign FROM alerts", ALERT_OPEN))
    for sql in FUNCTIONS.values():
        op.execute(sql)
    for sql in TRIGGERS.values():
        op.execute(sql)


def downgrade() -> None:
    for name, table in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
    for name in FUNCTIONS:
        op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("store_counters")
    for table in reversed(ROLLUPS):
        op.drop_table(table)
    op.drop_index("idx_alerts_pending", table_name="alerts")
    op.drop_index("idx_detections_camera_id_detected_at_id", table_name="detections")
    op.drop_index("idx_events_object_types", table_name="events")
    op.drop_index("idx_events_unreviewed", table_name="events")
    op.drop_index("idx_events_camera_id_started_at_id", table_name="events")
    op.drop_index("idx_events_started_at_id", table_name="events")
