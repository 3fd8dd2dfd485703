// description: The hub samples of a kNN graph with their KNN links, for Neo4j Browser's graph view (samples coloured by class).
// param: graph_id graph     the kNN graph
// param: limit int[1..1000] = 10    how many hub samples (highest k-occurrence)
MATCH (s:Sample {graph_id: $graph_id})
WITH s
ORDER BY s.k_occurrence DESC, s.idx ASC
LIMIT $limit
MATCH p = (s)-[:KNN]-(:Sample)
RETURN p
