"""The vision service: video-analysis job intake and reports (``app``, main venv) and the worker
(``worker``, gym/.venv-vision) that counts people and flows, gives per-rep posture feedback and raises
equipment-misuse alerts. See gym/docs/vision.md."""
