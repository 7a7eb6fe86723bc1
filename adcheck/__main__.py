"""``python -m adcheck``: the same as the ``adcheck`` command."""

try:
    from .cli import entry_point
except KeyboardInterrupt:  # Ctrl-C while importing
    raise SystemExit(130) from None

entry_point()
