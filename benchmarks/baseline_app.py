"""The floor for a typer + rich command line: one command that prints a small
rich table. benchmarks/startup.py times drillpe's commands against it."""

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer()


@app.command()
def show() -> None:
    table = Table("id", "title")
    table.add_row("rope", "Rotary position embedding")
    Console().print(table)


if __name__ == "__main__":
    app()
