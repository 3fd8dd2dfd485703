// description: Louvain communities inside Neo4j (GDS): project one graph by graph_id, write the community id, drop the projection.
// param: graph_id graph                       the stored graph
// param: write_property property = louvain   node property to write
// gds-projection: graph_id
CALL gds.louvain.write($projection, {writeProperty: $write_property, concurrency: 1})
YIELD communityCount, modularity
RETURN communityCount AS communities, modularity
