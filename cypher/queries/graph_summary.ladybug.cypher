// description: Node counts by label and relationship counts by type within one graph.
// param: graph_id graph the graph to summarise
MATCH (n {graph_id: $graph_id})
WHERE label(n) <> 'Graph'
RETURN 'node' AS element, label(n) AS name, count(*) AS count
UNION ALL
MATCH ()-[r {graph_id: $graph_id}]->()
RETURN 'relationship' AS element, label(r) AS name, count(*) AS count
