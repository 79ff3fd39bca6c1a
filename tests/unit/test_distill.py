"""Progressive distillation: the stage schedule and grids, the two-teacher-step target, and a real training step."""

import itertools

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models.diffusion.distill import (
    _coef,
    check_nested,
    ddim_step,
    distill_loss,
    distill_stage,
    draw_steps,
    stage_schedule,
    teacher_target,
)
from genlab.models.diffusion.model import Diffusion
from genlab.models.diffusion.samplers import ddim
from genlab.models.diffusion.schedules import make_alphas_cumprod, sampling_timesteps
from genlab.utils.seeding import sample_generators

TINY = {"base_channels": 8, "channel_mults": [1, 1], "attention_resolutions": [4], "num_heads": 2}


def test_stage_schedule_halves_exactly():
    assert stage_schedule(16, 1) == [(16, 8), (8, 4), (4, 2), (2, 1)]
    assert stage_schedule(32, 4) == [(32, 16), (16, 8), (8, 4)]
    assert stage_schedule(2, 1) == [(2, 1)]
    for bad in ((12, 1), (16, 16), (8, 16), (16, 0), (24, 4)):
        with pytest.raises(GenlabError, match="power of two"):
            stage_schedule(*bad)


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32, 64])
def test_teacher_grid_holds_student_grid(n):
    student, teacher = check_nested(n, 1000)
    assert len(student) == n and len(teacher) == 2 * n
    assert torch.equal(teacher[::2], student) and student[0] == 999
    assert torch.equal(student, sampling_timesteps(n, 1000))


def test_drawn_steps_are_consecutive_teacher_indices():
    gen = torch.Generator().manual_seed(0)
    steps = draw_steps(4, 1000, 200, gen)
    teacher = sampling_timesteps(8, 1000).tolist() + [-1]
    for t, m, u in zip(steps.t.tolist(), steps.m.tolist(), steps.u.tolist()):
        i = teacher.index(t)
        assert i % 2 == 0 and teacher[i + 1] == m and teacher[i + 2] == u
    assert set(steps.t.tolist()) == set(sampling_timesteps(4, 1000).tolist())  # every student step is drawn
    assert (steps.u == -1).any()  # including the last one, to the clean image


def test_target_is_exact_for_a_point_mass_teacher():
    """A teacher that always predicts the data point c: its two DDIM steps and the student's one step agree only
    when the student predicts c, so the target must be c exactly (also on the final step to the clean image)."""
    ab = make_alphas_cumprod("cosine", 1000)
    c = torch.linspace(-0.9, 0.9, 16).reshape(1, 1, 4, 4).repeat(6, 1, 1, 1)
    steps = draw_steps(2, 1000, 6, torch.Generator().manual_seed(1))
    _, target = teacher_target(lambda x, t: c[: x.shape[0]], c, torch.randn(6, 1, 4, 4), steps, ab)
    torch.testing.assert_close(target, c, atol=1e-4, rtol=0)


def test_target_reproduces_two_teacher_steps_in_one():
    """For an arbitrary (nonlinear) teacher, one DDIM step from z_t with the target x0 lands where two teacher
    steps land (the defining property, checked against the sampler module's own DDIM)."""
    ab = make_alphas_cumprod("cosine", 1000)

    def teacher(x, t):
        return torch.tanh(0.7 * x + 0.001 * t.float().reshape(-1, 1, 1, 1))

    x0 = torch.rand(5, 1, 4, 4) * 2 - 1
    steps = draw_steps(4, 1000, 5, torch.Generator().manual_seed(2))
    eps = torch.randn(5, 1, 4, 4)
    z_t, target = teacher_target(teacher, x0, eps, steps, ab)
    a_t, s_t = _coef(ab, steps.t, x0)
    a_u, s_u = _coef(ab, steps.u, x0)
    one = ddim_step(target, z_t, a_t, s_t, a_u, s_u)
    for i in range(5):  # two teacher steps with samplers.ddim on the per-sample grid [t, m] (then u or clean)
        grid = [int(steps.t[i]), int(steps.m[i])]
        ab_ext = ab.clone()
        if int(steps.u[i]) >= 0:  # ddim jumps to the clean image after its last index: stop at u instead
            want = _two_steps(teacher, z_t[i:i + 1], grid, int(steps.u[i]), ab)
        else:
            want = ddim(teacher, z_t[i:i + 1], grid, ab_ext, generators=sample_generators([0]))
        torch.testing.assert_close(one[i:i + 1], want, atol=2e-4, rtol=1e-4)


