"""Model files that are safe to load: weights in safetensors, everything else in plain JSON.

``save_model(model, path)`` writes a folder with two files:

- ``model.safetensors``: the network's tensors (``module_.state_dict()``) and the large numeric
  arrays among the fitted attributes (a forest's trees, GRU-D's weights; keys ``__arrays__.N``,
  named in the JSON by a ``__tensor__`` entry). The safetensors format holds raw tensors and a
  JSON header; reading it runs no code.
- ``model.json``: the format version, the estimator's class *name* and constructor parameters,
  its fitted statistics (vocabulary, class balance, the fitted tokenizer's scaling statistics
  and classes), the training history, and the SHA-256 of the weights file.

``load_model(path)`` reads the JSON with :func:`json.loads` and rebuilds the estimator from the
classes it may name: the structural ones (``Pipeline``, ``EventTokenizer``) and those of the
model registry (:func:`medfuse_sk.models.registered_classes`; a model registered with
:func:`~medfuse_sk.models.register_model` saves and loads without editing this module).
Class-valued parameters (a network module, a loss, the optimizer) are looked up among torch's
AdamW, Adam, SGD, RMSprop, DataLoader, skorch's Dataset and the registry's parameter classes
(:func:`~medfuse_sk.models.registered_parameter_classes`). Nothing in the file is imported,
evaluated or unpickled, so a file that names another class, carries a value of an unknown type,
has been truncated or whose weights do not match their recorded hash fails with
:class:`ModelFileError` before any of its content is used.

How classes are written: an estimator by its class name (``"MedFuseClassifier"``); a class
parameter by its public import path, :func:`class_reference`: the shortest path, from the
second level of the package down, whose module exports the class
(``medfuse_sk.models.MedFuseModule``, ``torch.optim.AdamW``), never a private module, so that
files survive moves of the code behind a public face. The loader also reads the path of the
defining module (``medfuse_sk.models.medfuse._network.MedFuseModule``, as written right after
the move into subpackages) and, through :data:`LEGACY_CLASS_PATHS`, the paths of files written
before that move (``medfuse_sk.model.MedFuseModule``, ``medfuse_sk.losses.BinaryLoss``).

Estimators with a torch network (skorch nets: ``module_``) have their weights in
``model.safetensors``; any other registered estimator saves its fitted attributes (those
ending in ``_``) in the JSON, which must hold values plain JSON describes (numbers, strings,
arrays, lists, dicts, tuples, registered estimators) — numeric arrays of
:data:`INLINE_ARRAY_LIMIT` elements or more go to ``model.safetensors`` instead of the JSON
(format version 2; version 1 files, all arrays in the JSON, load as before).

Why not ``skops.io``: it refuses unknown types, but our estimators hold torch modules and
optimizers, which skops cannot represent without trusting them by name; the user would have to
pass ``trusted=[...]`` for our classes and torch's, which is the same trust decision this format
makes once, in code, and keeps the tensors out of any object graph.

Pickle keeps working (``pickle.dump(model, f)``); use it only for files you wrote yourself.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..utils import find_estimators, sha256_file

__all__ = ["ModelFileError", "save_model", "load_model", "check_saveable", "class_reference",
           "LEGACY_CLASS_PATHS", "FORMAT", "FORMAT_VERSION", "INLINE_ARRAY_LIMIT"]

FORMAT = "medfuse-sk-model"
FORMAT_VERSION = 2
#: The format versions this release reads (1: every fitted array in the JSON).
READABLE_VERSIONS = (1, 2)
#: Numeric fitted arrays with at least this many elements are stored in the weights file.
INLINE_ARRAY_LIMIT = 256
_ARRAY_PREFIX = "__arrays__."
#: dtypes stored as tensors (others stay in the JSON)
_TENSOR_DTYPES = {np.dtype(t) for t in ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "?")}
#: While saving: the arrays moved out of the JSON; while loading: a function that reads the
#: weights file's tensors.
_ARRAYS: contextvars.ContextVar[Any] = contextvars.ContextVar("_ARRAYS",
                                                                                default=None)
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "model.safetensors"

#: attributes skorch rebuilds in ``initialize()``; they are not saved
_SKORCH_STATE = {"module_", "criterion_", "optimizer_", "callbacks_", "history_", "initialized_",
                 "virtual_params_", "init_context_", "prefixes_", "cuda_dependent_attributes_"}


class ModelFileError(ValueError):
    """A model file that cannot be written or must not be loaded (names the file and the fault)."""


#: Class paths of files written before the package moved into subpackages → today's public
#: spelling (:func:`class_reference`) of the same class.
LEGACY_CLASS_PATHS: dict[str, str] = {
    "medfuse_sk.model.MedFuseModule": "medfuse_sk.models.MedFuseModule",
    "medfuse_sk.model.MedFuseEnsemble": "medfuse_sk.models.MedFuseEnsemble",
    "medfuse_sk.losses.BinaryLoss": "medfuse_sk.models.BinaryLoss",
}


def _structural_classes() -> tuple[type, ...]:
    from sklearn.pipeline import Pipeline

    from ..data import EventTokenizer

    return (Pipeline, EventTokenizer)


def _known_classes() -> dict[str, type]:
    """Estimator classes a model file may name, by class name: the structural ones and the
    registry's."""
    from ..models import registered_classes

    return {**registered_classes(), **{cls.__name__: cls for cls in _structural_classes()}}


