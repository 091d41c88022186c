"""`tsmamba env`: versions, devices, and which backend each scan op runs on each device."""

from __future__ import annotations

import typer

from .app import app


@app.command()
def env():
    """Print versions, devices, and which backend each scan op runs on each device."""
    import os
    import platform

    import torch

    from importlib import import_module

    import tsmamba

    def version(name):
        try:
            from importlib.metadata import version as v

            return v(name)
        except Exception:  # noqa: BLE001 - a missing optional package is reported, not fatal
            return "not installed"

    lines = [f"tsmamba {tsmamba.__version__}", f"python {platform.python_version()} "
             f"({platform.system()} {platform.machine()})"]
    lines += [f"{name} {version(name)}" for name in ("torch", "triton", "numpy", "pandas",
                                                      "scikit-learn")]
    lines.append(f"cpu threads: {torch.get_num_threads()}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            lines.append(f"cuda:{i}: {torch.cuda.get_device_name(i)}")
    else:
        lines.append("cuda: not available")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    # By module path: the package exports each op's function under its subpackage's name.
    for module, label in (("selective_scan", "selective scan"), ("ssd", "ssd")):
        op = import_module(f"tsmamba.kernels.{module}")
        for device in devices:
            lines.append(f"{label} on {device.type}: {op.resolve_backend('auto', device)}")
    if os.environ.get("TRITON_INTERPRET") == "1":
        lines.append("TRITON_INTERPRET=1: Triton kernels run in the interpreter")
    typer.echo("\n".join(lines))
