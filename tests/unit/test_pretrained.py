"""Pretrained snapshots: publish → manifest → resolve by name; every shipped entry verifies and loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import genlab.api as gl
from genlab.checkpoints import pretrained
from genlab.checkpoints.snapshot import read_tensors
from genlab.errors import GenlabError
from tests_helpers import TINY, load_script

SHIPPED = pretrained.manifest()


def publish_script():
    """scripts/publish_pretrained.py as a module (it is a script, not part of the package)."""
    return load_script(Path(__file__).resolve().parents[2] / "scripts" / "publish_pretrained.py")


@pytest.fixture(scope="module")
def tiny_run(tiny_data_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("pre") / "run"
    gl.train("mnist-diffusion-quick", [f"data.data_dir={tiny_data_dir}", f"run_dir={run}", "data.download=false",
                                       "train.batch_size=8", "train.max_steps=2", "train.epoch_images=16",
                                       "sample.num_images=4", "sample.steps=2", *TINY], progress=False)
    return run


@pytest.fixture
def manifest_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "MANIFEST", tmp_path / "pretrained" / "manifest.json")
    return tmp_path / "pretrained"


def test_publish_then_sample_by_name(tiny_run, manifest_dir):
    entry = pretrained.publish("tiny-ddpm", tiny_run, "genlab train mnist-diffusion-quick", {"fid": 1.0, "n": 10})
    saved = json.loads((manifest_dir / "manifest.json").read_text())
    assert saved["tiny-ddpm"] == entry and entry["family"] == "diffusion" and entry["steps"] == 2
    assert entry["sha256"] == pretrained.sha256(manifest_dir / "tiny-ddpm.safetensors")
    assert "train_wall_minutes" not in entry
    timed = pretrained.publish("tiny-ddpm", tiny_run, "cmd", cpu_minutes=14.26, wall_minutes=51.04)
    assert (timed["train_cpu_minutes"], timed["train_wall_minutes"]) == (14.3, 51.0)  # measured, not the header's
    from_name = gl.load("tiny-ddpm").generate(2, seed=5, steps=2)
    from_run = gl.load(tiny_run).generate(2, seed=5, steps=2)
    assert from_name.equal(from_run)


def test_publish_writes_measured_sample_defaults_into_the_shipped_header(tiny_run, manifest_dir):
    entry = pretrained.publish("tiny-ddpm", tiny_run, "cmd", sample={"sampler": "ddim", "steps": 3})
    shipped = gl.load("tiny-ddpm")
    assert shipped.info.sample_settings["sampler"] == "ddim" and shipped.info.sample_settings["steps"] == 3
    trained = gl.load(tiny_run).info
    assert shipped.info.config["sample_as_trained"] == trained.config["sample"]
    assert entry["sha256"] == pretrained.sha256(manifest_dir / "tiny-ddpm.safetensors")
    source = read_tensors(Path(tiny_run) / "snapshot.safetensors")
    copied = read_tensors(manifest_dir / "tiny-ddpm.safetensors")
    assert source.keys() == copied.keys() and all(source[k].equal(copied[k]) for k in source)
    # `genlab sample` / `evaluate` without options use the new defaults
    from genlab.cli.checks import resolve_sampling
    assert {"sampler": "ddim", "steps": 3}.items() <= resolve_sampling(shipped.info).items()


def test_publish_script_parses_sample_pairs():
    assert publish_script().parse_sample(["sampler=unipc", "steps=5", "guidance=1.5"]) == {
        "sampler": "unipc", "steps": 5, "guidance": 1.5}
    with pytest.raises(GenlabError, match="expected KEY=VALUE"):
        publish_script().parse_sample(["guidance"])


def test_tampered_or_missing_files_are_refused(tiny_run, manifest_dir):
    pretrained.publish("tiny-ddpm", tiny_run, "genlab train mnist-diffusion-quick")
    path = manifest_dir / "tiny-ddpm.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(GenlabError, match="does not match its sha256"):
        gl.load("tiny-ddpm")
    path.unlink()
    with pytest.raises(GenlabError, match="missing from this installation"):
        gl.load("tiny-ddpm")
    with pytest.raises(GenlabError, match="known: tiny-ddpm"):
        gl.load("tiny-dpm")


def test_publish_refuses_big_files_and_bad_names(tiny_run, manifest_dir):
    with pytest.raises(GenlabError, match="over the 0.001 MB limit"):
        pretrained.publish("tiny", tiny_run, "cmd", max_mb=0.001)
    with pytest.raises(GenlabError, match="expected a short name"):
        pretrained.publish("a/b", tiny_run, "cmd")
    assert not (manifest_dir / "manifest.json").exists()


def test_the_publish_script_reports_errors_in_one_line(tiny_run, manifest_dir, tmp_path, capsys):
    mod = publish_script()
    assert mod.main(["x", str(tmp_path / "nowhere"), "--command", "c"]) == 2
    assert "no finished snapshot to publish" in capsys.readouterr().err
    metrics = tmp_path / "m.json"
    metrics.write_text('{"fid": 2.5}')
    assert mod.main(["tiny", str(tiny_run), "--command", "genlab train x", "--metrics", str(metrics)]) == 0
    assert pretrained.manifest()["tiny"]["metrics"] == {"fid": 2.5}


def test_remeasure_replaces_metrics_keeps_the_old_and_refuses_unknown_names(tiny_run, manifest_dir, tmp_path, capsys):
    pretrained.publish("tiny", tiny_run, "genlab train x", {"fid": 9.0, "floor_fid": 1.6, "samples": 1000})
    new = {"num_samples": 1000, "metrics": {"fid": 7.5, "floor": {"fid": 1.4, "n": 1000}}}
    entry = pretrained.remeasure("tiny", new, "genlab evaluate tiny -n 1000")
    saved = pretrained.manifest()["tiny"]
    assert saved == entry and saved["metrics"] == new and saved["metrics_superseded"]["fid"] == 9.0
    assert saved["sha256"] == pretrained.sha256(manifest_dir / "tiny.safetensors")  # the file is untouched
    assert pretrained.headline(saved) == {"fid": 7.5, "floor": 1.4, "n": 1000, "floor_draws": 1, "floor_q25": None,
                                          "floor_q75": None}  # a floor recorded before the median: one draw
    with pytest.raises(GenlabError, match="'tny': not in the manifest"):
        pretrained.remeasure("tny", new, "c")
    with pytest.raises(GenlabError, match="metrics are empty"):
        pretrained.remeasure("tiny", {}, "c")
    mod = publish_script()
    assert mod.main(["tiny", "--command", "c"]) == 2  # neither SOURCE nor --remeasure
    assert "either SOURCE" in capsys.readouterr().err
    (tmp_path / "r.json").write_text('{"fid": 3.0, "floor_fid": 0.5, "floor_n": 2000}')
    assert mod.main(["tiny", "--remeasure", str(tmp_path / "r.json"), "--command", "genlab evaluate tiny"]) == 0
    assert gl.pretrained_headline(pretrained.manifest()["tiny"]) == {"fid": 3.0, "floor": 0.5, "n": 2000,
                                                                     "floor_draws": 1, "floor_q25": None,
                                                                     "floor_q75": None}
    assert gl.pretrained_headline_text(pretrained.manifest()["tiny"]) == "  FID 3.0 (floor 0.50, n = 2000)"
    assert gl.pretrained_headline_text({"metrics": {}}) == ""


def test_remeasure_floor_changes_only_the_floor_fields(tiny_run, manifest_dir):
    """Issue 15: a shipped entry's floors are re-measured as medians of draws without touching the file or the other
    metrics; both recorded layouts (flat floor_fid, evaluate's nested floor) and list items are found."""
    metrics = {"fid": 9.0, "floor_fid": 1.6, "floor_n": 1000, "fid_over_floor": 5.625,
               "guidance_sweep": [{"fid": 3.0, "floor_fid": 6.6, "n": 200}],
               "metrics": {"fid": 7.5, "floor": {"fid": 1.4, "n": 1000, "kid_mean": 0.1}}}
    pretrained.publish("tiny", tiny_run, "genlab train x", metrics)
    before = pretrained.manifest()["tiny"]
    holders = pretrained.floor_holders(before)
    assert holders == [((), "flat"), (("guidance_sweep", 0), "flat"), (("metrics",), "nested")]
    floor = {"fid": 1.2, "fid_q25": 1.0, "fid_q75": 1.5, "draws": 10, "fid_draws": [1.6] + [1.2] * 9, "n": 1000}
    pretrained.remeasure_floor("tiny", (), floor, "python benchmarks/pretrained_floors.py")
    pretrained.remeasure_floor("tiny", ("metrics",), floor, "python benchmarks/pretrained_floors.py")
    pretrained.remeasure_floor("tiny", ("guidance_sweep", 0), {**floor, "n": 200, "fid": 5.0},
                               "python benchmarks/pretrained_floors.py")
    after = pretrained.manifest()["tiny"]
    m = after["metrics"]
    assert (m["floor_fid"], m["floor_superseded_fid"], m["floor_draws"], m["floor_fid_q25"]) == (1.2, 1.6, 10, 1.0)
    assert m["fid_over_floor"] == pytest.approx(9.0 / 1.2) and m["fid"] == 9.0
    assert m["guidance_sweep"][0]["floor_fid"] == 5.0 and m["guidance_sweep"][0]["fid"] == 3.0
    nested = m["metrics"]["floor"]
    assert (nested["fid"], nested["superseded_fid"], nested["kid_mean"], nested["draws"]) == (1.2, 1.4, 0.1, 10)
    assert {k: v for k, v in after.items() if k != "metrics"} == {k: v for k, v in before.items() if k != "metrics"}
    assert after["sha256"] == pretrained.sha256(manifest_dir / "tiny.safetensors")
    assert pretrained.headline(after) == {"fid": 9.0, "floor": 1.2, "n": 1000, "floor_draws": 10, "floor_q25": 1.0,
                                          "floor_q75": 1.5}
    assert gl.pretrained_headline_text(after) == "  FID 9.0 (floor 1.20, median of 10 draws, n = 1000)"
    with pytest.raises(GenlabError, match="has n = 1000, the new one n = 2000"):
        pretrained.remeasure_floor("tiny", (), {**floor, "n": 2000}, "c")
    with pytest.raises(GenlabError, match="no floor at metrics"):
        pretrained.remeasure_floor("tiny", ("nowhere",), floor, "c")
    with pytest.raises(GenlabError, match="lacks fid_q25"):
        pretrained.remeasure_floor("tiny", (), {"fid": 1.0}, "c")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_snapshot_verifies_loads_and_documents_itself(name):
    entry = SHIPPED[name]
    path = pretrained.resolve(name)  # sha256 checked
    assert path.stat().st_size <= pretrained.MAX_MB * 2**20
    assert entry["command"].startswith(("genlab ", "GENLAB_")) and entry["metrics"], f"{name}: command/metrics"
    gen = gl.load(name)
    assert gen.header["family"] == entry["family"]


def test_shipped_files_are_all_in_the_manifest():
    folder = pretrained.MANIFEST.parent
    files = {p.name for p in folder.glob("*.safetensors")} if folder.is_dir() else set()
    assert files == {e["file"] for e in SHIPPED.values()}
