#!/bin/sh
# Options → settings happen in Python (`python -m server addon`, tested), not in shell parsing.
# Embedded PostgreSQL, Redis, thumbnails and clips persist under /data; models live in /config/models.
set -e
mkdir -p /config/models /share/hsi/cameras
exec python -m server addon
