"""`python -m pahat ...` is the same as the `pahat` command."""

from pahat.cli import main

raise SystemExit(main())
