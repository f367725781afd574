"""A restricted unpickler for real PerAct/RLBench data (``low_dim_obs.pkl`` and friends).

``pickle.load`` can run any code named in the file. RLBench's pickles only need numpy's array
reconstruction and two RLBench classes, so :class:`RestrictedUnpickler` resolves exactly those
globals (RLBench's classes become the local stand-ins :class:`RLBenchDemo` and
:class:`RLBenchObservation`; rlbench need not be installed) and refuses everything else with
an ``UnpicklingError`` naming the refused global.
"""
from __future__ import annotations

import copyreg
import io
import os
import pickle

import numpy as np

try:  # numpy >= 2
    from numpy._core import multiarray as _np_multiarray
    from numpy._core import numeric as _np_numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _np_multiarray
    from numpy.core import numeric as _np_numeric


class RLBenchObservation:
    """Stand-in for ``rlbench.backend.observation.Observation``: a bag of attributes.

    Unpickling restores the instance dict (joint_velocities, gripper_open, misc, ...) as is;
    no method of the original class is needed to read the data.
    """

    def __repr__(self) -> str:
        return f"RLBenchObservation({sorted(self.__dict__)})"


class RLBenchDemo:
    """Stand-in for ``rlbench.demo.Demo``: holds ``_observations``; indexable like the original."""

    def __len__(self) -> int:
        return len(self.__dict__.get("_observations", []))

    def __getitem__(self, i):
        return self.__dict__["_observations"][i]

    @property
    def observations(self) -> list:
        return self.__dict__.get("_observations", [])

    def __repr__(self) -> str:
        return f"RLBenchDemo({len(self)} observations)"


def _numpy_globals() -> dict[tuple[str, str], object]:
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    # numpy 1.x pickles say numpy.core.*, numpy 2.x numpy._core.*: both map to what is installed
    for pkg in ("numpy.core", "numpy._core"):
        allowed[(f"{pkg}.multiarray", "_reconstruct")] = _np_multiarray._reconstruct
        allowed[(f"{pkg}.multiarray", "scalar")] = _np_multiarray.scalar
        allowed[(f"{pkg}.numeric", "_frombuffer")] = _np_numeric._frombuffer
    return allowed


_ALLOWED: dict[tuple[str, str], object] = {
    **_numpy_globals(),
    ("rlbench.demo", "Demo"): RLBenchDemo,
    ("rlbench.backend.observation", "Observation"): RLBenchObservation,
    # pickle protocols 0-2 rebuild plain objects / bytes through these harmless helpers
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("builtins", "object"): object,
    ("__builtin__", "object"): object,
    ("_codecs", "encode"): None,  # replaced below by a latin-1-only version
}
# numpy scalar types and dtype classes by name (np.float64, np.dtypes.Float64DType, ...)
for _name in ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64", "complex64", "complex128"):
    _ALLOWED[("numpy", _name)] = getattr(np, _name)
for _name in dir(getattr(np, "dtypes", object())):
    if _name.endswith("DType"):
        _ALLOWED[("numpy.dtypes", _name)] = getattr(np.dtypes, _name)


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """What protocol-2 pickles use to rebuild bytes; any codec but latin-1 is refused."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_ALLOWED[("_codecs", "encode")] = _latin1_encode


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only resolves numpy reconstruction globals and RLBench's Demo/Observation."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle global '{module}.{name}': only numpy arrays and "
                f"rlbench.demo.Demo / rlbench.backend.observation.Observation are allowed "
                f"in dataset pickles") from None


def safe_loads(data: bytes):
    """Unpickle bytes with :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def safe_load(path: str | os.PathLike):
    """Unpickle a file with :class:`RestrictedUnpickler`; errors name the file."""
    with open(path, "rb") as f:
        try:
            return RestrictedUnpickler(f).load()
        except pickle.UnpicklingError as e:
            raise pickle.UnpicklingError(f"{path}: {e}") from e
