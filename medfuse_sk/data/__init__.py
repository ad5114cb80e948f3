"""Events in, tokens out: everything between a user's long table and a model's input.

Long table → :class:`EventSet` (validated flat arrays, times converted to hours) → :class:`EventTokenizer`
(vocabulary, scaling, windows, token cap; learned in ``fit``) → :class:`TokenSet`; or per-stay
aggregates (:class:`StayAggregates`) and regular grids (:func:`regular_grid`) for the models
that take those; prediction tasks cut from events (:func:`make_window_task`). No torch here.
"""

from ._aggregates import STATISTICS, StayAggregates
from ._events import TIME_UNITS, ColumnError, EventSet, as_event_set, event_order_moves
from ._grid import regular_grid
from ._ragged import RaggedStays, gather_rows
from ._tasks import EXCLUSION_REASONS, WindowTask, make_window_task
from ._tokenizer import (
    COUNT_FEATURE,
    EMPTY_FEATURE,
    EventTokenizer,
    TokenSet,
    static_codes,
    static_feature_ids,
)

__all__ = ["COUNT_FEATURE", "EMPTY_FEATURE", "EXCLUSION_REASONS", "STATISTICS", "TIME_UNITS",
           "ColumnError", "EventSet", "EventTokenizer", "RaggedStays", "StayAggregates",
           "TokenSet", "WindowTask", "as_event_set", "event_order_moves", "gather_rows",
           "make_window_task", "regular_grid", "static_codes", "static_feature_ids"]
