// description: A stored community hierarchy (graphstore analyze hierarchy): communities by level with their parent and classes.
// param: graph_id graph     the hierarchy graph (<analysed graph id>-hierarchy)
// param: limit int[1..1000000] = 200   how many communities
MATCH (c:Community {graph_id: $graph_id})
OPTIONAL MATCH (c)-[:PARENT]->(p:Community)
RETURN c.level AS level, c.block AS block, c.size AS size, c.classes AS classes, p.block AS parent
ORDER BY level DESC, block
LIMIT $limit
