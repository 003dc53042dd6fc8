"""One module per ``aoi`` command group; each exposes a Typer ``app``."""
