"""The API benchmark's data: a home of 10 cameras at any number of events, generated in the database.

Everything is `INSERT … SELECT … FROM generate_series` (no row crosses the client), and the same SQL
loads any schema revision that has the base schema's columns, so the previous commit and this one are
measured on identical rows. Per event `e` (one every 25 s, the newest at the anchor):

- 10 detections (`(e-1)*10+1 … e*10`, 2 s apart, on the event's camera), each with a thumbnail path
  and a file hash like the detect worker writes; the event lists them in `detection_ids`;
- a theme by `e % 4` (person / car / dog / person+car) for the detections' classes and the event's
  `object_types`; a summary from 8 sentences (`e % 8`) and a reasoning from 4, so a two-word search
  matches an eighth of all events; vehicle events name a plate (a word that occurs once, as names
  and plates do, so the text statistics have the long tail real summaries have); a risk score spread
  over 0–100; two events in three unreviewed;
- an alert for every tenth event (statuses in turn: a quarter pending), 20 alert rules, 2 zones and
  the baselines of each camera; a GPU sample a minute, a log line every 50 s and an audit entry
  every 500 s over the same span.

At 1 000 000 events that is 10 000 000 detections over 289 days: a year of a busy home.
"""

from __future__ import annotations

from typing import Any

#: Bumped whenever the data below changes: a kept database of another version is generated again.
VERSION = 2
CAMERAS = 10
DETECTIONS_PER_EVENT = 10
EVENT_SPACING_SECONDS = 25

PLATE_FUNCTION = (
    "CREATE FUNCTION plate(e integer) RETURNS text LANGUAGE sql IMMUTABLE "
    "AS $$ SELECT upper(substr(md5(e::text), 1, 6)) $$"
)

