// description: PageRank inside Neo4j (GDS): project one graph by graph_id (undirected), write the score, drop the projection.
// param: graph_id graph                        the stored graph
// param: write_property property = pagerank   node property to write
// gds-projection: graph_id
CALL gds.pageRank.write($projection, {writeProperty: $write_property, maxIterations: 100})
YIELD ranIterations, didConverge
RETURN ranIterations AS iterations, didConverge AS converged
