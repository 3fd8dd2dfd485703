"""Experiments: a declared grid of cells, each a pipeline of jobs, recorded as one parent run with a child per cell.

Definitions are data (`experiments/<name>.toml`); pipelines are code (`graphstore.experiments.pipelines`).
See docs/EXPERIMENTS.md.
"""
