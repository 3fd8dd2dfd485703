// description: The nodes of one graph grouped by a community property (what graphstore analyze louvain/leiden writes): one row per community, largest first.
// param: graph_id graph     the graph to look in
// param: property property = louvain    the node property holding the community id
// param: members int[1..1000] = 10    how many member uids to list per community
// param: limit int[1..1000000] = 20    how many communities
MATCH (n:GraphNode {graph_id: $graph_id})
WHERE n[$property] IS NOT NULL
WITH n[$property] AS community, n
ORDER BY n.key ASC
WITH community, count(n) AS size, collect(n.uid) AS uids,
     collect(DISTINCT [l IN labels(n) WHERE l <> 'GraphNode' AND NOT l =~ '(Class|Layer)[0-9]+'][0]) AS labels
RETURN community, size, labels, uids[..$members] AS members
ORDER BY size DESC, community ASC
LIMIT $limit
