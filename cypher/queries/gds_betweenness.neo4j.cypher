// description: Betweenness inside Neo4j (GDS): project one graph by graph_id (undirected), write the score, drop the projection.
// param: graph_id graph                           the stored graph
// param: write_property property = betweenness   node property to write
// gds-projection: graph_id
CALL gds.betweenness.write($projection, {writeProperty: $write_property})
YIELD nodePropertiesWritten
RETURN nodePropertiesWritten AS nodes
