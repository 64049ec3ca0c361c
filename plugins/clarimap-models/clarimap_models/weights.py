"""Read a PyTorch ``.pth`` state dict into numpy arrays, without torch and without running code.

Unpickling a file can call any importable function, so the unpickler here resolves only the few
global names a plain state dict refers to (the tensor rebuild function, the storage type names
and ``collections.OrderedDict``) and refuses every other one with :class:`UnsafeWeightsError`.
Both of torch's file layouts are read:

* the zip layout (torch >= 1.6): ``<root>/data.pkl`` holds the tree, ``<root>/data/<key>`` the
  raw bytes of each storage;
* the legacy layout: four pickles in a row (magic number, protocol version, system info, the
  tree), then the list of storage keys, then each storage as an 8-byte little-endian element
  count followed by its bytes.

Used by :mod:`clarimap_models.efficientnet`.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import attrs
import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""The first pickle of a legacy-layout file."""

STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafeWeightsError(pickle.UnpicklingError):
    """The file refers to a global name a state dict does not need; nothing was executed."""


class WeightsFormatError(ValueError):
    """The file is not a torch state dict this reader understands."""


@attrs.frozen
class StorageType:
    """What ``torch.FloatStorage`` (and the other storage names) unpickles to here."""

    name: str

    @property
    def dtype(self) -> np.dtype[Any]:
        return STORAGE_DTYPES[self.name]


@attrs.frozen
class TensorRef:
    """A tensor before its storage is read: which storage, and the view into it."""

    storage_key: str
    dtype: np.dtype[Any]
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self, storage: np.ndarray) -> np.ndarray:
        """The tensor's values as an owned numpy array."""
        if not self.shape:
            return storage[self.offset : self.offset + 1].reshape(()).copy()
        extent = 1 + sum(
            (size - 1) * step for size, step in zip(self.shape, self.stride, strict=True)
        )
        if min(self.shape) == 0:
            return np.zeros(self.shape, dtype=storage.dtype)
        if self.offset < 0 or self.offset + extent > storage.size:
            raise WeightsFormatError(
                f"tensor view {self.shape} at offset {self.offset} runs past its storage "
                f"{self.storage_key} of {storage.size} elements"
            )
        view = np.lib.stride_tricks.as_strided(
            storage[self.offset :],
            shape=self.shape,
            strides=tuple(step * storage.itemsize for step in self.stride),
            writeable=False,
        )
        return np.array(view, copy=True)


def _rebuild_tensor(
    storage: tuple[str, np.dtype[Any]],
    offset: int,
    shape: tuple[int, ...],
    stride: tuple[int, ...],
    *_ignored: Any,
) -> TensorRef:
    key, dtype = storage
    return TensorRef(
        key, dtype, int(offset), tuple(int(s) for s in shape), tuple(int(s) for s in stride)
    )


def _rebuild_parameter(data: TensorRef, *_ignored: Any) -> TensorRef:
    return data


_ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only the names of :data:`_ALLOWED` and the storage types."""

    def __init__(self, file: IO[bytes], load_storage: Callable[[tuple[Any, ...]], Any]) -> None:
        super().__init__(file)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name)
        raise UnsafeWeightsError(
            f"refusing to load {module}.{name}: a state dict needs only tensors and OrderedDict"
        )

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise WeightsFormatError(f"unexpected persistent id {pid!r}")
        return self._load_storage(pid)


def _storage_ref(pid: tuple[Any, ...]) -> tuple[str, np.dtype[Any]]:
    storage_type, key = pid[1], str(pid[2])
    if not isinstance(storage_type, StorageType):
        raise WeightsFormatError(f"storage {key} has type {storage_type!r}, not a storage type")
    return key, storage_type.dtype


def load_state_dict(path: str | Path) -> collections.OrderedDict[str, np.ndarray]:
    """Parameter name -> numpy array, from a ``.pth`` file of either layout."""
    file_path = Path(path)
    if zipfile.is_zipfile(file_path):
        return _load_zip(file_path)
    return _load_legacy(file_path)


def _as_state_dict(
    tree: Any, storages: dict[str, np.ndarray]
) -> collections.OrderedDict[str, np.ndarray]:
    if isinstance(tree, dict) and "state_dict" in tree and isinstance(tree["state_dict"], dict):
        tree = tree["state_dict"]
    if not isinstance(tree, dict):
        raise WeightsFormatError(f"the file holds a {type(tree).__name__}, not a state dict")
    result: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
    for name, value in tree.items():
        if not isinstance(value, TensorRef):
            raise WeightsFormatError(f"entry {name!r} is a {type(value).__name__}, not a tensor")
        storage = storages.get(value.storage_key)
        if storage is None:
            raise WeightsFormatError(
                f"entry {name!r} refers to missing storage {value.storage_key}"
            )
        result[str(name)] = value.materialise(storage)
    return result


def _load_zip(path: Path) -> collections.OrderedDict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise WeightsFormatError(f"{path}: expected one */data.pkl in the archive")
        root = pickles[0][: -len("data.pkl")]
        dtypes: dict[str, np.dtype[Any]] = {}

        def load_storage(pid: tuple[Any, ...]) -> tuple[str, np.dtype[Any]]:
            key, dtype = _storage_ref(pid)
            dtypes[key] = dtype
            return key, dtype

        with archive.open(pickles[0]) as handle:
            tree = _StateDictUnpickler(handle, load_storage).load()
        storages = {
            key: np.frombuffer(archive.read(f"{root}data/{key}"), dtype=dtype)
            for key, dtype in dtypes.items()
        }
    return _as_state_dict(tree, storages)


def _load_legacy(path: Path) -> collections.OrderedDict[str, np.ndarray]:
    data = path.read_bytes()
    handle = io.BytesIO(data)

    def refuse(pid: tuple[Any, ...]) -> Any:
        raise WeightsFormatError("a header pickle refers to a storage")

    try:
        magic = _StateDictUnpickler(handle, refuse).load()
        if magic != LEGACY_MAGIC:
            raise WeightsFormatError(f"{path}: not a torch weights file (bad magic number)")
        _StateDictUnpickler(handle, refuse).load()  # protocol version
        _StateDictUnpickler(handle, refuse).load()  # system info (byte order, type sizes)
        dtypes: dict[str, np.dtype[Any]] = {}

        def load_storage(pid: tuple[Any, ...]) -> tuple[str, np.dtype[Any]]:
            key, dtype = _storage_ref(pid)
            dtypes[key] = dtype
            return key, dtype

        tree = _StateDictUnpickler(handle, load_storage).load()
        keys = _StateDictUnpickler(handle, refuse).load()
    except (EOFError, pickle.UnpicklingError) as error:
        if isinstance(error, UnsafeWeightsError):
            raise
        raise WeightsFormatError(f"{path}: not a readable torch weights file: {error}") from None
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        key = str(key)
        (count,) = struct.unpack("<q", _read_exactly(handle, 8, path))
        dtype = dtypes.get(key)
        if dtype is None:
            raise WeightsFormatError(f"{path}: storage {key} is not used by any tensor")
        raw = _read_exactly(handle, count * dtype.itemsize, path)
        storages[key] = np.frombuffer(raw, dtype=dtype)
    return _as_state_dict(tree, storages)


def _read_exactly(handle: io.BytesIO, size: int, path: Path) -> bytes:
    chunk = handle.read(size)
    if len(chunk) != size:
        raise WeightsFormatError(f"{path}: truncated (wanted {size} bytes, found {len(chunk)})")
    return chunk
