"""`python -m tsmamba.cli`: the same as the `tsmamba` command."""

from .main import main

main()
