// description: Top nodes by degree within one graph with some of their relationships, as nodes and relationships for Neo4j Browser's graph view.
// param: graph_id graph     the graph to look in
// param: limit int[1..1000] = 5    how many hubs
// param: neighbours int[1..1000] = 10   how many relationships to show per hub
MATCH (n:GraphNode {graph_id: $graph_id})
WITH n, COUNT { (n)--() } AS degree
ORDER BY degree DESC, n.key ASC
LIMIT $limit
CALL (n) {
  MATCH (n)-[r]-(m:GraphNode)
  RETURN r, m
  ORDER BY m.key ASC
  LIMIT $neighbours
}
RETURN n AS hub, degree, collect(r) AS relationships, collect(m) AS neighbours
ORDER BY degree DESC, hub.key ASC
