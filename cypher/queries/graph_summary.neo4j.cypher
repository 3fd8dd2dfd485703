// description: Node counts by label and relationship counts by type within one graph.
// param: graph_id graph the graph to summarise
MATCH (n:GraphNode {graph_id: $graph_id})
UNWIND [l IN labels(n) WHERE l <> 'GraphNode' AND NOT l =~ '(Class|Layer)[0-9]+'] AS label
RETURN 'node' AS element, label AS name, count(*) AS count
UNION ALL
MATCH (n:GraphNode {graph_id: $graph_id})-[r]->()
RETURN 'relationship' AS element, type(r) AS name, count(*) AS count