def _parameter_classes() -> list[type]:
    from skorch.dataset import Dataset
    from torch.utils.data import DataLoader

    from ..models import registered_parameter_classes

    return [torch.optim.AdamW, torch.optim.Adam, torch.optim.SGD, torch.optim.RMSprop,
            DataLoader, Dataset, *registered_parameter_classes().values()]


def _public_paths(cls: type) -> list[str]:
    """Every public ``module.Name`` spelling of ``cls`` along its module path, shortest first,
    from the second level down (``medfuse_sk.models.X``, ``torch.optim.X``)."""
    parts = cls.__module__.split(".")
    found = []
    for i in range(min(2, len(parts)), len(parts) + 1):
        if parts[i - 1].startswith("_"):
            break
        module = sys.modules.get(".".join(parts[:i]))
        if module is not None and getattr(module, cls.__qualname__, None) is cls:
            found.append(f"{'.'.join(parts[:i])}.{cls.__qualname__}")
    return found


def class_reference(cls: type) -> str:
    """How a model file names the class ``cls``: its shortest public import path (see the
    module docstring), else the path of the module that defines it."""
    paths = _public_paths(cls)
    return paths[0] if paths else f"{cls.__module__}.{cls.__qualname__}"


def _known_parameter_classes() -> dict[str, type]:
    """Every spelling a model file may use for a parameter class → the class."""
    table: dict[str, type] = {}
    for cls in _parameter_classes():
        for path in (*_public_paths(cls), f"{cls.__module__}.{cls.__qualname__}"):
            table.setdefault(path, cls)
    for old, new in LEGACY_CLASS_PATHS.items():
        if new in table:
            table[old] = table[new]
    return table


def _is_network(estimator: Any) -> bool:
    """A skorch net: its weights go to ``model.safetensors``, ``initialize()`` rebuilds it."""
    from skorch import NeuralNet

    return isinstance(estimator, NeuralNet)


# -- values ⇄ JSON --------------------------------------------------------------------------
class _Unsupported(TypeError):
    pass


