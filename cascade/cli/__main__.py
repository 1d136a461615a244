"""`python -m cascade.cli`: the `cascade` command."""

from cascade.cli import main

main()
