// description: Samples in mixed-class regions of a kNN graph: more than min_fraction of their neighbours carry another label (003).
// param: graph_id graph             the kNN graph (kind knn)
// param: min_fraction float[0..1] = 0.5  fraction of neighbours with another label that makes a region mixed
// param: limit int[1..1000000] = 20            how many samples
MATCH (s:Sample)-[r:KNN]-(t:Sample)
WHERE s.graph_id = $graph_id AND t.graph_id = $graph_id
WITH s, count(t) AS degree, count(CASE WHEN t.label <> s.label THEN 1 ELSE NULL END) AS other
WITH s, degree, other, (1.0 * other) / degree AS fraction
WHERE fraction > $min_fraction
RETURN s.uid AS uid, s.idx AS idx, s.label AS label, s.prediction AS prediction, degree,
       other AS other_label_neighbours, fraction
ORDER BY fraction DESC, idx ASC
LIMIT $limit