def _encode(value: Any) -> Any:
    """A JSON-able form of ``value``; tagged dicts for arrays, tuples, indexes and classes."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _Unsupported("a dict with non-string keys")
        if any(k.startswith("__") and k.endswith("__") for k in value):
            raise _Unsupported("a dict with a reserved key")
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, pd.MultiIndex):
        return {"__multiindex__": {"tuples": [[_encode(x) for x in t] for t in value],
                                   "names": [_encode(n) for n in value.names]}}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"__ndarray__": {"dtype": "object", "shape": list(value.shape),
                                    "data": [_encode(v) for v in value.ravel().tolist()]}}
        if value.dtype.kind not in "biuf":
            raise _Unsupported(f"an array of dtype {value.dtype}")
        sink = _ARRAYS.get()
        native = value.dtype.newbyteorder("=")
        if isinstance(sink, dict) and value.size >= INLINE_ARRAY_LIMIT and native in _TENSOR_DTYPES:
            key = f"{_ARRAY_PREFIX}{len(sink)}"
            sink[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=native).ravel())
            return {"__tensor__": {"key": key, "dtype": native.str, "shape": list(value.shape)}}
        return {"__ndarray__": {"dtype": value.dtype.str, "shape": list(value.shape),
                                "data": value.ravel().tolist()}}
    if isinstance(value, type):
        name = class_reference(value)
        if _known_parameter_classes().get(name) is not value:
            raise _Unsupported(f"the class {name}, which is not one of the known parameter "
                               "classes (register it with register_model(..., "
                               "parameter_classes=...))")
        return {"__class__": name}
    from sklearn.base import BaseEstimator

    if isinstance(value, BaseEstimator):
        return {"__estimator__": _describe(value)}
    raise _Unsupported(f"a value of type {type(value).__module__}.{type(value).__qualname__}")


def _decode(value: Any, where: str) -> Any:
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if not isinstance(value, dict):
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise ModelFileError(f"{where}: unexpected JSON value {value!r}")
        return value
    tags = [k for k in value if k.startswith("__") and k.endswith("__")]
    if not tags:
        return {k: _decode(v, f"{where}.{k}") for k, v in value.items()}
    if len(value) != 1:
        raise ModelFileError(f"{where}: a tagged value must have exactly one key, got {sorted(value)}")
    tag, body = tags[0], value[tags[0]]
    if tag == "__tuple__":
        return tuple(_decode(v, where) for v in _expect(body, list, where))
    if tag == "__ndarray__":
        body = _expect(body, dict, where)
        dtype, shape = body.get("dtype"), body.get("shape")
        data = _decode(_expect(body.get("data"), list, where), where)
        if dtype == "object":
            array = np.empty(len(data), dtype=object)
            array[:] = data
        else:
            if not isinstance(dtype, str) or np.dtype(dtype).kind not in "biuf":
                raise ModelFileError(f"{where}: unsupported array dtype {dtype!r}")
            array = np.asarray(data, dtype=np.dtype(dtype))
        try:
            return array.reshape([int(n) for n in _expect(shape, list, where)])
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{where}: array data do not fit shape {shape!r}") from exc
    if tag == "__tensor__":
        return _stored_array(_expect(body, dict, where), where)
    if tag == "__multiindex__":
        body = _expect(body, dict, where)
        tuples = [tuple(_decode(t, where)) for t in _expect(body.get("tuples"), list, where)]
        names = _decode(_expect(body.get("names"), list, where), where)
        if not tuples:
            return pd.MultiIndex.from_arrays([[] for _ in names], names=names)
        return pd.MultiIndex.from_tuples(tuples, names=names)
    if tag == "__class__":
        classes = _known_parameter_classes()
        if body not in classes:
            known = sorted({class_reference(cls) for cls in classes.values()})
            raise ModelFileError(f"{where}: refusing the class {body!r}: not one of the known "
                                 f"parameter classes {known}")
        return classes[body]
    if tag == "__estimator__":
        return _rebuild(_expect(body, dict, where), where)
    raise ModelFileError(f"{where}: unknown tag {tag!r}")


def _stored_array(body: dict[str, Any], where: str) -> np.ndarray:
    """An array the JSON names by its key in the weights file."""
    source = _ARRAYS.get()
    source = source() if callable(source) else (source or {})
    key, dtype, shape = body.get("key"), body.get("dtype"), body.get("shape")
    if not isinstance(key, str) or key not in source:
        raise ModelFileError(f"{where}: the array {key!r} is not in the weights file")
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise ModelFileError(f"{where}: unsupported array dtype {dtype!r}") from exc
    if dtype not in _TENSOR_DTYPES:
        raise ModelFileError(f"{where}: unsupported array dtype {dtype.str!r}")
    array = source[key].numpy()
    if array.dtype != dtype:
        raise ModelFileError(f"{where}: the array {key!r} is {array.dtype}, the JSON says {dtype}")
    try:
        return array.reshape([int(n) for n in _expect(shape, list, where)]).copy()
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{where}: array {key!r} does not fit shape {shape!r}") from exc


def _expect(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        raise ModelFileError(f"{where}: expected a JSON {kind.__name__}, got {type(value).__name__}")
    return value


# -- estimators ⇄ descriptions --------------------------------------------------------------
def _describe(model: Any) -> dict[str, Any]:
    """Class name, constructor parameters and fitted attributes (no tensors) of ``model``."""
    from sklearn.pipeline import Pipeline

    name = type(model).__name__
    known = _known_classes()
    if known.get(name) is not type(model):
        raise ModelFileError(
            f"save_model writes the registered models' classes {', '.join(sorted(known))} (and "
            f"Pipelines of them); got {type(model).__module__}.{type(model).__qualname__}. "
            "Register it (medfuse_sk.models.register_model), or use pickle or skops.")
    if isinstance(model, Pipeline):
        return {"class": name, "steps": [[step, _describe(est)] for step, est in model.steps],
                "params": _params(model, skip={"steps"})}
    return {"class": name, "params": _params(model), "fitted": _fitted(model)}


def _params(model: Any, skip: set[str] = frozenset()) -> dict[str, Any]:
    out, dropped = {}, []
    for key, value in model.get_params(deep=False).items():
        if key in skip or key.startswith("_"):
            continue
        try:
            out[key] = _encode(value)
        except _Unsupported as exc:
            if key == "module":
                raise ModelFileError(f"cannot save parameter module={value!r}: {exc}") from exc
            dropped.append(f"{key} ({exc})")
    if dropped:
        warnings.warn(f"{type(model).__name__}: parameters not saved (they hold objects that "
                      f"plain JSON cannot describe; the loaded model has their defaults): "
                      f"{'; '.join(dropped)}", stacklevel=4)
    return out


def _fitted(model: Any) -> dict[str, Any]:
    state = {}
    network = _is_network(model)
    for key, value in vars(model).items():
        if not key.endswith("_") or key.startswith("_") or (network and key in _SKORCH_STATE):
            continue
        if key in _SKORCH_STATE:
            raise ModelFileError(f"cannot save the fitted attribute {type(model).__name__}.{key}: "
                                 "the name is a skorch net's, and this is not one")
        try:
            state[key] = _encode(value)
        except _Unsupported as exc:
            raise ModelFileError(f"cannot save the fitted attribute {type(model).__name__}."
                                 f"{key}: {exc}") from exc
    return state


def _rebuild(description: dict[str, Any], where: str) -> Any:
    """The estimator of a description; classes come only from the closed list."""
    from sklearn.pipeline import Pipeline

    name = description.get("class")
    known = _known_classes()
    if name not in known:
        raise ModelFileError(f"{where}: refusing the class {name!r}: a model file may only name "
                             f"the registered and structural classes {sorted(known)}")
    cls = known[name]
    params = _decode(_expect(description.get("params", {}), dict, where), f"{where}.params")
    if cls is Pipeline:
        steps = [(_expect(step, str, where), _rebuild(_expect(est, dict, where), f"{where}.{step}"))
                 for step, est in (_expect(s, list, where) for s in
                                   _expect(description.get("steps"), list, where))]
        return Pipeline(steps, **params)
    try:
        model = cls(**params)
    except TypeError as exc:
        raise ModelFileError(f"{where}: parameters do not fit {name}: {exc}") from exc
    fitted = _decode(_expect(description.get("fitted", {}), dict, where), f"{where}.fitted")
    for key, value in fitted.items():
        if not key.endswith("_") or key.startswith("_") or key in _SKORCH_STATE:
            raise ModelFileError(f"{where}: {key!r} is not a fitted attribute")
        setattr(model, key, value)
    return model


def _networks(model: Any) -> list[tuple[str, Any]]:
    """(path prefix, net) of every torch network in ``model``: itself or a Pipeline's steps
    (``""``, ``"step."``)."""
    return find_estimators(model, _is_network)


def _check_fitted(model: Any) -> None:
    """Every estimator of ``model`` is fitted (a net has its ``module_``)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    for prefix, est in find_estimators(model, lambda e: not hasattr(e, "steps")):
        try:
            if _is_network(est):
                if not isinstance(getattr(est, "module_", None), torch.nn.Module):
                    raise NotFittedError
            else:
                check_is_fitted(est)
        except NotFittedError as exc:
            where = f"step {prefix[:-1]!r}: " if prefix else ""
            raise ModelFileError(f"{where}this {type(est).__name__} is not fitted; fit it before "
                                 "save_model") from exc