#: Statements in order; `:n` is the number of events, `:anchor` the newest event's start (timestamptz).
LOAD_SQL = [
    """INSERT INTO cameras (id, name, folder_path, status, last_seen_at)
       SELECT 'cam_' || c, 'Camera ' || c, '/bench/cameras/cam_' || c, 'online', :anchor
       FROM generate_series(0, 9) c""",
    """INSERT INTO detections (id, camera_id, file_path, file_type, detected_at, object_type, confidence,
                              bbox_x, bbox_y, bbox_width, bbox_height, thumbnail_path, media_type, file_hash)
       SELECT i, 'cam_' || (e % 10), '/bench/cameras/cam_' || (e % 10) || '/' || e || '.jpg', 'image/jpeg',
              :anchor - make_interval(secs => (:n - e) * 25 - k * 2),
              CASE e % 4 WHEN 0 THEN 'person' WHEN 1 THEN 'car' WHEN 2 THEN 'dog'
                         ELSE (CASE WHEN k % 2 = 0 THEN 'person' ELSE 'car' END) END,
              0.3 + (i % 70) / 100.0, i % 600, i % 400, 40 + i % 80, 80 + i % 120,
              '/bench/thumbnails/cam_' || (e % 10) || '/' || i || '.jpg', 'image',
              md5(e::text) || md5((-e)::text)
       FROM (SELECT i, (i - 1) / 10 + 1 AS e, (i - 1) % 10 AS k FROM generate_series(1, :n * 10) i) s""",
    """INSERT INTO events (id, batch_id, camera_id, started_at, ended_at, risk_score, risk_level, summary,
                          reasoning, detection_ids, reviewed, object_types, is_fast_path, analysis_backend)
       SELECT e, 'batch-' || e, 'cam_' || (e % 10),
              :anchor - make_interval(secs => (:n - e) * 25),
              :anchor - make_interval(secs => (:n - e) * 25 - 18),
              (e * 37) % 101,
              CASE WHEN (e * 37) % 101 < 30 THEN 'low' WHEN (e * 37) % 101 < 60 THEN 'medium'
                   WHEN (e * 37) % 101 < 85 THEN 'high' ELSE 'critical' END,
              (ARRAY['A person walks up to the front door', 'A car parks in the driveway',
                     'A dog crosses the yard', 'Two people linger near the garage at night',
                     'A delivery driver leaves a package', 'A cat on the fence',
                     'Someone tries the back gate handle', 'A truck stops on the street'])[1 + e % 8],
              (ARRAY['usual daytime activity', 'unfamiliar person at an entry point late at night',
                     'vehicle matches a frequent visitor', 'animal, no threat'])[1 + e % 4]
                || CASE WHEN e % 4 IN (1, 3) THEN ', plate ' || plate(e) ELSE '' END,
              '[' || array_to_string(ARRAY(SELECT generate_series((e - 1) * 10 + 1, e * 10)), ',') || ']',
              e % 3 = 0,
              (ARRAY['["person"]', '["car"]', '["dog"]', '["person","car"]'])[1 + e % 4],
              false, 'rules'
       FROM generate_series(1, :n) e""",
    """INSERT INTO alert_rules (name, severity, risk_threshold, object_types, channels, enabled)
       SELECT 'rule ' || r, (ARRAY['low','medium','high','critical'])[1 + r % 4]::alert_severity,
              20 + r * 3, '["person"]', '["ha"]', r % 5 <> 0
       FROM generate_series(1, 20) r""",
    """INSERT INTO alerts (event_id, rule_id, severity, status, created_at, updated_at, dedup_key, channels,
                          metadata)
       SELECT e, (SELECT id FROM alert_rules ORDER BY name LIMIT 1), 'high',
              (ARRAY['pending','delivered','acknowledged','dismissed'])[1 + (e / 10) % 4]::alert_status,
              :anchor - make_interval(secs => (:n - e) * 25 - 5),
              :anchor - make_interval(secs => (:n - e) * 25 - 5),
              'cam_' || (e % 10) || ':rule', '["ha"]',
              json_build_object('camera_id', 'cam_' || (e % 10), 'risk_score', (e * 37) % 101)
       FROM generate_series(10, :n, 10) e""",
    """INSERT INTO zones (id, camera_id, name, zone_type, coordinates, shape)
       SELECT 'cam_' || c || '_z' || z, 'cam_' || c, 'Zone ' || z, 'yard',
              '[[0.1,0.1],[0.5,0.1],[0.5,0.5],[0.1,0.5]]', 'rectangle'
       FROM generate_series(0, 9) c, generate_series(1, 2) z""",
    """INSERT INTO activity_baselines (camera_id, hour, day_of_week, avg_count, sample_count)
       SELECT 'cam_' || c, h, d, 3.5, 40 FROM generate_series(0, 9) c, generate_series(0, 23) h,
              generate_series(0, 6) d""",
    """INSERT INTO class_baselines (camera_id, detection_class, hour, frequency, sample_count)
       SELECT 'cam_' || c, k, h, 0.25, 40 FROM generate_series(0, 9) c, generate_series(0, 23) h,
              unnest(ARRAY['person','car','dog','cat']) k""",
    """INSERT INTO gpu_stats (recorded_at, gpu_name, gpu_utilization, memory_used, memory_total, temperature,
                             power_usage, inference_fps)
       SELECT :anchor - make_interval(secs => g * 60), 'NVIDIA RTX A5500', (g % 100)::float,
              7000 + g % 500, 24576, 55 + g % 20, 120 + g % 60, 12.5
       FROM generate_series(0, :n * 25 / 60) g""",
    """INSERT INTO logs (timestamp, level, component, message, camera_id, source)
       SELECT :anchor - make_interval(secs => g * 50),
              (ARRAY['INFO','INFO','WARNING','ERROR','INFO','DEBUG'])[1 + g % 6],
              (ARRAY['watcher','detect','analyze','alerts','gpu'])[1 + g % 5],
              'bench log line ' || g, 'cam_' || (g % 10), 'backend'
       FROM generate_series(0, :n / 2) g""",
    """INSERT INTO audit_logs (timestamp, action, resource_type, resource_id, actor, ip_address, details, status)
       SELECT :anchor - make_interval(secs => g * 500),
              (ARRAY['camera_updated','rule_updated','event_reviewed','api_key_created'])[1 + g % 4],
              (ARRAY['camera','alert_rule','event','api_key'])[1 + g % 4],
              CASE g % 4 WHEN 0 THEN 'cam_' || (g % 10) ELSE g::text END,
              'initial', '127.0.0.1', '{}', 'success'
       FROM generate_series(0, :n / 20) g""",
    "SELECT setval(pg_get_serial_sequence('detections', 'id'), :n * 10)",
    "SELECT setval(pg_get_serial_sequence('events', 'id'), :n)",
]


def plate(event: int) -> str:
    """The plate named by vehicle event `event` (`e % 4` in 1, 3): the SQL's `plate(e)`, in Python."""
    import hashlib

    return hashlib.md5(str(event).encode()).hexdigest()[:6].upper()


def statements(events: int, anchor_sql: str) -> list[str]:
    """The load statements for `events` events, newest at `anchor_sql` (a timestamptz literal)."""
    statements = [sql.replace(":n", str(int(events))).replace(":anchor", anchor_sql) for sql in LOAD_SQL]
    return [PLATE_FUNCTION, *statements, "DROP FUNCTION plate(integer)"]


def rows(events: int) -> dict[str, Any]:
    """How many rows the load writes per table (for the report)."""
    return {
        "cameras": CAMERAS,
        "events": events,
        "detections": events * DETECTIONS_PER_EVENT,
        "alerts": events // 10,
        "alert_rules": 20,
        "gpu_stats": events * EVENT_SPACING_SECONDS // 60 + 1,
        "logs": events // 2 + 1,
        "audit_logs": events // 20 + 1,
        "days": round(events * EVENT_SPACING_SECONDS / 86400, 1),
    }
