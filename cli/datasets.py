"""`tsmamba datasets`: the benchmark datasets and their local cache."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import Debug, app, guarded

datasets_app = typer.Typer(help="The benchmark datasets and their local cache.",
                           no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("list")
def datasets_list():
    """List the datasets, their frequency, and whether a verified copy is in the data directory."""
    from tsmamba import datasets

    typer.echo(f"data directory: {datasets.data_dir()} (set TSMAMBA_DATA_DIR to change it)")
    for name in datasets.names():
        record = datasets.info(name)
        present = (datasets.data_dir() / record.filename).exists()
        typer.echo(f"{name:18} {record.freq:>6}  {'present' if present else 'not downloaded'}")


@datasets_app.command("download")
def datasets_download(name: Annotated[str, typer.Argument(help="A name from `tsmamba datasets list`.")],
                      debug: Debug = False):
    """Download NAME into the data directory (if missing) and verify its sha256."""

    def run():
        from tsmamba import datasets

        typer.echo(str(datasets.path(name)))

    guarded(debug, None, run)
