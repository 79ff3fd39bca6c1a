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
