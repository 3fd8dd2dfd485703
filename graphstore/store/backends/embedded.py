"""The embedded Ladybug store: a path, or a `file:` URI (file:/abs/path, file:///abs/path, file:relative/path)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphstore.config import FILE_SCHEME, STORE_BACKENDS, Settings, StoreBackend

if TYPE_CHECKING:
    from graphstore.store.base import GraphStore

FILE_PREFIXES = ("file://", "file:")


def store_path(uri: str) -> str:
    """The folder a path or file: URI names (file:///a/b -> /a/b, file:a/b -> a/b)."""
    for prefix in FILE_PREFIXES:
        if uri.lower().startswith(prefix):
            return uri[len(prefix) :]
    return uri


def open_embedded(settings: Settings) -> GraphStore:
    """An EmbeddedStore over the settings' path (one process at a time may hold it)."""
    from graphstore.store.embedded import EmbeddedStore  # deferred: Ladybug and pyarrow load only when used

    return EmbeddedStore(store_path(settings.graph_store_uri), settings.batch_size)


STORE_BACKENDS.register(
    StoreBackend("embedded", (FILE_SCHEME,), open_embedded, "Ladybug, in-process, in a folder (the default).")
)