def check_saveable(model: Any) -> None:
    """Raise :class:`ModelFileError` if :func:`save_model` could not write ``model``'s kind.

    Checks, without fitting, what can be known before training: the classes (registered or
    structural) and the constructor parameters. Fitted attributes are checked by
    :func:`save_model` itself. Commands call this before reading data, so that a model that
    cannot be saved fails in a second instead of after training.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _describe_unfitted(model)


def _describe_unfitted(model: Any) -> None:
    from sklearn.pipeline import Pipeline

    known = _known_classes()
    if known.get(type(model).__name__) is not type(model):
        _describe(model)  # raises the class error
    if isinstance(model, Pipeline):
        for _, step in model.steps:
            _describe_unfitted(step)
    else:
        _params(model)


def _is_writer() -> bool:
    """In a multi-process run only the process of rank 0 writes."""
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) \
        or torch.distributed.get_rank() == 0


# -- public API -----------------------------------------------------------------------------
def save_model(model: Any, path: str | os.PathLike) -> Path:
    """Save a fitted registered model, or a Pipeline of EventTokenizer / registered steps.

    Parameters
    ----------
    model : estimator of a registered class, or a Pipeline of them
        Fitted. Parameters that plain JSON cannot describe (e.g. ``train_split`` or callback
        objects, which only matter for training) are left out with a warning.
    path : folder to create (or overwrite) with ``model.json`` and ``model.safetensors``

    Returns
    -------
    Path of the folder. In a ``torch.distributed`` run only rank 0 writes; the other processes
    return the same path without touching it.

    Raises
    ------
    ModelFileError
        An unsupported model type, an unfitted classifier, or a parameter/attribute that cannot
        be described in JSON.
    """
    from safetensors.torch import save_file

    path = Path(path)
    arrays: dict[str, Any] = {}
    token = _ARRAYS.set(arrays)
    try:
        description = _describe(model)
    finally:
        _ARRAYS.reset(token)
    _check_fitted(model)
    networks = _networks(model)
    tensors: dict[str, torch.Tensor] = dict(arrays)
    for prefix, clf in networks:
        module = getattr(clf.module_, "module", clf.module_)  # unwrap a DistributedDataParallel
        for key, tensor in module.state_dict().items():
            tensors[prefix + key] = tensor.detach().to("cpu").contiguous()
    histories = {prefix: clf.history_.to_list() for prefix, clf in networks}
    if not _is_writer():
        return path
    path.mkdir(parents=True, exist_ok=True)
    weights = path / WEIGHTS_FILE
    save_file(tensors, str(weights))
    from .. import __version__

    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "medfuse_sk_version": __version__,
              "weights": {"file": WEIGHTS_FILE, "sha256": sha256_file(weights)},
              "model": description, "history": histories}
    text = json.dumps(config, indent=1, allow_nan=False, default=_encode_history_value)
    (path / CONFIG_FILE).write_text(text, encoding="utf-8")
    return path


def _encode_history_value(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise TypeError(f"history holds a {type(value).__name__}")


def load_model(path: str | os.PathLike, *, device: str | None = None) -> Any:
    """Load a model saved by :func:`save_model`; runs no code from the files.

    Parameters
    ----------
    path : the folder given to :func:`save_model`
    device : str, optional
        Put the network on this device (e.g. ``"cpu"`` for a model trained on a GPU); default:
        the ``device`` it was saved with (``"auto"``, the default of MedFuse: this machine's
        GPU if torch sees one, else the CPU; the loaded model's ``device_`` says which).

    Returns
    -------
    The fitted estimator (same class as saved), predicting exactly as the saved one did.

    Raises
    ------
    ModelFileError
        Missing or malformed files, a format version this release does not read, a class
        that is not registered (or structural), a value of an unknown type, weights that do
        not match their recorded SHA-256 or the network's shapes, or a truncated weights file.
        The message names the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from skorch.history import History

    path = Path(path)
    config_file, weights = path / CONFIG_FILE, path / WEIGHTS_FILE
    for f in (config_file, weights):
        if not f.is_file():
            raise ModelFileError(f"{f}: missing (expected a folder written by save_model)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"),
                            parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ModelFileError) as exc:
        raise ModelFileError(f"{config_file}: not valid JSON ({exc})") from exc
    where = str(config_file)
    config = _expect(config, dict, where)
    if config.get("format") != FORMAT:
        raise ModelFileError(f"{config_file}: not a medfuse-sk model file (format "
                             f"{config.get('format')!r})")
    if config.get("format_version") not in READABLE_VERSIONS:
        raise ModelFileError(f"{config_file}: format version {config.get('format_version')!r}; "
                             f"this release reads versions "
                             f"{', '.join(map(str, READABLE_VERSIONS))}")
    recorded = _expect(config.get("weights"), dict, where).get("sha256")
    actual = sha256_file(weights)
    if recorded != actual:
        raise ModelFileError(f"{weights}: SHA-256 {actual} does not match the {recorded!r} "
                             f"recorded in {config_file.name}: the weights were changed, "
                             "truncated or belong to another model")
    read: dict[str, Any] = {}

    def tensors_read() -> dict[str, Any]:
        """The weights file's tensors, read once, when first needed: the JSON's classes are
        checked before the weights file is touched, unless an array stored there comes first."""
        if not read:
            try:
                read.update(load_file(str(weights)))
            except (SafetensorError, OSError, ValueError) as exc:
                raise ModelFileError(f"{weights}: not a readable safetensors file ({exc})") from exc
            read.setdefault("", None)  # read, even when empty
        return read

    token = _ARRAYS.set(tensors_read)
    try:
        model = _rebuild(_expect(config.get("model"), dict, where), f"{where}: model")
    finally:
        _ARRAYS.reset(token)
    tensors = {k: v for k, v in tensors_read().items() if k and not k.startswith(_ARRAY_PREFIX)}
    histories = _expect(config.get("history", {}), dict, where)
    for prefix, clf in _networks(model):
        if device is not None:
            clf.set_params(device=device)
        own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        clf.initialize()
        try:
            clf.module_.load_state_dict(own, strict=True)
        except RuntimeError as exc:
            raise ModelFileError(f"{weights}: the tensors do not fit the network described in "
                                 f"{config_file.name}: {exc}") from exc
        clf.history_ = History(_expect(histories.get(prefix, []), list, where))
    return model


def _refuse_constant(name: str) -> Any:
    raise ModelFileError(f"non-standard JSON constant {name}")
