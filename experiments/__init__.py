"""The experiment definitions shipped with graphstore (TOML data files, installed as graphstore.experiment_defs).

Copy one, edit it, and run it with `graphstore experiment run path/to/copy.toml`. See docs/EXPERIMENTS.md.
"""