def _two_steps(teacher, z, grid, u, ab):
    x = z
    for t, s in itertools.pairwise([*grid, u]):
        a_t, s_t = ab[t].sqrt().float(), (1 - ab[t]).sqrt().float()
        a_s, s_s = ab[s].sqrt().float(), (1 - ab[s]).sqrt().float()
        x = ddim_step(teacher(x, torch.tensor([t])), x, a_t, s_t, a_s, s_s)
    return x


def _perturbed(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def test_distillation_step_reduces_the_loss_on_a_tiny_unet():
    torch.manual_seed(0)
    teacher = _perturbed(Diffusion((1, 8, 8), num_classes=3, prediction="v", num_train_steps=64, **TINY), 0).eval()
    student = _perturbed(Diffusion((1, 8, 8), num_classes=3, prediction="v", num_train_steps=64, **TINY), 1)
    x0 = torch.rand(16, 1, 8, 8) * 2 - 1
    labels = torch.arange(16) % 3
    steps = draw_steps(2, 64, 16, torch.Generator().manual_seed(3))
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(4))

    @torch.no_grad()
    def loss():
        return float(distill_loss(student.denoiser(labels), teacher.denoiser(labels, clip_x0=True), x0, steps, eps,
                                  teacher.alphas_cumprod))

    before = loss()
    batches = itertools.repeat((x0, labels))
    student_ema, result = distill_stage(teacher, student, batches, student_steps=2, iterations=30, lr=1e-3,
                                        p_uncond=0.0)
    after = loss()
    assert after < 0.7 * before, (before, after)
    assert result.iterations == 30 and len(result.losses) == 30 and result.last_loss < result.first_loss
    assert not student_ema.training and all(not p.requires_grad for p in teacher.parameters())


def test_eps_student_and_bad_requests_are_refused():
    teacher = Diffusion((1, 8, 8), prediction="v", num_train_steps=64, **TINY)
    student = Diffusion((1, 8, 8), prediction="eps", num_train_steps=64, **TINY)
    with pytest.raises(GenlabError, match="prediction v or edm"):
        distill_stage(teacher, student, iter([]), student_steps=1, iterations=1)
    other = Diffusion((1, 8, 8), prediction="v", schedule="linear", num_train_steps=64, **TINY)
    with pytest.raises(GenlabError, match="share the noise schedule"):
        distill_stage(teacher, other, iter([]), student_steps=1, iterations=1)
    with pytest.raises(GenlabError, match="exceed"):
        check_nested(40, 64)


def test_half_copy_loads_and_samples_like_the_original(tmp_path):
    from safetensors import safe_open

    from genlab.checkpoints.snapshot import save_snapshot
    from genlab.distill_api import save_half
    from genlab.inference import load, read_snapshot_header
    from tests_helpers import save_tiny_diffusion

    src = save_tiny_diffusion(tmp_path / "full.safetensors")
    with torch.no_grad():  # untrained nets output zeros: perturb so the outputs depend on the weights
        gen = load(src, device="cpu")
        _perturbed(gen.model, 5)
    save_snapshot(src, gen.model, gen.info.codec, extra={"config": {"data": {"dataset": "mnist"}}})
    half = save_half(src, tmp_path / "half.safetensors")
    with safe_open(str(half), framework="pt") as f:
        assert all(f.get_tensor(k).dtype in (torch.float16, torch.int64) for k in f.keys())  # noqa: SIM118
    assert half.stat().st_size < 0.6 * src.stat().st_size
    assert read_snapshot_header(half).extra["stored_dtype"] == "float16"
    a = load(src, device="cpu").generate(4, sampler="ddim", steps=3, labels=1)
    b = load(half, device="cpu").generate(4, sampler="ddim", steps=3, labels=1)
    assert (a.int() - b.int()).abs().max() <= 3 and not torch.equal(a, torch.zeros_like(a))


