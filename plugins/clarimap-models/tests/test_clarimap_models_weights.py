"""The restricted ``.pth`` reader: both torch layouts, views, and refusal of foreign globals."""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clarimap_models.efficientnet import weights_path
from clarimap_models.weights import (
    LEGACY_MAGIC,
    UnsafeWeightsError,
    WeightsFormatError,
    load_state_dict,
)


class FakeStorage:
    """Stands for a torch storage while writing test files: its key and its flat values."""

    def __init__(self, key: str, values: np.ndarray) -> None:
        self.key = key
        self.values = values


@pytest.fixture
def fake_torch(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Modules named ``torch`` and ``torch._utils`` so the pickler can name their globals."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    class LongStorage:
        pass

    def _rebuild_tensor_v2(*args: Any) -> None:
        raise AssertionError("never called while writing")

    for cls in (FloatStorage, LongStorage):
        cls.__module__ = "torch"
        cls.__qualname__ = cls.__name__
        setattr(torch, cls.__name__, cls)
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    torch._utils = utils  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return types.SimpleNamespace(
        storage_types={"float32": FloatStorage, "int64": LongStorage},
        rebuild=_rebuild_tensor_v2,
    )


class FakeTensor:
    def __init__(
        self,
        fake: types.SimpleNamespace,
        storage: FakeStorage,
        offset: int,
        shape: tuple[int, ...],
        stride: tuple[int, ...],
    ) -> None:
        self.fake, self.storage, self.offset, self.shape, self.stride = (
            fake,
            storage,
            offset,
            shape,
            stride,
        )

    def __reduce__(self) -> Any:
        return (
            self.fake.rebuild,
            (self.storage, self.offset, self.shape, self.stride, False, collections.OrderedDict()),
        )


def _pickler(fake: types.SimpleNamespace, handle: Any, legacy: bool) -> pickle.Pickler:
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            if isinstance(obj, FakeStorage):
                kind = fake.storage_types[str(obj.values.dtype)]
                if legacy:
                    return ("storage", kind, obj.key, "cpu", obj.values.size, None)
                return ("storage", kind, obj.key, "cpu", obj.values.size)
            return None

    return Pickler(handle, protocol=2)


def sample_tree(
    fake: types.SimpleNamespace,
) -> tuple[dict[str, Any], list[FakeStorage], dict[str, np.ndarray]]:
    flat = np.arange(24, dtype=np.float32)
    counts = np.array([7], dtype=np.int64)
    first, second = FakeStorage("0", flat), FakeStorage("1", counts)
    tree = collections.OrderedDict(
        [
            ("conv.weight", FakeTensor(fake, first, 0, (2, 3, 2, 2), (12, 4, 2, 1))),
            ("fc.weight_t", FakeTensor(fake, first, 4, (3, 2), (1, 4))),  # a strided view
            ("bn.num_batches_tracked", FakeTensor(fake, second, 0, (), ())),
        ]
    )
    expected = {
        "conv.weight": flat.reshape(2, 3, 2, 2),
        "fc.weight_t": np.array([[4, 8], [5, 9], [6, 10]], dtype=np.float32),
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),
    }
    return tree, [first, second], expected


def write_legacy(path: Path, fake: types.SimpleNamespace) -> dict[str, np.ndarray]:
    tree, storages, expected = sample_tree(fake)
    with path.open("wb") as handle:
        pickle.dump(LEGACY_MAGIC, handle, protocol=2)
        pickle.dump(1001, handle, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True}, handle, protocol=2)
        _pickler(fake, handle, legacy=True).dump(tree)
        pickle.dump([s.key for s in storages], handle, protocol=2)
        for storage in storages:
            handle.write(struct.pack("<q", storage.values.size))
            handle.write(storage.values.tobytes())
    return expected


def write_zip(path: Path, fake: types.SimpleNamespace) -> dict[str, np.ndarray]:
    tree, storages, expected = sample_tree(fake)
    buffer = io.BytesIO()
    _pickler(fake, buffer, legacy=False).dump(tree)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", buffer.getvalue())
        for storage in storages:
            archive.writestr(f"model/data/{storage.key}", storage.values.tobytes())
        archive.writestr("model/version", "3\n")
    return expected


@pytest.mark.parametrize("writer", [write_legacy, write_zip])
def test_both_layouts_give_the_tensors_with_their_views(
    tmp_path: Path, fake_torch: types.SimpleNamespace, writer: Any
) -> None:
    path = tmp_path / "weights.pth"
    expected = writer(path, fake_torch)
    for name in ("torch", "torch._utils"):
        sys.modules.pop(name)  # reading must not need torch, real or fake
    state = load_state_dict(path)
    assert list(state) == list(expected)
    for name, array in expected.items():
        assert state[name].dtype == array.dtype
        np.testing.assert_array_equal(state[name], array)
    assert state["fc.weight_t"].tolist() == [[4.0, 8.0], [5.0, 9.0], [6.0, 10.0]]


def test_a_pickle_naming_any_other_global_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Evil:  # unpickling it would call os.system
        def __reduce__(self) -> Any:
            return (os.system, (f"touch {marker}",))

    payload = pickle.dumps({"weight": Evil()}, protocol=2)
    evil = io.BytesIO(payload)
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", evil.getvalue())
    with pytest.raises(UnsafeWeightsError, match="refusing to load"):
        load_state_dict(path)
    legacy = tmp_path / "evil-legacy.pth"
    legacy.write_bytes(payload)
    with pytest.raises(UnsafeWeightsError):
        load_state_dict(legacy)
    assert not marker.exists()


def test_a_truncated_file_is_a_format_error(
    tmp_path: Path, fake_torch: types.SimpleNamespace
) -> None:
    path = tmp_path / "weights.pth"
    write_legacy(path, fake_torch)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(WeightsFormatError, match="truncated"):
        load_state_dict(path)


def test_a_file_that_is_not_weights_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(WeightsFormatError):
        load_state_dict(path)


def test_the_efficientnet_lite0_weights_of_the_package() -> None:
    state = load_state_dict(weights_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.bias"].dtype == np.float32
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    assert all(np.isfinite(v).all() for v in state.values())
    # Weights of a trained network, not zeros or a constant fill.
    assert float(state["_fc.weight"].std()) > 0.01
