// description: The nearest classes of one class in a class graph (NEAR edges by mean shortest-path distance, 003).
// param: graph_id graph     the class graph (kind class-graph)
// param: name str           the class name, e.g. 3 or cat
// param: limit int[1..1000000] = 5     how many neighbours
MATCH (c:Class)-[r:NEAR]-(d:Class)
WHERE c.graph_id = $graph_id AND d.graph_id = $graph_id AND c.name = $name
RETURN d.name AS class, d.label AS label, r.distance AS distance, r.rank AS rank
ORDER BY distance ASC, label ASC
LIMIT $limit
