"""Graph extraction from trained networks: each kind turns a checkpoint into one in-memory Graph."""
