// description: Top nodes by degree (in + out, all relationship types) within one graph.
// param: graph_id graph     the graph to look in
// param: limit int[1..1000000] = 10    how many hubs
MATCH (n:GraphNode {graph_id: $graph_id})
WITH n, COUNT { (n)--() } AS degree
RETURN n.uid AS uid, [l IN labels(n) WHERE l <> 'GraphNode' AND NOT l =~ '(Class|Layer)[0-9]+'][0] AS label, n.key AS key, degree
ORDER BY degree DESC, key ASC
LIMIT $limit
