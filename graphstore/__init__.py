"""graphstore: neural networks as graphs - train, prune, extract, store (Neo4j / embedded) and analyse."""

__version__ = "0.1.0"
