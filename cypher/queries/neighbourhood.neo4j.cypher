// description: The neighbours of one node (by key) within a graph, with the relationship and its direction.
// param: graph_id graph     the graph to look in
// param: key int               the node's key (its uid is graph_id:key)
// param: limit int[1..1000000] = 50    how many neighbours
MATCH (n:GraphNode {uid: $graph_id + ':' + toString($key)})-[r]-(m)
RETURN m.uid AS neighbour, [l IN labels(m) WHERE l <> 'GraphNode' AND NOT l =~ '(Class|Layer)[0-9]+'][0] AS label, type(r) AS relationship,
       CASE WHEN startNode(r) = n THEN 'out' ELSE 'in' END AS direction
ORDER BY direction DESC, neighbour
LIMIT $limit
