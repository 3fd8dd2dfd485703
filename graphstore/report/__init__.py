"""Reports: a run, a graph or an experiment rendered as a self-contained HTML page and a Markdown file with figures.

Small modules, one job each: `document` (the report's parts: sections, tables, figures, omissions with reasons),
`figures` (matplotlib on the Agg backend, Okabe-Ito colours, SVG out), `runs` / `graphs` / `experiments` (gathering
from the tracking DB and the graph store), `html` and `markdown` (rendering), `job` (the report jobs and batches).
"""
