// description: Patches of a multilayer graph with the highest entropy of degree delta, with their layer's max and mean delta.
// param: graph_id graph     the multilayer graph to look in
// param: limit int[1..1000000] = 20    how many patches
MATCH (q:Patch {graph_id: $graph_id})
WITH q.layer AS layer, max(q.delta) AS layer_max, avg(q.delta) AS layer_mean
MATCH (p:Patch {graph_id: $graph_id})
WHERE p.layer = layer
RETURN p.uid AS uid, layer, p.i AS i, p.j AS j, p.delta AS delta, layer_max, layer_mean
ORDER BY delta DESC, uid ASC
LIMIT $limit
