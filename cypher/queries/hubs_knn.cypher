// description: Hub samples of a kNN graph by k-occurrence (how many samples have it among their k nearest; 003's hubness), with the union-graph degree.
// param: graph_id graph     the kNN graph (kind knn, e.g. 3-10-knn-k8)
// param: limit int[1..1000000] = 10    how many hubs
MATCH (s:Sample)-[r:KNN]-(t:Sample)
WHERE s.graph_id = $graph_id AND t.graph_id = $graph_id
WITH s, count(r) AS degree
RETURN s.uid AS uid, s.idx AS idx, s.label AS label, s.prediction AS prediction,
       s.k_occurrence AS k_occurrence, degree
ORDER BY k_occurrence DESC, idx ASC
LIMIT $limit
