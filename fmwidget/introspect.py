"""Walk a Keras 3 model and capture every layer call of one forward pass.

One mechanism serves Sequential, Functional, nested and subclassed models alike: for the
duration of a single ``model(x, training=False)`` call, the ``call`` method of every
layer instance is wrapped so that each call appends an entry (the layer, its path name,
which earlier entries fed it, and its output). Shared layers therefore get one entry per
call, nested models give path names like ``outer/inner``, and models without a
functional graph work because nothing needs the graph. In a Functional model the raw
tensor operations between layers (``a + b``, ``keras.ops.multiply``, ``x[:, ::2]``) are
operation nodes of the graph: their ``call`` is wrapped too, so they get entries of their
own and every layer after them stays linked to the input. Only the public,
backend-neutral Keras 3 API is used, so JAX, TensorFlow and PyTorch behave the same.

What kind each layer or operation is lives in :mod:`fmwidget.kinds`; how each entry maps
space (its receptive-field geometry) in :mod:`fmwidget.layer_geometry`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from .kinds import is_op, layer_kind, needs_template


@dataclass
class Entry:
    """One captured layer call (or the model input, entry 0)."""

    index: int
    name: str
    layer: Any  # keras.Layer, or None for the model input
    kind: str
    inputs: tuple[int, ...]
    output: Any = None  # backend tensor during capture, float32 numpy after
    unlinked: bool = False  # some input was computed outside any layer (not a constant)
    extra_inputs: list[Any] = field(default_factory=list)  # unlinked input tensors
    #: For each tensor argument, in order: the entry that produced it (None: a constant
    #: of a Functional graph, or a tensor computed outside any layer).
    arg_sources: tuple[int | None, ...] = ()
    #: Full shape (batch first) of each tensor argument.
    arg_shapes: tuple[tuple[int, ...], ...] = ()
    #: The call's ``(args, kwargs)`` with each tensor replaced by its :class:`Slot`; kept
    #: for operations and for layers whose geometry is found by tracing their call.
    template: Any = None


@dataclass(frozen=True)
class Slot:
    """Stands for the ``index``-th tensor argument of a recorded call."""

    index: int


def _template(args: Any) -> Any:
    """``args`` with every tensor replaced by a :class:`Slot`, numbered in flat order."""
    count = [0]

    def walk(item: Any) -> Any:
        if isinstance(item, (list, tuple)):
            return type(item)(walk(v) for v in item)
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if _is_tensor(item):
            count[0] += 1
            return Slot(count[0] - 1)
        return item

    return walk(args)


def _is_tensor(x: Any) -> bool:
    return keras.ops.is_tensor(x) or isinstance(x, np.ndarray)


def _flat_tensors(args: Any) -> list[Any]:
    """The tensors in a nest of lists, tuples and dicts, in order.

    Hand-rolled: ``keras.tree.flatten`` goes through the backend's pytree machinery
    (PyTorch's costs more than a small layer's call) and runs for every layer call.
    """
    out: list[Any] = []
    stack = [args]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif _is_tensor(item):
            out.append(item)
    return out


def is_container(layer: Any) -> bool:
    """Whether fmwidget looks inside ``layer`` rather than recording it as one call.

    Models always are; a custom (non-Keras) layer is when it holds sublayers.
    """
    if isinstance(layer, keras.Model):
        return True
    builtin = type(layer).__module__.startswith("keras.")
    return not builtin and bool(getattr(layer, "_layers", None))


#: ``on_call(done, total)`` after each leaf layer call: see :func:`report_calls`.
OnCall = Callable[[int, int], None]
_ON_CALL: contextvars.ContextVar[OnCall | None] = contextvars.ContextVar(
    "fmwidget_on_call", default=None
)


@contextlib.contextmanager
def report_calls(on_call: OnCall | None) -> Iterator[None]:
    """Every :func:`capture` inside this block reports its progress to ``on_call``.

    ``on_call(done, total)`` runs after each leaf layer call of the forward pass: ``done``
    calls so far, ``total`` the number of leaf layers in the model (more when layers are
    shared; never less than ``done``). It must be fast: it runs inside the forward pass.
    """
    token = _ON_CALL.set(on_call)
    try:
        yield
    finally:
        _ON_CALL.reset(token)


class Recorder:
    """Records layer calls while installed; see :func:`capture`."""

    def __init__(self, model: Any, on_call: OnCall | None = None, total: int = 0):
        self.model = model
        self.on_call = on_call
        self.total = total
        self.calls = 0
        self.entries: list[Entry] = []
        self._producer: dict[int, int] = {}  # id(tensor) -> entry index
        self._keep: list[Any] = []  # keeps recorded tensors alive so ids stay unique
        self._stack: list[tuple[Any, list[Any]]] = []  # active containers and their inputs
        self._calls: dict[str, int] = {}

    # -- naming --------------------------------------------------------------------------
    def _path(self, layer: Any) -> str:
        parts = [c.name for c, _ in self._stack[1:]]
        base = "/".join([*parts, layer.name])
        count = self._calls.get(base, 0)
        self._calls[base] = count + 1
        return base if count == 0 else f"{base}:{count}"

    # -- linking -------------------------------------------------------------------------
    def _source(self, tensor: Any) -> int | None:
        index = self._producer.get(id(tensor))
        if index is not None:
            return index
        # Models convert their inputs before the first layer sees them: such a tensor is one
        # of the innermost running model's inputs, matched by shape (then by value).
        for _, inputs in reversed(self._stack):
            shape = tuple(tensor.shape)
            same = [t for t in inputs if tuple(t.shape) == shape]
            if len(same) > 1:
                value = keras.ops.convert_to_numpy(tensor)
                same = [t for t in same if np.array_equal(keras.ops.convert_to_numpy(t), value)]
            if len(same) == 1:
                return self._producer.get(id(same[0]))
            if same or inputs:
                break
        return None

    def _closed(self) -> bool:
        """Whether the innermost running container is a graph (Functional or Sequential).

        In a graph every tensor an operation reads comes from another node or is a
        constant: a tensor no entry produced is then a constant, not a lost link.
        """
        if not self._stack:
            return False
        container = self._stack[-1][0]
        return isinstance(container, keras.Sequential) or hasattr(container, "_nodes_by_depth")

    def _record(self, layer: Any, args: Any, output: Any, kwargs: Any = None) -> Entry:
        op = is_op(layer)
        traced = not op and needs_template(layer)
        call = (args, kwargs or {}) if op else args
        inputs = _flat_tensors(call)
        sources: list[int] = []
        arg_sources: list[int | None] = []
        extra: list[Any] = []
        for t in inputs:
            src = self._source(t)
            arg_sources.append(src)
            if src is None:
                extra.append(t)
            elif src not in sources:
                sources.append(src)
        kind = layer_kind(layer) if layer is not None else "input"
        template = None
        if op:
            template = _template(call)
        elif traced:
            template = _template((args, kwargs or {}))
        entry = Entry(
            index=len(self.entries),
            name=self._path(layer),
            layer=layer,
            kind=kind,
            inputs=tuple(sources),
            output=output,
            unlinked=bool(extra) and not self._closed(),
            extra_inputs=extra,
            arg_sources=tuple(arg_sources),
            arg_shapes=tuple(tuple(int(d) for d in t.shape) for t in inputs),
            template=template,
        )
        self.entries.append(entry)
        for t in _flat_tensors(output):
            self._producer.setdefault(id(t), entry.index)
        self._keep.append((inputs, output))
        return entry

    # -- wrappers ------------------------------------------------------------------------
    def wrap_leaf(self, layer: Any, call: Any) -> Any:
        def recorded_call(*args: Any, **kwargs: Any) -> Any:
            output = call(*args, **kwargs)
            self._record(layer, args, output, kwargs)
            if self.on_call is not None:
                self.calls += 1
                self.on_call(self.calls, max(self.total, self.calls))
            return output

        return recorded_call

    def wrap_container(self, layer: Any, call: Any, top: bool) -> Any:
        def recorded_call(*args: Any, **kwargs: Any) -> Any:
            inputs = _flat_tensors(args[:1] if args else list(kwargs.values())[:1])
            if top:
                entry = Entry(0, "input", None, "input", (), output=inputs[0] if inputs else None)
                self.entries.append(entry)
                for t in inputs:
                    self._producer[id(t)] = 0
            else:
                for t in inputs:  # link the model's inputs to what produced them
                    src = self._source(t)
                    if src is not None:
                        self._producer.setdefault(id(t), src)
            self._keep.append(inputs)
            self._stack.append((layer, inputs))
            try:
                output = call(*args, **kwargs)
            finally:
                self._stack.pop()
            # A container whose output is no recorded tensor did work of its own (ops
            # outside layers): record it as one opaque entry so later layers link to it.
            if not top and any(id(t) not in self._producer for t in _flat_tensors(output)):
                self._record(layer, args, output)
            return output

        return recorded_call


def _all_layers(model: Any) -> Iterator[Any]:
    """Every layer reachable from ``model`` (including itself), each once."""
    seen: set[int] = set()
    stack = [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        if is_container(layer):
            # A Functional model's operations are its layers plus the raw tensor ops
            # between them (``a + b``), which are nodes of its graph too.
            stack.extend(getattr(layer, "_operations", None) or getattr(layer, "_layers", []))


@contextlib.contextmanager
def capture(model: Any, on_call: OnCall | None = None) -> Iterator[Recorder]:
    """Install call recorders on every layer of ``model`` for one ``with`` block.

    ``on_call`` (default: the one installed by :func:`report_calls`) is told the progress
    after each leaf layer call.
    """
    layers = list(_all_layers(model))
    if on_call is None:
        on_call = _ON_CALL.get()
    total = sum(
        1
        for layer in layers
        if layer is not model
        and not is_container(layer)
        and not isinstance(layer, keras.layers.InputLayer)
    )
    rec = Recorder(model, on_call, total)
    if on_call is not None:
        on_call(0, total)

    def wrap(layer: Any, call: Any) -> Any:
        if layer is model or is_container(layer):
            return rec.wrap_container(layer, call, top=layer is model)
        return rec.wrap_leaf(layer, call)

    with _wrapped_calls(layers, wrap):
        yield rec


@contextlib.contextmanager
def _wrapped_calls(layers: list[Any], wrap: Callable[[Any, Any], Any]) -> Iterator[None]:
    """Each layer's ``call`` replaced by ``wrap(layer, call)`` for one ``with`` block."""
    patched: list[tuple[Any, Any]] = []
    try:
        for layer in layers:
            own = layer.__dict__.get("call")
            layer.__dict__["call"] = wrap(layer, layer.call)
            patched.append((layer, own))
        yield
    finally:
        for layer, own in patched:
            if own is None:
                layer.__dict__.pop("call", None)
            else:
                layer.__dict__["call"] = own


