"""The Python API (`import graphstore as gs`): extract graphs from any PyTorch model, store, read, query, analyse.

    gs.extract(model, data, kind, **params) -> gs.Graph       graphstore.api.kinds
    gs.ingest(model, data, kinds=..., prefix=...) -> infos    graphstore.api.ingestion
    gs.connect(graph_store=None, database_url=None) -> Session graphstore.api.session

`graphstore/__init__.py` re-exports the public names, each loaded on first use (PEP 562), so `import graphstore`
stays cheap and torch loads only for extract and ingest. Nothing is imported here for the same reason.
docs/API.md documents every name with an example.
"""
