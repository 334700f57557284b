"""`python -m elfkit`: the same entry point as the `elfkit` console script."""
from elfkit.cli.main import main

main()
