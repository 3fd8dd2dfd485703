// description: A stored community hierarchy drawn as a tree for Neo4j Browser: each community linked to its parent, captioned with its level and class names.
// param: graph_id graph     the hierarchy graph (<analysed graph id>-hierarchy)
MATCH p = (:Community {graph_id: $graph_id})-[:PARENT]->(:Community)
RETURN p
