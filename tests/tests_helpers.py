"""Small shared values for tests (tiny model overrides)."""

TINY = ["model.base_channels=8", "model.channel_mults=[1,2]", "model.attention_resolutions=[14]", "model.num_heads=1"]


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run `genlab ARGS` in-process; (exit code, stdout, stderr)."""
    from genlab.cli.main import main

    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def save_tiny_diffusion(path, num_classes: int = 10, step: int = 1, sample: dict | None = None):
    """An untrained tiny class-conditional MNIST-shaped diffusion snapshot (TINY's sizes) at `path`, with `sample`
    as its config's sample settings; returns it."""
    import torch

    from genlab.checkpoints.snapshot import save_snapshot
    from genlab.data.codecs import ImageCodec
    from genlab.models.registry import get_family

    torch.manual_seed(0)
    model = get_family("diffusion")((1, 28, 28), num_classes=num_classes, base_channels=8, channel_mults=[1, 2],
                                    attention_resolutions=[14], num_heads=1)
    return save_snapshot(path, model, ImageCodec(1, 28, 28).state(),
                         extra={"config": {"data": {"dataset": "mnist"}, **({"sample": sample} if sample else {})},
                                "step": step})


def fit_generator(model, x, steps: int, lr: float = 3e-3) -> None:
    """`steps` Adam updates of a vocoder's generator phase on one clip x (B, 1, 1, T), in place (tests that train a
    tiny vocoder to a measurable end state)."""
    import torch

    model.image_shape = tuple(x.shape[1:])
    opt = torch.optim.Adam(model.param_groups()["generator"], lr)
    for _ in range(steps):
        loss, _ = model("generator", x, None)
        opt.zero_grad()
        loss.backward()
        opt.step()


def save_facies_snapshot(tmp_path, name: str, model, size: int, sample: dict | None = None):
    """An untrained binary-facies snapshot (LTrace-like procedural data, `size` px) of `model` in tmp_path/name;
    small random weights keep the output near p = 0.5 but varied. Returns the run directory."""
    import torch

    from genlab.checkpoints.snapshot import save_snapshot
    from genlab.data.codecs import ImageCodec

    torch.manual_seed(0)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    cfg = {"name": name, "data": {"dataset": "channels-procedural", "options": {"n": 40, "size": size, "seed": 1}}}
    if sample:
        cfg["sample"] = sample
    run = tmp_path / name
    save_snapshot(run / "snapshot.safetensors", model, ImageCodec(1, size, size, levels=2).state(),
                  extra={"config": cfg, "train_seconds": 12.0, "train_cpu_seconds": 30.0, "images_seen": 600,
                         "step": 10})
    return run


def load_script(path, name: str | None = None):
    """A script of benchmarks/ or scripts/ (not part of the package) as a module; benchmarks import their
    common.py, so callers put the script's folder on sys.path first (monkeypatch.syspath_prepend)."""
    import importlib.util
    from pathlib import Path

    path = Path(path)
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
