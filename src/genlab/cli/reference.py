"""docs/cli.md, generated from the real `--help` of every command (so the reference cannot drift from the CLI).

    python -m genlab.cli.reference docs/cli.md       # rewrite it
    python -m genlab.cli.reference --check docs/cli.md   # exit 1 if it is stale (the test suite runs this check)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from genlab.cli.main import PROG, command

HELP_WIDTH = 100
INTRO = """# genlab command-line reference

Generated from the commands' own `--help` by `python -m genlab.cli.reference docs/cli.md`; a test fails when it is
stale. Every command prints user mistakes as one line on stderr and exits non-zero (2 for usage errors), and checks
its options and output paths before any long work.

A SOURCE is a snapshot: a `.safetensors` file, a run directory (its final snapshot, else its newest epoch snapshot)
or a pretrained name (`genlab presets` lists them, marked `[pretrained]`). The same name means the same snapshot in
every command; presets are only trained by `genlab train` (and `genlab latent anomaly --train-preset`).
"""


def _walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    for name in sorted(getattr(cmd, "commands", {})):
        out.extend(_walk(cmd.commands[name], [*path, name]))
    return out


def _help_text(cmd: click.Command, path: list[str], root: click.Command) -> str:
    ctx = click.Context(root, info_name=PROG, terminal_width=HELP_WIDTH, max_content_width=HELP_WIDTH)
    for name in path:
        parent = ctx.command
        ctx = click.Context(parent.commands[name], info_name=name, parent=ctx, terminal_width=HELP_WIDTH,
                            max_content_width=HELP_WIDTH)
    return cmd.get_help(ctx)


def render() -> str:
    """The whole reference as Markdown: one section per command, its help verbatim."""
    root = command()
    parts = [INTRO]
    for path, cmd in _walk(root, []):
        title = " ".join([PROG, *path])
        parts.append(f"## `{title}`\n\n```text\n{_help_text(cmd, path, root).rstrip()}\n```\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    targets = [a for a in argv if a != "--check"]
    target = Path(targets[0] if targets else "docs/cli.md")
    text = render()
    if check:
        if not target.is_file() or target.read_text() != text:
            print(f"{target} is stale: run python -m genlab.cli.reference {target}", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
