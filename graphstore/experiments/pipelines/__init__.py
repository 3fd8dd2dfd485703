"""Registered experiment pipelines: one module each, registering itself with `PIPELINES.register(Pipeline(...))`."""
