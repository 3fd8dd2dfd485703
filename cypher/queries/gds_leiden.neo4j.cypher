// description: Leiden communities inside Neo4j (GDS): project one graph by graph_id, write the community id, drop the projection.
// param: graph_id str                       the stored graph
// param: write_property str = leiden     node property to write
MATCH (a:GraphNode {graph_id: $graph_id})
OPTIONAL MATCH (a)-[r]->(b:GraphNode {graph_id: $graph_id})
WITH gds.graph.project('gs-query-' + $graph_id + '-' + randomUUID(), a, b, {},
                       {undirectedRelationshipTypes: ['*']}) AS g
CALL gds.leiden.write(g.graphName, {writeProperty: $write_property, concurrency: 1, randomSeed: 42})
YIELD communityCount, modularity
WITH g, communityCount AS communities, modularity
CALL gds.graph.drop(g.graphName, false) YIELD graphName
RETURN communities, modularity
