"""Home Security Intelligence server: camera uploads → detections → events → alerts."""

__version__ = "0.1.0"
