"""Model files: safetensors weights + plain JSON; identical predictions; tampered files refused."""

import json
import pickle
import warnings

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.datasets import load_sample
from medfuse_sk.io import ModelFileError, load_model, save_model

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


@pytest.mark.parametrize("where", ["model", "tokenizer", "parameter_class"])
def test_a_json_naming_an_arbitrary_class_is_refused_and_runs_nothing(saved, tmp_path, where):
    marker = tmp_path / "pwned"

    def edit(config):
        if where == "model":
            config["model"]["class"] = "os.system"
            config["model"]["params"] = {"command": f"touch {marker}"}
        elif where == "tokenizer":
            config["model"]["fitted"]["tokenizer_"]["__estimator__"]["class"] = "subprocess.Popen"
        else:
            config["model"]["params"]["module"] = {"__class__": "subprocess.Popen"}

    _edit_json(saved, edit)
    with pytest.raises(ModelFileError, match=r"refusing the class '(os\.system|subprocess\.Popen)'"):
        load_model(saved)
    assert not marker.exists()


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
        path.write_text(text.replace('"lr": 0.001', '"lr": NaN'))
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
