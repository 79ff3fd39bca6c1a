"""Inpainting (replacement, RePaint) and SDEdit with analytic denoisers, mask handling, the API and the CLI."""

import itertools

import numpy as np
import pytest
import torch

from genlab.editing_api import edit, inpaint, make_mask, read_images
from genlab.errors import GenlabError
from genlab.models.diffusion import editing
from genlab.models.diffusion.schedules import make_alphas_cumprod, sampling_timesteps
from genlab.utils.seeding import sample_generators
from tests_helpers import run_cli, save_tiny_diffusion

AB = make_alphas_cumprod("cosine", 1000)


def point_mass(c):
    """The exact denoiser of data concentrated on the image c: E[x0 | x_t] = c."""
    return lambda x, t: c[: x.shape[0]].expand_as(x)


def gaussian(scale=0.5):
    """The exact denoiser of data ~ N(0, scale^2 I): E[x0 | x_t] = sqrt(ab) s^2 / (ab s^2 + 1 - ab) x_t."""
    def denoise(x, t):
        ab = AB[t].float().reshape(-1, 1, 1, 1)
        return ab.sqrt() * scale**2 / (ab * scale**2 + 1 - ab) * x
    return denoise


@pytest.mark.parametrize("jump,resample", [(1, 1), (2, 3), (5, 5)])
def test_known_pixels_are_kept_exactly(jump, resample):
    x_known = torch.rand(3, 1, 8, 8) * 2 - 1
    hole = editing.preset_mask("center", 8, 8)
    out = editing.repaint(gaussian(), x_known, hole, sampling_timesteps(10, 1000), AB,
                          generators=sample_generators([0, 1, 2]), jump=jump, resample=resample)
    keep = ~hole.expand(3, 1, 8, 8)
    assert torch.equal(out.x0[keep], x_known[keep])
    assert not torch.equal(out.x0[~keep], x_known[~keep])  # the hole was generated
    assert out.nfe == len(editing.repaint_schedule(10, jump, resample)) - 1 - _ups(10, jump, resample)


def _ups(n, jump, resample):
    seq = editing.repaint_schedule(n, jump, resample)
    return sum(b > a for a, b in itertools.pairwise(seq))


def test_point_mass_fills_the_hole_with_the_data_and_agrees_before_the_paste():
    c = torch.linspace(-1, 1, 64).reshape(1, 1, 8, 8)
    hole = editing.preset_mask("random-pixels:0.5", 8, 8, seed=3)
    for res in (editing.replacement(point_mass(c), c, hole, sampling_timesteps(8, 1000), AB,
                                    generators=sample_generators([0])),
                editing.repaint(point_mass(c), c, hole, sampling_timesteps(8, 1000), AB,
                                generators=sample_generators([0]), jump=2, resample=3)):
        torch.testing.assert_close(res.x0, c)
        torch.testing.assert_close(res.x0_unpasted, c)


def test_repaint_schedule_counts():
    assert editing.repaint_schedule(4, 2, 1) == [4, 3, 2, 1, 0]
    seq = editing.repaint_schedule(10, 3, 4)
    assert seq[0] == 10 and seq[-1] == 0 and min(seq) == 0 and max(seq) == 10
    assert all(abs(a - b) == 1 for a, b in itertools.pairwise(seq))
    jumps = [p for p in range(1, 10) if p % 3 == 0 and p <= 10 - 3]  # 3, 6
    assert _ups(10, 3, 4) == len(jumps) * 3 * 3  # (resample - 1) trips of `jump` levels up per jump point
    with pytest.raises(GenlabError, match=">= 1"):
        editing.repaint_schedule(10, 0, 2)


def test_images_do_not_depend_on_their_batch():
    x_known = torch.rand(3, 1, 8, 8) * 2 - 1
    hole = editing.preset_mask("left-half", 8, 8)
    grid = sampling_timesteps(6, 1000)
    both = editing.repaint(gaussian(), x_known, hole, grid, AB, generators=sample_generators([5, 6, 7]), jump=2,
                           resample=2)
    alone = editing.repaint(gaussian(), x_known[1:2], hole, grid, AB, generators=sample_generators([6]), jump=2,
                            resample=2)
    torch.testing.assert_close(both.x0[1:2], alone.x0)


