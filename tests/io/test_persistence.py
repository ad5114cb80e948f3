"""Model files: safetensors weights + plain JSON; identical predictions; tampered files refused."""

import importlib
import json
import os
import pickle
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from synthetic import event_count_classifier

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.datasets import load_sample
from medfuse_sk.io import ModelFileError, load_model, save_model
from medfuse_sk.models import register_model, unregister_model

SMALL = {"d_model": 16, "n_heads": 2, "max_epochs": 1, "verbose": 0, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    sample = load_sample("train")
    ids = sample.stay_ids[:120]
    events = sample.events[sample.events["stay_id"].isin(ids)]
    X = EventSet.from_long(events, categorical=sample.categorical, stays=ids)
    return X, sample.labels.loc[X.stay_ids]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own_tokenizer = MedFuseClassifier(tokenizer=EventTokenizer(window=4.0), **SMALL).fit(X, y)
        pipeline = make_pipeline(EventTokenizer(window=4.0, max_tokens=50),
                                 MedFuseClassifier(n_models=2, weight_averaging=0.9,
                                                   **SMALL)).fit(X, y)
    return {"classifier": own_tokenizer, "pipeline": pipeline}


@pytest.fixture
def saved(fitted, tmp_path):
    return save_model(fitted["classifier"], tmp_path / "model")


@pytest.mark.parametrize("kind", ["classifier", "pipeline"])
def test_loaded_model_predicts_identically(fitted, data, kind, tmp_path):
    X, _ = data
    model = fitted[kind]
    folder = save_model(model, tmp_path / kind)
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]
    loaded = load_model(folder)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.get_params(deep=True).keys() == model.get_params(deep=True).keys()


def test_the_json_holds_configuration_vocabulary_and_tokenizer_statistics(saved, fitted):
    config = json.loads((saved / "model.json").read_text())
    model = config["model"]
    assert model["class"] == "MedFuseClassifier" and model["params"]["d_model"] == 16
    tokenizer = model["fitted"]["tokenizer_"]["__estimator__"]
    clf = fitted["classifier"]
    names = tokenizer["fitted"]["feature_names_"]["__ndarray__"]["data"]
    assert names == clf.tokenizer_.feature_names_.tolist()
    assert tokenizer["fitted"]["center_"]["__ndarray__"]["data"] == clf.tokenizer_.center_.tolist()
    assert config["history"][""][0]["epoch"] == 1


def test_history_and_fitted_statistics_come_back(saved, fitted):
    loaded, clf = load_model(saved), fitted["classifier"]
    assert loaded.history_[:, "train_loss"] == clf.history_[:, "train_loss"]
    assert loaded.class_balance_ == clf.class_balance_
    assert loaded.tokenizer_.category_pairs_.equals(clf.tokenizer_.category_pairs_)
    assert loaded.tokenizer_.categorical_features_ == clf.tokenizer_.categorical_features_


def _edit_json(folder, edit):
    path = folder / "model.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


@pytest.mark.skipif(torch.cuda.is_available(), reason="loads a GPU model on a machine without one")
def test_the_device_is_saved_and_a_gpu_model_loads_on_a_machine_without_cuda(saved, fitted, data,
                                                                             tmp_path):
    from medfuse_sk.cli._common import load_model_folder

    X, _ = data
    want = fitted["classifier"].predict_proba(X)
    model = json.loads((saved / "model.json").read_text())["model"]
    assert model["params"]["device"] == "auto" and model["fitted"]["device_"] == "cpu"
    loaded = load_model(saved)
    assert loaded.device == "auto" and loaded.device_ == "cpu"

    def trained_on_a_gpu(device):
        def edit(config):
            config["model"]["params"]["device"] = device
            config["model"]["fitted"]["device_"] = "cuda"
        return edit

    _edit_json(saved, trained_on_a_gpu("auto"))  # the default: comes back on this machine's CPU
    loaded = load_model(saved)
    assert loaded.device == "auto" and loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), want)
    _edit_json(saved, trained_on_a_gpu("cuda"))  # pinned to CUDA: the command line maps it
    loaded = load_model_folder(str(saved))
    assert loaded.device == loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), want)


