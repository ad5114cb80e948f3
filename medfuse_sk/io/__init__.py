"""What crosses the library's edge as files: model folders that are safe to load."""

from ._persistence import FORMAT, FORMAT_VERSION, ModelFileError, load_model, save_model

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "load_model", "save_model"]
