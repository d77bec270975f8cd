"""The detection pipeline: watcher → intake (validate, dedup) → stream → detect worker → detections."""