# -- a file naming code to run is refused before anything of it is used ----------------------
class _Touch:
    """A pickle payload: unpickling it runs ``os.system("touch MARKER")``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _payload(where: str, marker) -> tuple[str, dict, str]:
    """(named callable, its arguments, the place in the file) of each malicious edit."""
    if where == "model":
        return "os.system", {"command": f"touch {marker}"}, "model"
    if where == "tokenizer":
        return "subprocess.Popen", {"args": ["touch", str(marker)]}, "model.fitted.tokenizer_"
    return "subprocess.Popen", {"args": ["touch", str(marker)]}, "model.params.module"


def _run_trusting(name: str, arguments: dict) -> None:
    """What a loader that imports the classes a file names would do with the payload."""
    module, attribute = name.rsplit(".", 1)
    result = getattr(importlib.import_module(module), attribute)(**arguments)
    if hasattr(result, "wait"):
        result.wait()


@pytest.mark.parametrize("where", ["model", "tokenizer", "parameter_class"])
def test_the_payloads_run_when_trusted(tmp_path, where):
    """Positive controls: each payload below does create its marker when a loader trusts it
    (so the marker's absence there means refusal, not a dud payload)."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_Touch(marker)))  # what a pickle would do on load
    assert marker.exists()
    marker.unlink()
    _run_trusting(*_payload(where, marker)[:2])
    assert marker.exists()


@pytest.fixture
def spies(monkeypatch):
    """Records any attempt to run or import what a malicious file names, or to read weights."""
    import safetensors.torch

    calls = []
    real_import = importlib.import_module

    def spy_import(name, *args, **kwargs):
        if name.split(".")[0] in {"os", "subprocess"}:
            calls.append(f"import {name}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", spy_import)
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append("os.system") or 0)
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append("subprocess.Popen"))
    real_load_file = safetensors.torch.load_file
    monkeypatch.setattr(safetensors.torch, "load_file",
                        lambda *a, **k: calls.append("read weights") or real_load_file(*a, **k))
    return calls


@pytest.mark.parametrize("where", ["model", "tokenizer", "parameter_class"])
def test_a_json_naming_an_arbitrary_class_is_refused_before_anything_runs(saved, tmp_path, where,
                                                                          spies):
    marker = tmp_path / "pwned"
    name, arguments, place = _payload(where, marker)

    def edit(config):
        model = config["model"]
        if where == "model":
            model["class"], model["params"] = name, arguments
        elif where == "tokenizer":
            tokenizer = model["fitted"]["tokenizer_"]["__estimator__"]
            tokenizer["class"], tokenizer["params"] = name, arguments
        else:
            model["params"]["module"] = {"__class__": name}
            model["params"].update({f"module__{k}": v for k, v in arguments.items()})

    _edit_json(saved, edit)
    with pytest.raises(ModelFileError) as refused:
        load_model(saved)
    message = str(refused.value)
    assert message.startswith(f"{saved / 'model.json'}: {place}: refusing the class {name!r}")
    assert ("the registered and structural classes" if where != "parameter_class"
            else "not one of the known parameter classes") in message
    assert spies == []  # nothing named was imported or called, and the weights were not read
    assert not marker.exists()


def test_a_class_of_the_library_that_is_not_registered_is_refused(saved):
    """The lists are the registry's, not "anything under medfuse_sk"."""
    _edit_json(saved, lambda c: c["model"]["params"].update(
        module={"__class__": "medfuse_sk.models.MuFuseEmbedding"}))
    with pytest.raises(ModelFileError, match="refusing the class 'medfuse_sk.models.MuFuseEmbedding'"):
        load_model(saved)


