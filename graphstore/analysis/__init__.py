"""Analyses of trained networks that are not graph-store queries (e.g. zeroth-order topology of weights)."""