def test_sdedit_strength_zero_returns_the_input_and_one_forgets_it():
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    gens = sample_generators([0, 1])
    assert torch.equal(editing.sdedit(gaussian(), x, 0.0, 10, AB, generators=gens), x)
    c = torch.full((1, 1, 8, 8), 0.3)
    out = editing.sdedit(point_mass(c), x, 1.0, 10, AB, generators=sample_generators([0, 1]))
    torch.testing.assert_close(out, c.expand_as(x))
    assert editing.sdedit_timesteps(0.5, 10, 1000).tolist()[0] == 499
    assert len(editing.sdedit_timesteps(0.003, 10, 1000)) == 3  # never more steps than levels to undo
    with pytest.raises(GenlabError, match=r"\[0, 1\]"):
        editing.sdedit_timesteps(1.5, 10, 1000)


def test_mask_presets_and_validation():
    assert editing.preset_mask("center", 28, 28).sum() == 14 * 14
    assert (~editing.preset_mask("outpaint", 28, 28)).sum() == 14 * 14
    assert editing.preset_mask("left-half", 28, 28)[:, :14].all()
    assert not editing.preset_mask("left-half", 28, 28)[:, 14:].any()
    wells = editing.preset_mask("wells:3", 16, 16)
    assert (~wells).sum() == 3 * 16 and (~wells).all(dim=0).sum() == 3
    frac = editing.preset_mask("random-pixels:0.9", 64, 64, seed=1).float().mean()
    assert 0.85 < frac < 0.95
    for bad, msg in (("nope", "preset"), ("wells:0", "1..16"), ("random-pixels:1.5", r"\(0, 1\)"),
                     ("center:x", None)):
        if msg is None:  # center takes no argument: ignored
            editing.preset_mask(bad, 16, 16)
            continue
        with pytest.raises(GenlabError, match=msg):
            editing.preset_mask(bad, 16, 16)
    with pytest.raises(GenlabError, match="does not fit"):
        editing.check_hole(torch.ones(5, 5), torch.zeros(1, 1, 8, 8))
    with pytest.raises(GenlabError, match="values 0"):
        editing.check_hole(torch.full((8, 8), 0.5), torch.zeros(1, 1, 8, 8))


def test_mask_and_image_files(tmp_path):
    from PIL import Image

    m = np.zeros((8, 8), dtype=np.uint8)
    m[2:5, 2:5] = 1
    np.save(tmp_path / "m.npy", m)
    assert make_mask(tmp_path / "m.npy", (1, 8, 8)).sum() == 9
    Image.fromarray(m * 255).save(tmp_path / "m.png")
    assert torch.equal(make_mask(tmp_path / "m.png", (1, 8, 8)), torch.from_numpy(m.astype(bool)))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(GenlabError, match="not a plain .npy"):  # never unpickled
        make_mask(tmp_path / "obj.npy", (1, 8, 8))
    np.save(tmp_path / "bad.npy", np.full((8, 8), 3))
    with pytest.raises(GenlabError, match="0/1"):
        make_mask(tmp_path / "bad.npy", (1, 8, 8))
    with pytest.raises(GenlabError, match=r"expected \(8, 8\)"):
        make_mask(np.ones((4, 4)), (1, 8, 8))
    with pytest.raises(GenlabError, match="no pixel"):
        make_mask(np.zeros((8, 8)), (1, 8, 8))
    (tmp_path / "m.txt").write_text("1")
    with pytest.raises(GenlabError, match="preset"):
        make_mask(str(tmp_path / "m.txt"), (1, 8, 8))
    np.save(tmp_path / "imgs.npy", np.zeros((2, 8, 8), dtype=np.uint8))
    assert read_images(tmp_path / "imgs.npy", (1, 8, 8)).shape == (2, 1, 8, 8)
    with pytest.raises(GenlabError, match="shape"):
        read_images(tmp_path / "imgs.npy", (1, 16, 16))
    np.save(tmp_path / "f.npy", np.zeros((8, 8), dtype=np.float32) - 1)
    with pytest.raises(GenlabError, match="0..255"):
        read_images(tmp_path / "f.npy", (1, 8, 8))