def test_truncated_weights_raise_our_error(saved):
    weights = saved / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="model.safetensors: SHA-256"):
        load_model(saved)

    def rehash(config):  # even with a matching hash, a truncated file is refused
        import hashlib
        config["weights"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()

    _edit_json(saved, rehash)
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        load_model(saved)


def test_weights_of_another_shape_are_refused(fitted, saved, tmp_path):
    other = save_model(fitted["pipeline"][-1], tmp_path / "other")  # an ensemble of 2, d 16
    (saved / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    _edit_json(saved, lambda c: c["weights"].update(
        sha256=json.loads((other / "model.json").read_text())["weights"]["sha256"]))
    with pytest.raises(ModelFileError, match="do not fit the network"):
        load_model(saved)


@pytest.mark.parametrize("damage", ["truncated_json", "not_json", "format", "version",
                                    "unknown_tag", "bad_dtype", "nan"])
def test_malformed_json_is_refused(saved, damage):
    path = saved / "model.json"
    text = path.read_text()
    if damage == "truncated_json":
        path.write_text(text[: len(text) // 2])
    elif damage == "not_json":
        path.write_bytes(pickle.dumps({"a": 1}))
    elif damage == "format":
        _edit_json(saved, lambda c: c.update(format="pickle"))
    elif damage == "version":
        _edit_json(saved, lambda c: c.update(format_version=99))
    elif damage == "unknown_tag":
        _edit_json(saved, lambda c: c["model"]["params"].update(lr={"__reduce__": ["os.system"]}))
    elif damage == "bad_dtype":
        _edit_json(saved, lambda c: c["model"]["fitted"]["feature_names_"]["__ndarray__"].update(
            dtype="|V8"))
    else:
        assert '"lr": "auto"' in text
        path.write_text(text.replace('"lr": "auto"', '"lr": NaN'))
    with pytest.raises(ModelFileError, match="model.json"):
        load_model(saved)


def test_missing_files_name_the_file(tmp_path):
    with pytest.raises(ModelFileError, match=r"model\.json: missing"):
        load_model(tmp_path)


def test_unsupported_models_are_refused_with_a_clear_error(tmp_path, data):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ModelFileError, match="LogisticRegression.*pickle or skops"):
        save_model(LogisticRegression(), tmp_path / "lr")
    with pytest.raises(Exception, match="not fitted"):
        save_model(MedFuseClassifier(), tmp_path / "unfitted")


def test_training_only_objects_are_left_out_with_a_warning(fitted, data, tmp_path):
    from skorch.callbacks import EpochTimer

    clf = fitted["classifier"]
    clf.set_params(callbacks=[EpochTimer()])
    try:
        with pytest.warns(UserWarning, match="callbacks"):
            folder = save_model(clf, tmp_path / "m")
    finally:
        clf.set_params(callbacks=None)
    X, _ = data
    np.testing.assert_array_equal(load_model(folder).predict_proba(X), clf.predict_proba(X))


def test_pickle_keeps_working(fitted, data):
    X, _ = data
    for model in fitted.values():
        again = pickle.loads(pickle.dumps(model))
        np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


# -- class references: public spellings written, old spellings read --------------------------
OLD = Path(__file__).parent / "data" / "model_v0"


@pytest.mark.parametrize("kind", ["classifier", "pipeline"])
def test_folders_written_before_the_move_load_and_predict_as_recorded(kind):
    """Written by the code before the move into subpackages (MADE_BY.py.txt): old class paths
    (medfuse_sk.model.MedFuseModule, medfuse_sk.losses.BinaryLoss) mapped by the loader."""
    import pandas as pd

    text = (OLD / kind / "model.json").read_text()
    assert '"medfuse_sk.model.MedFuseModule"' in text and '"medfuse_sk.losses.BinaryLoss"' in text
    model = load_model(OLD / kind)
    events = pd.read_csv(OLD / "events.csv")
    recorded = pd.read_csv(OLD / "predictions.csv")
    proba = model.predict_proba(events)[:, 1]
    assert EventSet.from_long(events).stay_ids.tolist() == recorded["stay_id"].tolist()
    np.testing.assert_allclose(proba, recorded[kind].to_numpy(), rtol=0, atol=1e-6)


def test_new_files_name_classes_by_their_public_path(saved):
    from medfuse_sk.io import LEGACY_CLASS_PATHS, class_reference
    from medfuse_sk.models import BinaryLoss, MedFuseEnsemble, MedFuseModule

    params = json.loads((saved / "model.json").read_text())["model"]["params"]
    assert params["module"] == {"__class__": "medfuse_sk.models.MedFuseModule"}
    assert params["criterion"] == {"__class__": "medfuse_sk.models.BinaryLoss"}
    assert params["optimizer"] == {"__class__": "torch.optim.AdamW"}
    assert class_reference(MedFuseModule) == "medfuse_sk.models.MedFuseModule"
    assert class_reference(BinaryLoss) == "medfuse_sk.models.BinaryLoss"
    written = [v["__class__"] for v in params.values() if isinstance(v, dict) and "__class__" in v]
    assert written and not [w for w in written if "._" in w]  # no private module
    assert set(LEGACY_CLASS_PATHS.values()) == {class_reference(c) for c in (
        MedFuseModule, BinaryLoss, MedFuseEnsemble)}


@pytest.mark.parametrize("spelling", [
    "medfuse_sk.model.MedFuseModule",                    # before the move
    "medfuse_sk.models.medfuse._network.MedFuseModule",  # the defining module, after it
])
def test_other_spellings_of_a_known_class_load_the_same_model(saved, data, fitted, spelling):
    _edit_json(saved, lambda c: c["model"]["params"].update(module={"__class__": spelling}))
    X, _ = data
    np.testing.assert_array_equal(load_model(saved).predict_proba(X),
                                  fitted["classifier"].predict_proba(X))


# -- the registry decides what loads ----------------------------------------------------------
EventCountClassifier = event_count_classifier()


@pytest.fixture
def registered_counter():
    register_model("event_count", EventCountClassifier)
    yield EventCountClassifier
    unregister_model("event_count")


def test_a_registered_model_without_a_network_saves_and_loads(registered_counter, data, tmp_path):
    X, y = data
    model = registered_counter("GCS").fit(X, y)
    folder = save_model(model, tmp_path / "counter")
    config = json.loads((folder / "model.json").read_text())
    assert config["model"]["class"] == "EventCountClassifier" and config["history"] == {}
    assert set(config["model"]["fitted"]) >= {"coef_", "intercept_", "classes_"}
    loaded = load_model(folder)
    assert type(loaded) is registered_counter and loaded.count_feature == "GCS"
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert model.predict_proba(X)[:, 1].std() > 0


def test_an_unregistered_class_is_neither_saved_nor_loaded(registered_counter, data, tmp_path):
    X, y = data
    folder = save_model(registered_counter().fit(X, y), tmp_path / "counter")
    unregister_model("event_count")
    with pytest.raises(ModelFileError, match=r"model: refusing the class 'EventCountClassifier': "
                                             r"a model file may only name the registered"):
        load_model(folder)
    with pytest.raises(ModelFileError, match="EventCountClassifier.*Register it"):
        save_model(registered_counter().fit(X, y), tmp_path / "again")
    register_model("event_count", registered_counter)  # registered again: it loads again
    assert type(load_model(folder)) is registered_counter


def test_an_unfitted_registered_model_is_refused(registered_counter, tmp_path):
    with pytest.raises(ModelFileError, match="this EventCountClassifier is not fitted"):
        save_model(registered_counter(), tmp_path / "unfitted")
    with pytest.raises(ModelFileError, match="step 'eventcountclassifier': this "
                                             "EventCountClassifier is not fitted"):
        save_model(make_pipeline(registered_counter()), tmp_path / "unfitted")


def test_large_fitted_arrays_go_to_the_weights_file_and_come_back_exactly(data, tmp_path,
                                                                          monkeypatch):
    """A forest's tree arrays: in model.safetensors (named from the JSON), not in the JSON;
    the loaded forest predicts exactly as the saved one; a JSON naming an array the weights
    file lacks is refused."""
    from safetensors.torch import load_file

    from medfuse_sk.io import _persistence
    from medfuse_sk.models import create_model

    monkeypatch.setattr(_persistence, "INLINE_ARRAY_LIMIT", 16)  # trees of 120 stays are small
    INLINE_ARRAY_LIMIT = 16

    X, y = data[0], data[1]
    model = create_model("random_forest", random_state=0, n_estimators=5).fit(X, y)
    folder = save_model(model, tmp_path / "forest")
    text = (folder / "model.json").read_text()
    stored = load_file(str(folder / "model.safetensors"))
    assert stored and all(k.startswith("__arrays__.") for k in stored)
    assert all(v.numel() >= INLINE_ARRAY_LIMIT for v in stored.values())
    assert text.count('"__tensor__"') == len(stored)
    config = json.loads(text)

    def sizes(node):  # the numeric arrays left in the JSON: all small (names stay there)
        if isinstance(node, dict):
            if "__ndarray__" in node and node["__ndarray__"]["dtype"] != "object":
                yield int(np.prod(node["__ndarray__"]["shape"]))
            for v in node.values():
                yield from sizes(v)
        elif isinstance(node, list):
            for v in node:
                yield from sizes(v)

    assert max(sizes(config), default=0) < INLINE_ARRAY_LIMIT
    back = load_model(folder)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    text = (folder / "model.json").read_text().replace('"__arrays__.0"', '"__arrays__.999"')
    (folder / "model.json").write_text(text)
    with pytest.raises(ModelFileError, match=r"model.json.*'__arrays__.999' is not in the "
                                             "weights file"):
        load_model(folder)
