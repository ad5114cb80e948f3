"""The benchmark scatter's label placement: no label covers another, none passes the edge."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from medfuse_sk.benchmark._figures import label_offsets, merge_coincident


def _boxes(xy, widths, offsets, height):
    return [(x + dx, y + dy, x + dx + w, y + dy + height)
            for (x, y), w, (dx, dy) in zip(xy, widths, offsets)]


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


points = st.lists(st.tuples(st.floats(0, 300), st.floats(0, 200), st.integers(1, 30)),
                  min_size=1, max_size=14)


@settings(max_examples=60, deadline=None)
@given(points)
def test_label_boxes_never_overlap(rows):
    xy = np.array([(x, y) for x, y, _ in rows])
    widths = [4.8 * n for _, _, n in rows]
    offsets = label_offsets(xy, widths, height=10.0, right=400.0)
    boxes = _boxes(xy, widths, offsets, 10.0)
    for i in range(len(boxes)):
        assert boxes[i][2] <= 400.0 or boxes[i][0] < xy[i][0], "a label passes the right edge"
        for j in range(i):
            assert not _overlap(boxes[i], boxes[j]), (i, j, boxes[i], boxes[j])


def test_label_offsets_keep_free_labels_where_they_are_and_flip_at_the_edge():
    xy = np.array([[10.0, 10.0], [200.0, 100.0], [390.0, 50.0]])
    offsets = label_offsets(xy, [30.0, 30.0, 30.0], height=10.0, right=400.0)
    np.testing.assert_allclose(offsets, [[6.0, 4.0], [6.0, 4.0], [-36.0, 4.0]])


def test_a_label_that_would_cover_another_moves_below_it():
    xy = np.array([[100.0, 100.0], [102.0, 97.0]])  # the second point's label would overlap
    offsets = label_offsets(xy, [40.0, 40.0], height=10.0, pad=1.0)
    assert offsets[0].tolist() == [6.0, 4.0]
    # below the first label's box (bottom at 104) by the pad: top at 103, bottom at 93
    np.testing.assert_allclose(offsets[1], [6.0, 93.0 - 97.0])


def test_models_at_one_point_share_a_label():
    xy = np.array([[1.0, 1.0], [50.0, 5.0], [1.4, 0.6]])
    kept, labels = merge_coincident(xy, ["medfuse", "tcn", "medfuse_fast"])
    assert labels == ["medfuse, medfuse_fast", "tcn"]
    np.testing.assert_allclose(kept, [[1.0, 1.0], [50.0, 5.0]])
