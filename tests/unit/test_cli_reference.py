"""docs/cli.md is the CLI's own --help output: regenerate it with `python -m genlab.cli.reference docs/cli.md`."""

from __future__ import annotations

from pathlib import Path

from genlab.cli.reference import main, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_matches_the_help_of_every_command():
    assert main(["--check", str(DOC)]) == 0, "docs/cli.md is stale: python -m genlab.cli.reference docs/cli.md"


def test_reference_covers_every_command_and_says_genlab():
    text = render()
    for title in ("`genlab sample`", "`genlab evaluate`", "`genlab latent anomaly`", "`genlab info`",
                  "`genlab export`", "`genlab serve`", "`genlab data channels`", "`genlab presets`"):
        assert f"## {title}" in text, title
    assert "python -m genlab" not in text.replace("python -m genlab.cli.reference", "") and "<bool>" not in text
