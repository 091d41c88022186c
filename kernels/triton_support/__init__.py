"""What every Triton kernel of tsmamba shares (imported only where Triton imports).

    launch_cache.py   launch a compiled kernel without Triton's JIT dispatch on every call
    ptx.py            inline PTX the kernels use, and checks of how the compiler laid it out
"""
