"""The Typer command-line interface (`graphstore`)."""
