"""The notebooks: committed without outputs and in sync with notebooks/build.py; each runs top to bottom in tiny mode
(toy data written by the package, tiny models) and shows what it promises; the render script names a failing cell."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

# Per notebook: strings its outputs must contain (tables and printed checks), and a minimum number of pictures.
EXPECTED = {
    "01_images": (["| fid |", "floor (real vs real)", "| epoch | images_seen | fid |",
                   "regenerated alone from its seed is identical: True", "| dpmpp-2m | 4 |"], 8),
    "02_audio_musdb": (["| stft/oracle |", "si_sdr_db", "| vocals | stft/gl8 | 1 |", "per-frequency means",
                        "| bass | vocoder (own phase) |", "all four stems regenerated from their log-mel"], 6),
    "03_channels": (["| contains nn.Linear | True | False |", "real vs real (floor)", "O_N", "posterior latent",
                     "| wells_honoured |", "reproduce: genlab channels inpaint"], 12),
    "04_diffusion": (["| linear | 100 |", "| 65 | 56 |", "same seeds twice -> identical: True",
                      "max |DDIM(η = 1) − DDPM|", "| floor (real vs real) |", "| langevin | 3 |", "| pc-vp | 3 |",
                      "| score-sde VP (mnist-sde-vp) |", "| accuracy at t = 0 |", "target-class share"], 14),
    "05_autoencoders": (["| denoising AE | dae |", "| gaussian σ = 0.3 |", "| β-VAE (β = 4) |", "| mse |",
                         "roc_auc", "IWAE: −L_k never rises", "| recon+latent |", "| raw pixels (baseline) |",
                         "| VQ-VAE | vq-vae |", "prior bits per code",
                         "factors of the first four", "| β-TC-VAE (β = 8) |", "variance share of the 4 directions"], 17),
    # one line of strings per part of issue 19 (each part's owner adds theirs)
    "06_diffusion_beyond": (["model: diffusion",
                             "known pixels after the paste: exact", "strength 0 returns the input unchanged: True",
                             "| center | repaint |", "| student | 1 |",
                             "the autoencoder inside the latent-diffusion snapshot is the frozen one: True",
                             "DiT tokens: (7, 7)", "| mnist-dit | DiT |",
                             "| onnxruntime-int8-static |", "| attention layer |", "loss profile: 8 timesteps"], 11),
}


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def render():
    return _load("render_notebooks", ROOT / "scripts" / "render_notebooks.py")


def _text(nb) -> str:
    """Everything a reader sees in the outputs: printed text, plain-text reprs and Markdown tables."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts += [data.get("text/markdown", ""), data.get("text/plain", "")]
    return "\n".join(parts)


def test_committed_notebooks_have_no_outputs_and_match_build_py():
    build = _load("notebooks_build", NOTEBOOKS / "build.py")
    assert sorted(build.NOTEBOOKS) == sorted(EXPECTED)
    for name in build.NOTEBOOKS:
        path = NOTEBOOKS / f"{name}.ipynb"
        assert path.read_text() == build.text(name), f"{path.name} is stale: run python notebooks/build.py"
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code)
        assert "parameters" in code[0].metadata["tags"] and "GENLAB_NOTEBOOK_FULL" in code[0].source
        assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_top_to_bottom_in_tiny_mode(name, render, tmp_path):
    nb = render.execute(NOTEBOOKS / f"{name}.ipynb", full=False, timeout=300, env={"TMPDIR": str(tmp_path)})
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)  # every cell ran
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = _text(nb)
    assert "mode: tiny" in text
    wanted, min_images = EXPECTED[name]
    missing = [s for s in wanted if s not in text]
    assert not missing, f"{name}: outputs lack {missing}"
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    assert images >= min_images, f"{name}: {images} pictures, expected at least {min_images}"
    html = render.write_html(nb, tmp_path / f"{name}.html").read_text()
    assert html.count("data:image/png;base64") >= min_images  # self-contained page


@pytest.mark.slow
def test_render_names_the_failing_notebook_and_cell(render, tmp_path, capsys):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("text"),
                                         nbformat.v4.new_code_cell("y = x / 0")])
    path = tmp_path / "99_broken.ipynb"
    nbformat.write(nb, path)
    results = render.render([path], tmp_path / "html", full=False, timeout=60)
    assert len(results) == 1 and "99_broken.ipynb: cell 2 failed ('y = x / 0')" in results[0].error
    assert "ZeroDivisionError" in results[0].error
    assert (tmp_path / "html" / "99_broken.failed.html").is_file()
    out = capsys.readouterr().out
    assert "[1/1] 99_broken (tiny) ..." in out and "FAILED" in out


def test_notebook_selection_by_prefix(render):
    assert [p.stem for p in render.notebook_paths(["04", "01_images"])] == ["01_images", "04_diffusion"]
    with pytest.raises(SystemExit, match="no notebook matches 7"):
        render.notebook_paths(["7"])
