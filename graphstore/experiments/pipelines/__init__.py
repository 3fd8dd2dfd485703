"""Registered experiment pipelines: one module each, registering itself with `register_pipeline`."""
