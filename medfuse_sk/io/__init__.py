"""What crosses the library's edge as files: the event and label tables every command reads
(one reader), and model folders that are safe to load."""

from ._persistence import (
    FORMAT,
    FORMAT_VERSION,
    LEGACY_CLASS_PATHS,
    ModelFileError,
    check_saveable,
    class_reference,
    load_model,
    save_model,
)
from ._tables import COLUMN_ROLES, DEFAULT_COLUMNS, TableError, read_events, read_labels, read_table

__all__ = ["COLUMN_ROLES", "DEFAULT_COLUMNS", "FORMAT", "FORMAT_VERSION", "LEGACY_CLASS_PATHS",
           "ModelFileError", "TableError", "check_saveable", "class_reference", "load_model",
           "read_events", "read_labels", "read_table", "save_model"]
