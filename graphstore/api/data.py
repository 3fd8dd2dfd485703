"""What `data` means to the Python API: graphstore.extract.model_data, which `graphstore ingest --model` shares."""

from graphstore.extract.model_data import (
    Data,
    example_input,
    labelled_classes,
    own_class_names,
    qualified_name,
    registry_data,
    resolve_data,
)

__all__ = [
    "Data",
    "example_input",
    "labelled_classes",
    "own_class_names",
    "qualified_name",
    "registry_data",
    "resolve_data",
]
