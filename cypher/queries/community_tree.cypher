// description: A stored community hierarchy (graphstore analyze hierarchy): communities by level with their parent and classes.
// param: graph_id str       the hierarchy graph (<analysed graph id>-hierarchy)
// param: limit int = 200    how many communities
MATCH (c:Community {graph_id: $graph_id})
OPTIONAL MATCH (c)-[:PARENT]->(p:Community)
RETURN c.level AS level, c.block AS block, c.size AS size, c.classes AS classes, p.block AS parent
ORDER BY level DESC, block
LIMIT $limit
