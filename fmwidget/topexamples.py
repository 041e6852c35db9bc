"""``TopExamples``: the dataset examples that excite each filter most, and their crops.

Self-contained: it holds the winning samples (each once, in the dtype they came in) and the
exact receptive-field box of every winning cell, so crops, saving and the widget need
neither the model nor the dataset. Saved as one ``.npz`` file (no pickle) with a JSON
header.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .validation import check_index, unknown_layer

FORMAT = "fmwidget.top_examples"
VERSION = 1


class TopExamples:
    """The ``k`` samples that excite each channel of each layer most.

    Build with :func:`fmwidget.top_examples`, or read a saved file with
    :meth:`TopExamples.load`.

    Attributes:
        layers: Layer names, in forward order.
        k: Examples per channel (fewer than asked when the dataset is smaller).
        num_samples: Samples scanned.
        model_name: Name of the model they came from.
        input_shape: Shape of one input sample.
        input_data_format: ``channels_last`` or ``channels_first`` (of the input).
    """

    def __init__(
        self,
        *,
        model_name: str,
        k: int,
        num_samples: int,
        input_shape: tuple[int, ...],
        input_data_format: str,
        layer_meta: dict[str, dict[str, Any]],
        values: dict[str, np.ndarray],
        indices: dict[str, np.ndarray],
        positions: dict[str, np.ndarray],
        boxes: dict[str, np.ndarray | None],
        sample_ids: np.ndarray | None,
        samples: np.ndarray | None,
        extra: dict[str, Any] | None = None,
    ):
        self.model_name = model_name
        self.k = int(k)
        self.num_samples = int(num_samples)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.input_data_format = input_data_format
        self.layers: list[str] = list(layer_meta)
        self._meta = layer_meta
        self._values = values
        self._indices = indices
        self._positions = positions
        self._boxes = boxes
        self._sample_ids = sample_ids
        self._samples = samples
        self.extra = dict(extra or {})

    # -- per layer ---------------------------------------------------------------------------
    def _name(self, layer: str) -> str:
        if not isinstance(layer, str) or layer not in self._meta:
            raise unknown_layer(layer, self.layers)
        return layer

    def info(self, layer: str) -> dict[str, Any]:
        """``kind``, ``class_name``, ``shape``, ``data_format``, ``channels`` of a layer."""
        return dict(self._meta[self._name(layer)])

    def values(self, layer: str) -> np.ndarray:
        """float32 ``(channels, k)``: each channel's top spatial maxima, descending."""
        return self._values[self._name(layer)]

    def indices(self, layer: str) -> np.ndarray:
        """int64 ``(channels, k)``: the samples' indices, in the iteration order of the data."""
        return self._indices[self._name(layer)]

    def positions(self, layer: str) -> np.ndarray:
        """int64 ``(channels, k, spatial rank)``: the winning cell of each example."""
        return self._positions[self._name(layer)]

    def boxes(self, layer: str) -> np.ndarray:
        """int64 ``(channels, k, spatial rank, 2)``: half-open receptive-field box per example.

        ``boxes[c, j, a]`` is ``[start, stop)`` along spatial axis ``a`` of the input,
        clipped to the image: what ``FeatureMaps.receptive_field`` gives for that cell.

        Raises:
            ValueError: the geometry of a layer on the path is unknown
                (``fmwidget.GeometryError``).
        """
        boxes = self._boxes[self._name(layer)]
        if boxes is None:
            raise ValueError(
                f"The receptive field of {layer!r} is unknown (a layer of unknown geometry "
                "lies on its path), so it has no boxes or patches; values, indices and "
                "positions are exact."
            )
        return boxes

    def channels(self, layer: str) -> int:
        return int(self._meta[self._name(layer)]["channels"])

    # -- samples and crops -------------------------------------------------------------------
    @property
    def has_samples(self) -> bool:
        """Whether the winning samples were kept (``keep_samples=True``)."""
        return self._samples is not None

    @property
    def sample_ids(self) -> np.ndarray:
        """Sorted indices of the samples kept (each winning sample once)."""
        self._need_samples()
        assert self._sample_ids is not None
        return self._sample_ids

    def _need_samples(self) -> None:
        if self._samples is None:
            raise ValueError(
                "These top examples were computed with keep_samples=False: only values, "
                "indices, positions and boxes are known. Crop data[indices] with boxes(), "
                "or compute them again with keep_samples=True."
            )

    def sample(self, index: int) -> np.ndarray:
        """The whole input sample with dataset index ``index`` (one of the winners)."""
        self._need_samples()
        assert self._sample_ids is not None and self._samples is not None
        pos = int(np.searchsorted(self._sample_ids, index))
        if pos >= len(self._sample_ids) or self._sample_ids[pos] != index:
            raise ValueError(
                f"Expected the index of a winning sample, received {index!r}: only the "
                f"{len(self._sample_ids)} samples that are some channel's top example are kept."
            )
        return self._samples[pos]

    def patches(self, layer: str, channel: int) -> list[np.ndarray]:
        """The input crops of the exact receptive field of each example's winning cell.

        Args:
            layer: Layer name.
            channel: Channel (filter) index.

        Returns:
            ``k`` arrays, best first, in the input's dtype and data format.
        """
        channel = check_index(channel, self.channels(layer), "channel")
        boxes = self.boxes(layer)[channel]
        indices = self.indices(layer)[channel]
        first = 1 if self.input_data_format == "channels_first" else 0
        out = []
        for index, box in zip(indices, boxes, strict=True):
            sample = self.sample(int(index))
            region = [slice(None)] * sample.ndim
            for a, (start, stop) in enumerate(box):
                region[first + a] = slice(int(start), int(stop))
            out.append(sample[tuple(region)])
        return out

    # -- summary -----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Small JSON description (what the widget syncs)."""
        return {
            "model_name": self.model_name,
            "k": self.k,
            "num_samples": self.num_samples,
            "has_samples": self.has_samples,
            "layers": {
                name: {"channels": self.channels(name), "boxes": self._boxes[name] is not None}
                for name in self.layers
            },
        }

    def __contains__(self, layer: object) -> bool:
        return layer in self._meta

    def __repr__(self) -> str:
        rows = [
            f"TopExamples({self.model_name!r}, k={self.k}, samples={self.num_samples}, "
            f"layers={len(self.layers)})"
        ]
        for name in self.layers:
            v = self._values[name]
            rows.append(
                f"  {name:<28} {self.channels(name):>5} channels  top value {float(v.max()):.4g}"
            )
        return "\n".join(rows)

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write one portable ``.npz`` file (numpy arrays and a JSON header; no pickle)."""
        header = {
            "format": FORMAT,
            "version": VERSION,
            "model_name": self.model_name,
            "k": self.k,
            "num_samples": self.num_samples,
            "input_shape": list(self.input_shape),
            "input_data_format": self.input_data_format,
            "layers": [{"name": n, **self._meta[n]} for n in self.layers],
            "has_samples": self.has_samples,
            "extra": self.extra,
        }
        arrays: dict[str, np.ndarray] = {
            "header": np.frombuffer(json.dumps(header).encode("utf-8"), np.uint8)
        }
        for i, name in enumerate(self.layers):
            arrays[f"l{i}_values"] = self._values[name]
            arrays[f"l{i}_indices"] = self._indices[name]
            arrays[f"l{i}_positions"] = self._positions[name]
            if self._boxes[name] is not None:
                arrays[f"l{i}_boxes"] = self._boxes[name]  # type: ignore[assignment]
        if self._samples is not None and self._sample_ids is not None:
            arrays["sample_ids"] = self._sample_ids
            arrays["samples"] = self._samples
        with open(path, "wb") as f:  # a file object: numpy adds no ".npz" to the name
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TopExamples:
        """Read a file written by :meth:`save`.

        Raises:
            ValueError: the file is not a saved ``TopExamples``.
        """
        try:
            z = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(
                f"Expected a TopExamples .npz file, could not read {path}: {err}"
            ) from None
        with z:
            if "header" not in z.files:
                raise ValueError(f"Expected a TopExamples .npz file, {path} has no header.")
            header = json.loads(bytes(z["header"]).decode("utf-8"))
            if header.get("format") != FORMAT or header.get("version", 0) > VERSION:
                raise ValueError(
                    f"Expected a {FORMAT} file of version <= {VERSION}, received format "
                    f"{header.get('format')!r} version {header.get('version')!r}."
                )
            meta, values, indices, positions, boxes = {}, {}, {}, {}, {}
            for i, layer in enumerate(header["layers"]):
                name = layer.pop("name")
                meta[name] = layer
                values[name] = z[f"l{i}_values"]
                indices[name] = z[f"l{i}_indices"]
                positions[name] = z[f"l{i}_positions"]
                boxes[name] = z[f"l{i}_boxes"] if f"l{i}_boxes" in z.files else None
            has = "samples" in z.files
            return cls(
                model_name=header["model_name"],
                k=header["k"],
                num_samples=header["num_samples"],
                input_shape=tuple(header["input_shape"]),
                input_data_format=header["input_data_format"],
                layer_meta=meta,
                values=values,
                indices=indices,
                positions=positions,
                boxes=boxes,
                sample_ids=z["sample_ids"] if has else None,
                samples=z["samples"] if has else None,
                extra=header.get("extra"),
            )
