"""The analyses behind `liednet explain`, on a LIEDNet and images, returning NumPy arrays."""
from ._liednet import explain as _explain

__all__ = [name for name in dir(_explain) if not name.startswith("_")]
globals().update({name: getattr(_explain, name) for name in __all__})
