"""The one exception a user's mistake raises; the CLI prints its message as one sentence.

    raise PahatError("model directory runs/x has no config.json; train one with `pahat train`")
"""


class PahatError(Exception):
    """A mistake the user can fix (missing file, bad value); the message says how."""
