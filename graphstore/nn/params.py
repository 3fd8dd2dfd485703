"""Moved to graphstore.params (L0); this name stays for code written against it and goes in a later release."""

from graphstore.params import (
    coerce,
    describe,
    field_help,
    field_types,
    from_mapping,
    known_list,
    parse_assignments,
    show_value,
    to_dict,
    to_dict_any,
    unwrap_optional,
)

__all__ = [
    "coerce",
    "describe",
    "field_help",
    "field_types",
    "from_mapping",
    "known_list",
    "parse_assignments",
    "show_value",
    "to_dict",
    "to_dict_any",
    "unwrap_optional",
]