@pytest.fixture(scope="module")
def tiny_snapshot(tmp_path_factory):
    return save_tiny_diffusion(tmp_path_factory.mktemp("edit") / "snapshot.safetensors")


def test_api_inpaint_and_edit_on_a_snapshot(tiny_snapshot):
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    out = inpaint(tiny_snapshot, images, "top-half", method="repaint", steps=4, jump=2, resample=2, device="cpu")
    keep = ~out.hole.bool()
    assert out.images.shape == images.shape and out.images.dtype == torch.uint8
    assert torch.equal(out.images[keep], images[keep])  # known pixels exactly
    assert out.known_error["pasted_max_abs"] == 0.0 and out.known_error["known_pixels"] == 3 * 14 * 28
    assert out.nfe == len(editing.repaint_schedule(4, 2, 2)) - 1 - _ups(4, 2, 2)
    same = edit(tiny_snapshot, images, strength=0.0, device="cpu")
    assert torch.equal(same.images, images) and same.nfe == 0
    moved = edit(tiny_snapshot, images, strength=0.4, steps=3, labels=2, guidance=1.5, device="cpu")
    assert moved.nfe == 6 and not torch.equal(moved.images, images)
    with pytest.raises(GenlabError, match="method"):
        inpaint(tiny_snapshot, images, "center", method="magic")
    with pytest.raises(GenlabError, match="shape"):
        inpaint(tiny_snapshot, torch.zeros(2, 1, 8, 8, dtype=torch.uint8), "center", device="cpu")


def test_cli_inpaint_edit_and_one_line_errors(tiny_snapshot, tmp_path, capsys):
    np.save(tmp_path / "in.npy", np.random.default_rng(0).integers(0, 256, (2, 28, 28), dtype=np.uint8))
    out = tmp_path / "grid.png"
    code, stdout, err = run_cli(["inpaint", str(tiny_snapshot), "--mask", "center", "--input", str(tmp_path / "in.npy"),
                                 "--steps", "3", "--resample", "1", "-o", str(out), "--npy", str(tmp_path / "o.npy"),
                                 "-q", "--device", "cpu"], capsys)
    assert code == 0, err
    assert out.is_file() and "exact after the paste" in stdout and np.load(tmp_path / "o.npy").shape == (2, 1, 28, 28)
    code, stdout, err = run_cli(["edit", str(tiny_snapshot), "--input", str(tmp_path / "in.npy"), "--strength",
                                 "0.3", "--steps", "2", "-o", str(out), "-q", "--device", "cpu"], capsys)
    assert code == 0, err
    for args, msg in ((["--mask", "circle"], "preset"), (["--mask", str(tmp_path / "none.npy")], "not found"),
                      (["--mask", "center", "--test-images", "2"], "exactly one")):
        code, _, err = run_cli(["inpaint", str(tiny_snapshot), *args, "--input", str(tmp_path / "in.npy"),
                                "-o", str(out), "-q"], capsys)
        assert code != 0 and msg in err and len(err.strip().splitlines()) == 1, err


def test_facies_snapshot_honours_every_well_cell(tmp_path):
    """Binary facies (codec levels 2): conditioning on well columns keeps every well cell; values stay 0/1."""
    from genlab.checkpoints.snapshot import save_snapshot
    from genlab.data.codecs import ImageCodec
    from genlab.models.registry import get_family

    torch.manual_seed(0)
    model = get_family("diffusion")((1, 16, 16), base_channels=8, channel_mults=[1, 2], attention_resolutions=[],
                                    num_heads=1)
    path = save_snapshot(tmp_path / "facies.safetensors", model, ImageCodec(1, 16, 16, levels=2).state())
    truths = (torch.rand(4, 1, 16, 16) < 0.3).to(torch.uint8)
    out = inpaint(path, truths, "wells:3", method="repaint", steps=4, jump=2, resample=2, device="cpu")
    wells = ~editing.preset_mask("wells:3", 16, 16)
    assert torch.equal(out.values[:, 0][:, wells], truths[:, 0][:, wells])
    assert set(out.values.unique().tolist()) <= {0, 1} and out.known_error["pasted_cells_honoured"] == 1.0
    assert 0.0 <= out.known_error["unpasted_cells_honoured"] <= 1.0
