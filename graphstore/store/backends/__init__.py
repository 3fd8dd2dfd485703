"""Graph store backends, one module each: a module registers a graphstore.config.StoreBackend under the URI schemes
that select it (`STORE_BACKENDS.register(StoreBackend("neo4j", ("bolt", ...), open_neo4j))`). Each module is light:
it imports its driver only inside `open`, so asking which backend a URI means never loads one.
"""