def test_cli_distill_writes_a_sampleable_run_and_refuses_bad_schedules(tmp_path, tiny_data_dir, capsys):
    from genlab.inference import read_snapshot_header
    from tests_helpers import run_cli, save_tiny_diffusion

    teacher = save_tiny_diffusion(tmp_path / "teacher.safetensors")  # an eps teacher: the students become v
    out = tmp_path / "distill"
    code, stdout, err = run_cli(["distill", str(teacher), "-o", str(out), "--teacher-steps", "4", "--student-steps",
                                 "1", "--iterations", "2,1", "--batch-size", "4", "--data-dir", str(tiny_data_dir),
                                 "--device", "cpu", "-q"], capsys)
    assert code == 0, err
    assert "steps-2: 4 -> 2 steps, 2 iterations" in stdout and "steps-1: 2 -> 1 steps, 1 iterations" in stdout
    info = read_snapshot_header(out / "steps-1")
    assert info.kwargs["prediction"] == "v" and info.sample_settings["steps"] == 1
    assert [s["iterations"] for s in info.extra["distillation"]["stages"]] == [2, 1]
    code, stdout, err = run_cli(["sample", str(out / "steps-1"), "-n", "4", "-o", str(tmp_path / "s.png"), "-q",
                                 "--device", "cpu"], capsys)
    assert code == 0 and "steps 1" in stdout, err
    code, stdout, _ = run_cli(["distill", str(teacher), "-o", str(out), "--teacher-steps", "4", "--student-steps",
                               "1", "--data-dir", str(tiny_data_dir), "-q"], capsys)  # both stages reused
    assert code == 0 and stdout.count("already there") == 2
    code, _, err = run_cli(["distill", str(teacher), "-o", str(tmp_path / "x"), "--teacher-steps", "12"], capsys)
    assert code != 0 and "power of two" in err and len(err.strip().splitlines()) == 1


def test_a_student_continues_the_chain_as_the_next_teacher(tmp_path, tiny_data_dir, capsys):
    """4 -> 2 in one call, then 2 -> 1 from that student: the chain's stages and first teacher are kept."""
    from genlab.inference import read_snapshot_header
    from tests_helpers import run_cli, save_tiny_diffusion

    teacher = save_tiny_diffusion(tmp_path / "teacher.safetensors")
    common = ["--batch-size", "4", "--data-dir", str(tiny_data_dir), "--device", "cpu", "-q"]
    code, _, err = run_cli(["distill", str(teacher), "-o", str(tmp_path / "a"), "--teacher-steps", "4",
                            "--student-steps", "2", "--iterations", "2", *common], capsys)
    assert code == 0, err
    student = tmp_path / "a" / "steps-2"
    code, stdout, err = run_cli(["distill", str(student), "-o", str(tmp_path / "b"), "--teacher-steps", "2",
                                 "--student-steps", "1", "--iterations", "3", *common], capsys)
    assert code == 0 and "steps-1: 2 -> 1 steps, 3 iterations" in stdout, err
    info = read_snapshot_header(tmp_path / "b" / "steps-1")
    chain = info.extra["distillation"]
    assert [(s["teacher_steps"], s["student_steps"], s["iterations"]) for s in chain["stages"]] == [(4, 2, 2),
                                                                                                   (2, 1, 3)]
    assert chain["teacher"] == str(teacher) and chain["continued_from"] == str(student)
    assert info.kwargs["prediction"] == "v" and info.sample_settings["steps"] == 1
    code, _, err = run_cli(["distill", str(student), "-o", str(tmp_path / "c"), "--teacher-steps", "2",
                            "--student-steps", "1", "--guidance", "2", *common], capsys)
    assert code != 0 and "already a distilled student" in err and len(err.strip().splitlines()) == 1
