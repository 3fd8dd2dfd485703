"""Open the configured stores, list the graphs, find a graph's hubs and run Louvain on it.

    python examples/query_and_analyse.py [GRAPH_ID]

Run examples/ingest_after_training.py first (with the same GRAPHSTORE_* settings) to have something to query; the
default GRAPH_ID is the knn graph it stores.
"""

from __future__ import annotations

import sys

import graphstore as gs


def main(graph_id: str = "digits-mlp-knn-k8") -> None:
    with gs.connect() as db:
        print("stored:", ", ".join(g.graph_id for g in db.graphs()) or "nothing yet")
        hubs = db.query("hubs", graph_id=graph_id, limit=5)
        print(hubs)
        run = db.analyze("louvain", graph_id)
        print(f"louvain on {graph_id} ({run.engine}): {run.summary}")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:2])
    except gs.GraphstoreError as exc:  # a graph that is not stored: the message names the fix
        sys.exit(f"Error: {exc}")