class Tap:
    """The outputs of chosen calls, recorded while :func:`tap` is installed.

    Attributes:
        outputs: One per target, in order (None where that call did not happen).
        counts: Calls seen so far per target layer (by ``id``).
    """

    def __init__(self, targets: list[tuple[Any, int]]):
        self.outputs: list[Any] = [None] * len(targets)
        self.counts: dict[int, int] = {id(layer): 0 for layer, _ in targets}
        self._want: dict[tuple[int, int], list[int]] = {}
        for i, (layer, ordinal) in enumerate(targets):
            self._want.setdefault((id(layer), ordinal), []).append(i)

    def wrap(self, layer: Any, call: Any) -> Any:
        key = id(layer)

        def tapped_call(*args: Any, **kwargs: Any) -> Any:
            output = call(*args, **kwargs)
            ordinal = self.counts[key]
            self.counts[key] = ordinal + 1
            for i in self._want.get((key, ordinal), ()):
                self.outputs[i] = output
            return output

        return tapped_call


@contextlib.contextmanager
def tap(targets: list[tuple[Any, int]]) -> Iterator[Tap]:
    """Record only the outputs of ``targets`` for one ``with`` block: ``(layer, ordinal)``
    is the ordinal-th call (from 0) of that leaf layer or operation.

    The light version of :func:`capture` for repeated forward passes, once a capture has
    found the calls wanted (it records each layer's calls in the order they happen): only
    the target layers are wrapped, and nothing is linked or named.
    """
    t = Tap(targets)
    layers = list({id(layer): layer for layer, _ in targets}.values())
    with _wrapped_calls(layers, t.wrap):
        yield t
