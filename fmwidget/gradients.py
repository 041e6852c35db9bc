"""Gradients on every Keras backend, behind one function.

This is the only module of fmwidget that imports a backend (JAX, TensorFlow or PyTorch);
everything else differentiates through :func:`value_and_grad` and otherwise uses
``keras.ops``. Arguments are float32 tensors and gradients come back as float32 numpy,
whatever the model's dtype policy.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

#: ``fn(*tensors) -> (scalar tensor, aux)``: what :func:`value_and_grad` differentiates.
Objective = Callable[..., tuple[Any, Any]]
#: ``grad_fn(*arrays, loss_scale=1.0) -> (value, aux, grads)``.
GradFn = Callable[..., tuple[float, Any, list[np.ndarray]]]

# Loss scales tried, in order, for models that compute in float16 (then unscaled).
_FLOAT16_SCALES = (2.0**10, 1.0)
# Gradient functions per model (compiled once on JAX): see cached_value_and_grad.
_FUNCTIONS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], GradFn]] = (
    weakref.WeakKeyDictionary()
)


def value_and_grad(
    fn: Objective, wrt: Sequence[int] | None = None, *, state: Sequence[Any] | None = None
) -> GradFn:
    """A function that evaluates ``fn`` and the gradient of its scalar.

    Args:
        fn: Takes one backend tensor per argument and returns ``(value, aux)``: ``value``
            a scalar tensor to differentiate, ``aux`` a nest of tensors returned alongside
            (not differentiated). Tensors it closes over are constants.
        wrt: Indices of the arguments to differentiate with respect to (default: all).
        state: The Keras variables ``fn`` reads (e.g. ``model.variables``) when the
            function will be called many times with same-shaped arguments: on JAX it is
            then compiled once (``jax.jit``, the variables passed in as arguments, so the
            weights are not baked into the program). Elsewhere it runs eagerly.

    Returns:
        ``grad_fn(*arrays, loss_scale=1.0) -> (value, aux, grads)``: each array becomes a
        float32 tensor; ``value`` is a Python float, ``aux`` has its floating tensors as
        float32 numpy, and ``grads`` holds one float32 numpy gradient per ``wrt`` index
        (zeros where ``value`` does not depend on it). ``value`` is multiplied by
        ``loss_scale`` before differentiating and the gradients divided by it (this keeps
        float16 gradients out of the subnormal range).
    """
    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow", "torch"):
        raise NotImplementedError(
            f"Expected the jax, tensorflow or torch Keras backend for gradients, "
            f"received {backend!r}."
        )
    compiled = _jax_compiled(fn, wrt, state) if backend == "jax" and state is not None else None

    def grad_fn(*arrays: Any, loss_scale: float = 1.0) -> tuple[float, Any, list[np.ndarray]]:
        tensors = [keras.ops.convert_to_tensor(np.asarray(a, np.float32)) for a in arrays]
        which = list(range(len(tensors))) if wrt is None else list(wrt)
        if compiled is not None:
            value, aux, grads = compiled(tensors, which, loss_scale)
        elif backend == "jax":
            value, aux, grads = _jax(fn, tensors, which, loss_scale)
        elif backend == "tensorflow":
            value, aux, grads = _tensorflow(fn, tensors, which, loss_scale)
        else:
            value, aux, grads = _torch(fn, tensors, which, loss_scale)
        out = []
        for g, k in zip(grads, which, strict=True):
            if g is None:
                out.append(np.zeros(tuple(tensors[k].shape), np.float32))
            else:
                out.append(np.asarray(keras.ops.convert_to_numpy(g), np.float32) / loss_scale)
        return float(keras.ops.convert_to_numpy(value)) / loss_scale, _numpy_tree(aux), out

    return grad_fn


def _scaled(fn: Objective, loss_scale: Any) -> Objective:
    def scaled(*args: Any) -> tuple[Any, Any]:
        value, aux = fn(*args)
        return keras.ops.cast(value, "float32") * loss_scale, aux

    return scaled


def _jax(
    fn: Objective, tensors: list[Any], wrt: list[int], loss_scale: float
) -> tuple[Any, Any, list[Any]]:
    import jax

    (value, aux), grads = jax.value_and_grad(_scaled(fn, loss_scale), wrt, has_aux=True)(*tensors)
    return value, aux, list(grads)


def _jax_compiled(fn: Objective, wrt: Sequence[int] | None, state: Sequence[Any]) -> Any:
    import jax

    variables = list(state)
    cache: dict[tuple[int, ...], Any] = {}

    def pure(values: list[Any], scale: Any, *args: Any) -> tuple[Any, Any]:
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return _scaled(fn, scale)(*args)

    def run(tensors: list[Any], which: list[int], loss_scale: float) -> tuple[Any, Any, list]:
        key = tuple(which)
        if key not in cache:
            argnums = tuple(2 + k for k in which)
            cache[key] = jax.jit(jax.value_and_grad(pure, argnums, has_aux=True))
        values = [v.value for v in variables]
        (value, aux), grads = cache[key](values, np.float32(loss_scale), *tensors)
        return value, aux, list(grads)

    return run


def _tensorflow(
    fn: Objective, tensors: list[Any], wrt: list[int], loss_scale: float
) -> tuple[Any, Any, list[Any]]:
    import tensorflow as tf

    with tf.GradientTape(watch_accessed_variables=False) as tape:
        for k in wrt:
            tape.watch(tensors[k])
        value, aux = _scaled(fn, loss_scale)(*tensors)
    grads = tape.gradient(value, [tensors[k] for k in wrt])
    return value, aux, list(grads)


def _torch(
    fn: Objective, tensors: list[Any], wrt: list[int], loss_scale: float
) -> tuple[Any, Any, list[Any]]:
    import torch

    args = [t.detach().requires_grad_(k in wrt) for k, t in enumerate(tensors)]
    leaves = [args[k] for k in wrt]
    with torch.enable_grad():
        value, aux = _scaled(fn, loss_scale)(*args)
        if value.requires_grad:
            grads = torch.autograd.grad(value, leaves, allow_unused=True)
        else:  # the value depends on nothing that needs a gradient
            grads = (None,) * len(leaves)
    return value.detach(), _detach(aux), list(grads)


def _detach(tree: Any) -> Any:
    return keras.tree.map_structure(lambda t: t.detach() if hasattr(t, "detach") else t, tree)


def _numpy_tree(tree: Any) -> Any:
    def convert(t: Any) -> Any:
        if keras.ops.is_tensor(t):
            arr = keras.ops.convert_to_numpy(t)
            return arr.astype(np.float32) if arr.dtype.kind == "f" else arr
        return t

    return keras.tree.map_structure(convert, tree)


def cached_value_and_grad(
    model: Any, key: tuple[Any, ...], make: Callable[[Any], Any], keep: bool = False
) -> GradFn:
    """The gradient function of ``make(model_ref) -> (objective, wrt)``.

    With ``keep`` it is made once per model and ``key`` and reused (on JAX: compiled once,
    so a subclassed model's Python control flow is not re-run; used where the same pass
    runs many times, e.g. the ERF of every hovered cell). Without, it runs eagerly. The
    objective reaches the model through the weak reference: the cache keeps no model alive.
    """
    if not keep:
        return value_and_grad(*make(weakref.ref(model)))
    functions = _FUNCTIONS.setdefault(model, {})
    fn = functions.get(key)
    if fn is None:
        objective, wrt = make(weakref.ref(model))
        fn = functions[key] = value_and_grad(objective, wrt, state=model.variables)
    return fn


def scaled_grads(fn: GradFn, args: list[Any], float16: bool) -> tuple[Any, list[np.ndarray]]:
    """``(aux, grads)`` of ``fn``; loss-scaled when the model computes in ``float16``,
    retried unscaled on overflow."""
    scales = _FLOAT16_SCALES if float16 else (1.0,)
    for scale in scales:
        _, aux, grads = fn(*args, loss_scale=scale)
        if all(np.isfinite(g).all() for g in grads):
            break
    return aux, grads
