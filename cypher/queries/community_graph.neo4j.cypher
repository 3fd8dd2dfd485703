// description: The nodes of one graph shown by community for Neo4j Browser's graph view: one virtual :CommunityGroup node (APOC, nothing is written) per community, linked to its members.
// param: graph_id graph     the graph to look in
// param: property property = louvain    the node property holding the community id
// param: communities int[1..100] = 5    how many of the largest communities
// param: members int[1..1000] = 20    how many members to show per community
MATCH (n:GraphNode {graph_id: $graph_id})
WHERE n[$property] IS NOT NULL
WITH n[$property] AS community, n
ORDER BY n.key ASC
WITH community, count(n) AS size, collect(n) AS nodes
ORDER BY size DESC, community ASC
LIMIT $communities
CALL apoc.create.vNode(['CommunityGroup'], {property: $property, community: community, size: size}) YIELD node AS grp
UNWIND nodes[..$members] AS member
CALL apoc.create.vRelationship(member, 'IN_GROUP', {}, grp) YIELD rel
RETURN grp AS community, size, collect(member) AS members, collect(rel) AS links
ORDER BY size DESC
