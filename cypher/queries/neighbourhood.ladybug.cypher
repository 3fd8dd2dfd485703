// description: The neighbours of one node (by key) within a graph, with the relationship and its direction.
// param: graph_id graph     the graph to look in
// param: key int               the node's key (its uid is graph_id:key)
// param: limit int[1..1000000] = 50    how many neighbours
MATCH (n {graph_id: $graph_id})-[r]-(m)
WHERE n.key = $key AND label(n) <> 'Graph'
OPTIONAL MATCH (n)-[out]->(m)
WHERE id(out) = id(r)
RETURN m.uid AS neighbour, label(m) AS label, label(r) AS relationship,
       CASE WHEN out IS NULL THEN 'in' ELSE 'out' END AS direction
ORDER BY direction DESC, neighbour
LIMIT $limit
