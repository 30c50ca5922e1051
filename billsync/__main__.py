"""``python -m billsync``: the same as the ``billsync`` command."""

from billsync.cli import main

main()
