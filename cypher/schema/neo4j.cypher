// Neo4j schema: one statement per block, separated by blank lines. Idempotent (IF NOT EXISTS).
// Every stored node has the label :GraphNode besides its own label, so graph_id scoping uses an index.
CREATE CONSTRAINT graph_id_unique IF NOT EXISTS FOR (g:Graph) REQUIRE g.graph_id IS UNIQUE

CREATE CONSTRAINT graphnode_uid_unique IF NOT EXISTS FOR (n:GraphNode) REQUIRE n.uid IS UNIQUE

CREATE INDEX graphnode_graph_id IF NOT EXISTS FOR (n:GraphNode) ON (n.graph_id)

CREATE CONSTRAINT neuron_uid_unique IF NOT EXISTS FOR (n:Neuron) REQUIRE n.uid IS UNIQUE

CREATE CONSTRAINT patch_uid_unique IF NOT EXISTS FOR (n:Patch) REQUIRE n.uid IS UNIQUE

CREATE CONSTRAINT sample_uid_unique IF NOT EXISTS FOR (n:Sample) REQUIRE n.uid IS UNIQUE

CREATE CONSTRAINT class_uid_unique IF NOT EXISTS FOR (n:Class) REQUIRE n.uid IS UNIQUE

CREATE CONSTRAINT community_uid_unique IF NOT EXISTS FOR (n:Community) REQUIRE n.uid IS UNIQUE

CREATE INDEX neuron_graph_id IF NOT EXISTS FOR (n:Neuron) ON (n.graph_id)

CREATE INDEX patch_graph_id IF NOT EXISTS FOR (n:Patch) ON (n.graph_id)

CREATE INDEX sample_graph_id IF NOT EXISTS FOR (n:Sample) ON (n.graph_id)

CREATE INDEX class_graph_id IF NOT EXISTS FOR (n:Class) ON (n.graph_id)

CREATE INDEX community_graph_id IF NOT EXISTS FOR (n:Community) ON (n.graph_id)
