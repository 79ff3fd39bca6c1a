"""Which snapshots the web UI may load: pretrained names from the manifest and run directories / snapshot files
under the runs directory, nothing else; plus a small LRU cache of loaded generators.

A snapshot id is `pretrained:<name>` or a relative path inside the runs directory (a run directory or a
`.safetensors` file). Ids that leave the runs directory (`..`, absolute paths, symlinks pointing outside) or name
anything but a `.safetensors` snapshot are refused with a one-line `GenlabError`; so is a file whose header is
malformed. Loading goes through `genlab.api.load` (safetensors + JSON only, never pickle). Messages name snapshots by
their ids, never by a server path.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from genlab import api
from genlab.errors import GenlabError

PRETRAINED = "pretrained:"
KINDS = {"image": "image", "facies": "channels", "audio": "audio"}  # header domain → the page's tab
MAX_LISTED = 200  # snapshots listed from the runs directory
MAX_DEPTH = 4  # folder levels searched below the runs directory
INTERPOLATION_NOTES = {
    "noise": "slerp between the two seeds' starting noises, decoded by deterministic DDIM (20 steps)",
    "code": "a path between the two seeds' latent codes, decoded",
}


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    path: Path
    header: Any  # genlab.api.SnapshotHeader

    @property
    def kind(self) -> str:
        return KINDS.get(self.header.domain, "other")

    @property
    def family(self) -> str:
        return self.header.family

    @property
    def num_classes(self) -> int:
        return self.header.num_classes

    def public(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """What the page needs to build its controls (no file system paths)."""
        h = self.header
        caps = h.capabilities
        name = self.id[len(PRETRAINED):] if self.id.startswith(PRETRAINED) else None
        head = api.pretrained_headline(manifest.get(name) or {}) if name else {"fid": None, "floor": None, "n": None}
        latent_kind = caps.latent_kind
        return {"id": self.id, "name": name or self.id, "kind": self.kind, "family": h.family,
                "dataset": h.dataset or h.data_config.get("dataset"), "num_classes": h.num_classes,
                "class_names": h.class_names, "image_shape": list(h.sample_shape), "step": h.step,
                "capabilities": caps.to_dict(), "sampling_options": list(caps.sampling_options),
                "sample_settings": h.sample_settings, "has_latent": caps.has_latent,
                "interpolates": latent_kind in INTERPOLATION_NOTES,
                "interpolation_note": INTERPOLATION_NOTES.get(latent_kind, ""),
                "fid": head["fid"], "floor_fid": head["floor"], "fid_n": head["n"],
                "source": "pretrained" if name else "runs"}


# Kinds without an FID start on a chosen shipped snapshot: audio on the universal vocoder of issue 17 (its own waveform
# beside Griffin-Lim on all four stems, README "Audio"), channels on the 128×128 diffusion model of issue 14 (the
# comparison table in docs/channels.md); else on the first one listed.
KIND_DEFAULTS = {"audio": f"{PRETRAINED}musdb-vocos", "channels": f"{PRETRAINED}channels-diffusion-128"}
AUDIO_DEFAULT = KIND_DEFAULTS["audio"]


def default_snapshots(listed: list[dict[str, Any]]) -> dict[str, str]:
    """Per kind, the id the page selects first: the kind's entry of KIND_DEFAULTS when installed, else the pretrained
    snapshot with the lowest measured FID (the best first impression this installation can give), else the first one
    listed."""
    chosen = set(KIND_DEFAULTS.values())
    best: dict[str, dict[str, Any]] = {s["kind"]: s for s in listed if s["id"] in chosen}
    for s in listed:
        current = best.get(s["kind"])
        if current is not None and current["id"] in chosen:
            continue
        if current is None or (s.get("fid") is not None and (current.get("fid") is None or s["fid"] < current["fid"])):
            best[s["kind"]] = s
    return {kind: s["id"] for kind, s in best.items()}


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _stays_inside(path: Path, root: Path) -> bool:
    """False for a symlink (or anything) whose real location is outside the runs directory."""
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symlink loop
        return False


class SnapshotCatalog:
    """Snapshots under `runs_dir` and in the pretrained manifest; `load` caches up to `cache_size` generators."""

    def __init__(self, runs_dir: str | os.PathLike[str] = "runs", cache_size: int = 4, device: str = "auto"):
        self.runs_dir = Path(runs_dir)
        self.device = device
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._headers: dict[tuple[str, int], Any] = {}
        self._verified: dict[str, tuple[Path, tuple[int, int] | None]] = {}
        self._lock = threading.Lock()

    # --- resolving ---------------------------------------------------------------------------------------------
    def resolve(self, snapshot_id: str) -> SnapshotInfo:
        """The snapshot behind an id, checked to be a genlab .safetensors snapshot inside an allowed root."""
        if snapshot_id.startswith(PRETRAINED):
            name = snapshot_id[len(PRETRAINED):]
            if name not in api.pretrained_manifest():
                raise GenlabError(f"snapshot '{snapshot_id}': no pretrained snapshot of that name")
            path = self._pretrained_path(snapshot_id, name)
        else:
            path = self._inside_runs(snapshot_id)
        if path.suffix != ".safetensors":
            raise GenlabError(f"snapshot '{snapshot_id}': only .safetensors snapshots are loaded")
        return SnapshotInfo(snapshot_id, path, self._header(snapshot_id, path))

    def _pretrained_path(self, snapshot_id: str, name: str) -> Path:
        """The verified file of a pretrained name; its sha256 is checked once per file version (size and
        modification time), not on every listing."""
        with self._lock:
            known = self._verified.get(name)
        if known is not None and _stat_key(known[0]) == known[1]:
            return known[0]
        path = self._as_id(snapshot_id, lambda: api.resolve_pretrained(name))  # verifies the sha256
        with self._lock:
            self._verified[name] = (path, _stat_key(path))
        return path

    def _inside_runs(self, snapshot_id: str) -> Path:
        rel = PurePosixPath(snapshot_id)
        root = self.runs_dir.resolve()
        outside = GenlabError(f"snapshot '{snapshot_id}': not a snapshot inside the runs directory nor a "
                              "pretrained name")
        if rel.is_absolute() or ".." in rel.parts or "\\" in snapshot_id or "\x00" in snapshot_id:
            raise outside
        path = (root / rel).resolve()
        if not path.is_relative_to(root) or not path.exists():
            raise outside
        if path.is_dir():
            path = self._as_id(snapshot_id, lambda: api.find_snapshot(path)).resolve()
            if not path.is_relative_to(root):
                raise outside
        return path

    @staticmethod
    def _as_id(snapshot_id: str, fn: Any) -> Any:
        """fn(), its GenlabError reworded to name the snapshot id (the API's message names a server path)."""
        try:
            return fn()
        except GenlabError as e:
            head, sep, rest = str(e).partition(": ")
            reason = rest if sep and ("/" in head or head.endswith(".safetensors")) else str(e)
            raise GenlabError(f"snapshot '{snapshot_id}': {reason}") from None

    def _header(self, snapshot_id: str, path: Path) -> Any:
        """The validated header (cached by file and modification time); any failure to read it is a one-line
        GenlabError naming the id (a malformed file is the user's data, not a server fault)."""
        key = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            if key in self._headers:
                return self._headers[key]
        try:
            header = self._as_id(snapshot_id, lambda: api.snapshot_info(path))
        except GenlabError:
            raise
        except Exception as e:  # noqa: BLE001 - whatever a hostile header does, it is a 400
            raise GenlabError(f"snapshot '{snapshot_id}': unreadable genlab header ({type(e).__name__})") from None
        with self._lock:
            self._headers[key] = header
        return header

    # --- listing -----------------------------------------------------------------------------------------------
    def listing(self) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Public descriptions of every loadable snapshot (pretrained first, then the runs directory by id), and
        the files that look like snapshots but cannot be read ({id, error}): skipped, never fatal to the list."""
        out: list[dict[str, Any]] = []
        skipped: list[dict[str, str]] = []
        manifest = api.pretrained_manifest()
        for name in sorted(manifest):
            self._describe(PRETRAINED + name, None, manifest, out, skipped)
        for sid, path in self._scan_runs():
            self._describe(sid, path, manifest, out, skipped)
        return out, skipped

    def _describe(self, sid: str, path: Path | None, manifest: dict, out: list, skipped: list) -> None:
        try:
            info = self.resolve(sid) if path is None else SnapshotInfo(sid, path, self._header(sid, path))
            out.append(info.public(manifest))
        except GenlabError as e:  # not a genlab snapshot: reported, not listed
            skipped.append({"id": sid, "error": str(e).splitlines()[0]})
        except Exception as e:  # noqa: BLE001 - one bad file must not hide the others (or 500 the list)
            skipped.append({"id": sid, "error": f"snapshot '{sid}': cannot be described ({type(e).__name__})"})

    def _scan_runs(self) -> list[tuple[str, Path]]:
        """(id, snapshot file) of run directories and loose .safetensors snapshot files (training states skipped);
        nothing reached through a symlink that leads out of the runs directory."""
        root = self.runs_dir.resolve()
        if not root.is_dir():
            return []
        found: list[tuple[str, Path]] = []
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            depth = len(here.relative_to(root).parts)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and _stays_inside(here / d, root)) \
                if depth < MAX_DEPTH else []
            rel = here.relative_to(root).as_posix()
            if here != root and ("snapshot.safetensors" in files or (here / "snapshots").is_dir()):
                try:
                    snapshot = api.find_snapshot(here)
                    if _stays_inside(snapshot, root):
                        found.append((rel, snapshot))
                except GenlabError:
                    pass
                dirs[:] = []  # a run directory: its epoch snapshots and states are not listed separately
                continue
            for f in sorted(files):
                if f.endswith(".safetensors") and not f.startswith("state-") and _stays_inside(here / f, root):
                    found.append((f if here == root else f"{rel}/{f}", here / f))
            if len(found) >= MAX_LISTED:
                break
        return sorted(found[:MAX_LISTED])

    # --- loading -----------------------------------------------------------------------------------------------
    def load(self, info: SnapshotInfo) -> Any:
        """The generator of a resolved snapshot, from the LRU cache when the file is unchanged."""
        key = (str(info.path), info.path.stat().st_mtime_ns)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            gen = self._as_id(info.id, lambda: api.load(info.path, device=self.device))
        except GenlabError:
            raise
        except Exception as e:  # noqa: BLE001 - a malformed snapshot is the user's data: 400, not 500
            raise GenlabError(f"snapshot '{info.id}': cannot be loaded ({type(e).__name__})") from None
        with self._lock:
            self._cache[key] = gen
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return gen
