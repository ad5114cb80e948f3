"""The shared PyPOTS grid base (``models/_pypots.py``): GRU-D, moved onto it, predicts what it
predicted before, and now saves as a safe model file."""

import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from medfuse_sk.io import load_model, save_model
from medfuse_sk.models import GRUDClassifier

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pypots") is None,
                                reason="needs pypots (the grud extra)")

#: GRU-D's risks computed with the code before the shared base (the file says which commit)
REFERENCE = Path(__file__).with_name("grud_reference.json")


def test_grud_predicts_what_it_did_before_and_saves_and_loads(tmp_path):
    from medfuse_sk.datasets import load_sample

    reference = json.loads(REFERENCE.read_text())
    train, val = load_sample("train"), load_sample("val")
    X, X_val = train.to_event_set()[np.arange(160)], val.to_event_set()[np.arange(60)]
    assert X_val.stay_ids.tolist() == reference["stay_ids"]
    y = train.labels.loc[X.stay_ids].to_numpy()
    model = GRUDClassifier(random_state=0, max_epochs=2, hidden_size=8, batch_size=32).fit(X, y)
    risk = model.predict_proba(X_val)[:, 1]
    # bit-identical on the machine that wrote the reference; a little room for other CPUs
    np.testing.assert_allclose(risk, reference["risk"], rtol=0, atol=1e-6)

    save_model(model, tmp_path / "grud")  # before the shared base: "cannot save model_"
    loaded = load_model(tmp_path / "grud")
    assert type(loaded) is GRUDClassifier and set(loaded.network_state_) == set(model.network_state_)
    np.testing.assert_array_equal(loaded.predict_proba(X_val)[:, 1], risk)
    restored = pickle.loads(pickle.dumps(model))
    assert "_model" not in vars(restored) and "_model" in vars(model)
    np.testing.assert_array_equal(restored.predict_proba(X_val)[:, 1], risk)
    assert type(restored.model_).__name__ == "GRUD"
    with pytest.raises(AttributeError, match="not fitted"):
        GRUDClassifier().model_  # noqa: B018
