"""`tsmamba bench`: check and time the kernels."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import app

bench_app = typer.Typer(help="Check and time the kernels.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("scan")
def bench_scan(
        device: Annotated[str, typer.Option(help="cuda or cpu (default: cuda when available).")] = "auto",
        size: Annotated[Optional[list[str]], typer.Option(
            help="b,d,n,l (repeatable); default: the three sizes of BENCHMARKS.md.")] = None,
        dtype: Annotated[Optional[list[str]], typer.Option(help="float32 and/or bfloat16.")] = None,
        skip: Annotated[Optional[list[str]], typer.Option(help="Backends to leave out.")] = None,
        graphs: Annotated[bool, typer.Option(
            help="Also time each call replayed from a CUDA graph: GPU time without Python's.")] = False,
        sweep: Annotated[bool, typer.Option(
            help="Time the sweep instead: lengths 2 to 4096 at a fixed b x l, widths 64, 256, "
                 "1024 (`benchmark.sweep_sizes`).")] = False,
        rep_ms: Annotated[Optional[int], typer.Option(
            min=10, help="Milliseconds each timing repeats for (default 200, 100 with rounds).")] = None,
        rounds: Annotated[Optional[int], typer.Option(
            min=1, help="Rounds that each time every backend in turn; rows give the median "
                        "(default: 5 on CUDA, 1 on the CPU).")] = None,
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write rows as JSON lines.")] = None):
    """Check every selective-scan backend against the reference, then time forward and
    forward + backward (median ms over rounds that take the backends in turn)."""
    import json

    import torch
    from rich.console import Console
    from rich.table import Table

    from tsmamba.files import atomic_write
    from tsmamba.kernels.selective_scan import benchmark

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    sizes = ([tuple(int(v) for v in s.split(",")) for s in size] if size else
             benchmark.sweep_sizes() if sweep else benchmark.PAPER_SIZES)
    dtypes = [getattr(torch, d) for d in (dtype or ["float32", "bfloat16"])]
    table = Table(title=f"selective scan on {torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU'}")
    rounds = rounds or (5 if dev.type == "cuda" else 1)
    graph_keys = ("graph_fwd_ms", "graph_fwd_bwd_ms") if graphs and dev.type == "cuda" else ()
    for column in ("backend", "dtype", "b x d x n x l", "max rel err", "fwd ms", "fwd+bwd ms",
                   "G elem/s",
                   *(("fwd+bwd range",) if rounds > 1 else ()),
                   *(("graph fwd ms", "graph fwd+bwd ms") if graph_keys else ())):
        table.add_column(column)
    rows = []
    for row in benchmark.run(sizes, dtypes, dev, skip=skip or (), graphs=graphs, rounds=rounds,
                             rep_ms=rep_ms):
        rows.append(row)
        spread = (f"{row['fwd_bwd_ms_min']:.3f}–{row['fwd_bwd_ms_max']:.3f}",) if rounds > 1 else ()
        table.add_row(row["backend"], row["dtype"], row["size"], f"{row['max_rel_err']:.1e}",
                      f"{row['fwd_ms']:.3f}", f"{row['fwd_bwd_ms']:.3f}",
                      f"{row['fwd_bwd_gelem_s']:.2f}", *spread,
                      *(f"{row[k]:.3f}" for k in graph_keys))
        print(json.dumps(row), file=sys.stderr, flush=True)
    Console().print(table)
    if json_out is not None:
        with atomic_write(json_out) as temporary:
            temporary.write_text("".join(json.dumps(r) + "\n" for r in rows))
