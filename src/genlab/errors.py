"""User-facing errors.

Every mistake a user can make (a missing file, a bad config key, a snapshot of the wrong family) raises
`GenlabError` with a one-line message naming the file, field or value and what was expected. The CLI prints
that line and exits non-zero; it never shows a traceback for these.
"""


class GenlabError(Exception):
    """An error caused by user input; its message is one line, shown as-is."""

    exit_code = 2


class TrainingDiverged(GenlabError):
    """The loss became NaN/inf; the last good training state is kept."""

    exit_code = 3
