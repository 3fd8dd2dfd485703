// description: Shared neurons of a co-activation graph: hidden units co-activated with the output units of two or more classes (000).
// param: graph_id graph          the co-activation graph
// param: min_classes int[1..] = 2    least number of classes a unit must share
// param: min_w float = 0.0       least rescaled edge weight w counted
// param: limit int[1..1000000] = 20         how many units
MATCH (n:Neuron)-[r:COACTIVATES]-(o:Neuron)
WHERE n.graph_id = $graph_id AND o.graph_id = $graph_id AND o.layer_type = 'output'
      AND n.layer_type <> 'output' AND r.w >= $min_w
WITH n, count(DISTINCT o.class_name) AS classes, collect(DISTINCT o.class_name) AS class_names
WHERE classes >= $min_classes
RETURN n.uid AS uid, n.layer AS layer, n.`index` AS unit, classes, class_names
ORDER BY classes DESC, n.layer_index ASC, unit ASC
LIMIT $limit
