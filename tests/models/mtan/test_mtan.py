"""mTAN as an estimator: learning, round trips, a grid search, its time scale and checks."""

import pytest
from network_checks import check_grid_search, check_round_trips, held_out_auroc, task
from sklearn.utils._param_validation import InvalidParameterError

from medfuse_sk.models import create_model
from medfuse_sk.models.mtan import MTANClassifier

SMALL = dict(n_ref_points=8, embed_time=8, n_hidden=16, classifier_hidden=16, lr=3e-3,
             max_epochs=8, batch_size=32, valid_size=0.0, verbose=0)


def test_learns_the_u_shaped_task_and_scales_time_by_the_latest_training_time():
    events, labels = task(200)
    model = MTANClassifier(random_state=0, **SMALL).fit(events, labels)
    assert held_out_auroc(model) > 0.85
    assert model.time_scale_ == pytest.approx(events["time"].max(), rel=1e-6)
    assert model.module_.time_scale == pytest.approx(model.time_scale_)


def test_clone_pickle_and_safe_files(tmp_path):
    model = create_model("mtan", random_state=0, **{**SMALL, "max_epochs": 2}).fit(*task(120))
    check_round_trips(model, tmp_path)


def test_grid_search():
    check_grid_search(MTANClassifier(random_state=0, **SMALL), {"n_heads": [1, 2]})


def test_the_recipe_is_table_4_and_the_authors_classifier():
    model = create_model("mtan")
    assert (model.n_hidden, model.lr, model.max_epochs) == (256, 5e-4, 250)
    assert (model.n_ref_points, model.embed_time, model.n_heads, model.batch_size) == (128, 128, 1, 128)


def test_heads_must_divide_the_time_embedding():
    with pytest.raises(InvalidParameterError, match="embed_time=8 must be a multiple of n_heads=3"):
        MTANClassifier(**{**SMALL, "n_heads": 3}).fit(*task(40))
