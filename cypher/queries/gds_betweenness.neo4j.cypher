// description: Betweenness inside Neo4j (GDS): project one graph by graph_id (undirected), write the score, drop the projection.
// param: graph_id str                       the stored graph
// param: write_property str = betweenness     node property to write
MATCH (a:GraphNode {graph_id: $graph_id})
OPTIONAL MATCH (a)-[r]->(b:GraphNode {graph_id: $graph_id})
WITH gds.graph.project('gs-query-' + $graph_id + '-' + randomUUID(), a, b, {},
                       {undirectedRelationshipTypes: ['*']}) AS g
CALL gds.betweenness.write(g.graphName, {writeProperty: $write_property})
YIELD nodePropertiesWritten
WITH g, nodePropertiesWritten AS nodes
CALL gds.graph.drop(g.graphName, false) YIELD graphName
RETURN nodes
