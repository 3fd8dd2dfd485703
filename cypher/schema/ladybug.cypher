// Ladybug (embedded) schema: node tables take a single-column primary key, so uid is "<graph_id>:<key>".
// Further properties are added with ALTER TABLE when a graph brings them. Idempotent (IF NOT EXISTS).
CREATE NODE TABLE IF NOT EXISTS Graph(graph_id STRING, kind STRING, run_id INT64, checkpoint STRING, params STRING, created_at STRING, status STRING, progress STRING, node_count INT64, edge_count INT64, error STRING, PRIMARY KEY(graph_id))

CREATE NODE TABLE IF NOT EXISTS Neuron(uid STRING, graph_id STRING, key INT64, PRIMARY KEY(uid))

CREATE NODE TABLE IF NOT EXISTS Patch(uid STRING, graph_id STRING, key INT64, PRIMARY KEY(uid))

CREATE NODE TABLE IF NOT EXISTS Sample(uid STRING, graph_id STRING, key INT64, PRIMARY KEY(uid))

CREATE NODE TABLE IF NOT EXISTS Class(uid STRING, graph_id STRING, key INT64, PRIMARY KEY(uid))

CREATE NODE TABLE IF NOT EXISTS Community(uid STRING, graph_id STRING, key INT64, PRIMARY KEY(uid))

CREATE REL TABLE IF NOT EXISTS WEIGHT(FROM Neuron TO Neuron, graph_id STRING)

CREATE REL TABLE IF NOT EXISTS COACTIVATES(FROM Neuron TO Neuron, graph_id STRING)

CREATE REL TABLE IF NOT EXISTS ARC(FROM Patch TO Patch, graph_id STRING)

CREATE REL TABLE IF NOT EXISTS KNN(FROM Sample TO Sample, graph_id STRING)

CREATE REL TABLE IF NOT EXISTS NEAR(FROM Class TO Class, graph_id STRING)

CREATE REL TABLE IF NOT EXISTS REPRESENTS(FROM Neuron TO Class, graph_id STRING)

CREATE REL TABLE IF NOT EXISTS PARENT(FROM Community TO Community, graph_id STRING)

CREATE REL TABLE IF NOT EXISTS IN_COMMUNITY(FROM Neuron TO Community, FROM Sample TO Community, FROM Patch TO Community, FROM Class TO Community, graph_id STRING)
