"""Imported first by adcheck's fork server (``workers._PRELOAD``): from here on it ignores Ctrl-C.

The server is in the terminal's process group, and a Ctrl-C while it imports its other
preloads (numpy, scipy, JAX: most of a second) would print its KeyboardInterrupt traceback under
adcheck's "interrupted". It ignores SIGINT once it serves anyway, and adcheck ends it; each
worker puts the default handler back (``workers._own_session``). Nothing else imports this.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
