"""How long a camera may stay silent before it counts as disconnected, learned from its own uploads.

Cameras upload in very different rhythms: a timelapse camera every 30 minutes, a motion-triggered FTP
camera in bursts by day and not at all through a quiet night. One fixed delay (the old 10 minutes)
calls the second kind "disconnected" most of the day. So each camera's pattern is learned:

* `upload_gap_seconds` is the camera's longest recent silence between two uploads: a decaying maximum,
  `max(gap, previous × ½^(gap / GAP_HALF_LIFE))`, updated with every new upload. A nightly 10-hour
  silence stays remembered for weeks; a one-off long silence fades (half of it after a week). The gap
  that ends a disconnection is an outage, not the pattern, and is not learned.
* Disconnected means silent for `MARGIN` times that gap, never less than `MIN_OFFLINE_AFTER`: "far
  beyond its own pattern". A 30-minute camera is offline after 1 h 30 min of silence; a motion camera
  whose nights are 10 hours quiet, after 30 hours.
* Until a camera has `LEARNING_PERIOD` of history (one day and night), and for cameras that never
  uploaded twice, the server's default (`HSI_CAMERA_OFFLINE_SECONDS`, a generous day) applies.
* The camera's own setting (`cameras.offline_after_seconds`, through the API) overrides all of it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from server.models import Camera

GAP_HALF_LIFE = timedelta(days=7)
MARGIN = 3.0
MIN_OFFLINE_AFTER = timedelta(minutes=10)
LEARNING_PERIOD = timedelta(days=1)


def learn_gap(previous: float | None, gap: float) -> float:
    """The camera's longest recent silence after a new gap of `gap` seconds (decaying maximum)."""
    if previous is None:
        return gap
    return max(gap, previous * 0.5 ** (gap / GAP_HALF_LIFE.total_seconds()))


def offline_after(camera: Camera, default: timedelta) -> timedelta:
    """The silence after which `camera` is disconnected: its setting, its learned pattern, or `default`."""
    if camera.offline_after_seconds is not None:
        return timedelta(seconds=camera.offline_after_seconds)
    if camera.upload_gap_seconds is not None and learned(camera):
        return max(MIN_OFFLINE_AFTER, timedelta(seconds=MARGIN * camera.upload_gap_seconds))
    return default


def learned(camera: Camera) -> bool:
    """Whether the camera's uploads span a whole day and night (before that its gaps say little)."""
    return camera.last_seen_at is not None and camera.last_seen_at - camera.created_at >= LEARNING_PERIOD


def silent_since(camera: Camera) -> datetime:
    """The last upload, or when the camera was added if it never uploaded."""
    return camera.last_seen_at or camera.created_at
