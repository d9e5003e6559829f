"""Every op of the framework with its gradient, with the C++ names and argument order (liednet::ops).

Optional inputs are None; the C++ option structs (Conv2dOptions, ScanOptions, ...) are keyword arguments.
help(liednet.ops.ss2d_scan) gives the shapes.
"""
from ._liednet import ops as _ops

__all__ = [name for name in dir(_ops) if not name.startswith("_")]
globals().update({name: getattr(_ops, name) for name in __all__})
