// description: PageRank inside Neo4j (GDS): project one graph by graph_id (undirected), write the score, drop the projection.
// param: graph_id str                       the stored graph
// param: write_property str = pagerank     node property to write
MATCH (a:GraphNode {graph_id: $graph_id})
OPTIONAL MATCH (a)-[r]->(b:GraphNode {graph_id: $graph_id})
WITH gds.graph.project('gs-query-' + $graph_id + '-' + randomUUID(), a, b, {},
                       {undirectedRelationshipTypes: ['*']}) AS g
CALL gds.pageRank.write(g.graphName, {writeProperty: $write_property, maxIterations: 100})
YIELD ranIterations, didConverge
WITH g, ranIterations AS iterations, didConverge AS converged
CALL gds.graph.drop(g.graphName, false) YIELD graphName
RETURN iterations, converged
