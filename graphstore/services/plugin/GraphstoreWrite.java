package graphstore.procedures;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.neo4j.exceptions.KernelException;
import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Transaction;
import org.neo4j.internal.kernel.api.CursorFactory;
import org.neo4j.internal.kernel.api.NodeCursor;
import org.neo4j.internal.kernel.api.PropertyCursor;
import org.neo4j.internal.kernel.api.Read;
import org.neo4j.internal.kernel.api.TokenRead;
import org.neo4j.internal.kernel.api.TokenWrite;
import org.neo4j.internal.kernel.api.Write;
import org.neo4j.kernel.api.KernelTransaction;
import org.neo4j.kernel.impl.coreapi.InternalTransaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;
import org.neo4j.storageengine.api.PropertySelection;
import org.neo4j.values.storable.Value;
import org.neo4j.values.storable.Values;

/**
 * Columnar bulk writes for graphstore: rows arrive as little-endian byte columns (one Bolt byte array per column,
 * no per-value packing) and go straight to the kernel's Write API inside the caller's transaction, so a batch
 * still commits or rolls back with its progress record. Strings and other values arrive as lists.
 *
 * A column is either a list (one value per row) or a byte array whose first byte names its type:
 * 'd' float64, 'f' float32, 'l' int64, 'i' int32, 'b' bool (one byte per row); the rest is the data.
 *
 * Every call is checked whole before anything is written, and refused (an IllegalArgumentException whose message
 * starts with "graphstore refused:") unless it writes into one graph whose :Graph record is being written
 * (status 'writing'): nodes carry :GraphNode and that graph_id, relationships join two :GraphNode nodes of that
 * graph; names are identifiers, counts and column lengths match, type codes are known.
 */
public class GraphstoreWrite {

    static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    static final List<String> RESERVED_LABELS = List.of("Graph", "GraphLane");
    static final String GRAPH_NODE = "GraphNode";
    static final String REFUSED = "graphstore refused: ";

    @Context
    public Transaction tx;

    /** One count per call. */
    public static class Count {
        public long count;

        public Count(long count) {
            this.count = count;
        }
    }

    /** Column values as kernel Values, read lazily per row. */
    interface Column {
        Value at(int row);
    }

    @Procedure(name = "graphstore.create_nodes", mode = Mode.WRITE)
    @Description("graphstore.create_nodes(labels, count, constants, columns): create count :GraphNode nodes of the "
            + "graph constants.graph_id (being written) with the labels, the constant properties and one value per "
            + "node from each column (byte or list columns; a uid column of '<graph_id>:...' strings).")
    public Stream<Count> createNodes(
            @Name("labels") List<String> labels,
            @Name("count") long count,
            @Name("constants") Map<String, Object> constants,
            @Name("columns") Map<String, Object> columns) throws KernelException {
        int rows = rowCount(count);
        String graphId = nodeGraph(labels, constants, columns);
        requireWriting(graphId);
        Column[] cols = columns(columns, rows, "graph_id");
        checkUids(columns.get("uid"), graphId);
        KernelTransaction ktx = ((InternalTransaction) tx).kernelTransaction();
        TokenWrite tokens = ktx.tokenWrite();
        int[] labelIds = new int[labels.size()];
        for (int i = 0; i < labelIds.length; i++) {
            labelIds[i] = tokens.labelGetOrCreateForName(labels.get(i));
        }
        int[] constKeys = new int[constants.size()];
        Value[] constValues = new Value[constants.size()];
        int k = 0;
        for (Map.Entry<String, Object> e : constants.entrySet()) {
            constKeys[k] = tokens.propertyKeyGetOrCreateForName(e.getKey());
            constValues[k++] = value(e.getKey(), e.getValue());
        }
        int[] keys = propertyKeys(tokens, columns);
        Write write = ktx.dataWrite();
        for (int r = 0; r < rows; r++) {
            long node = write.nodeCreateWithLabels(labelIds);
            for (int c = 0; c < constKeys.length; c++) {
                write.nodeSetProperty(node, constKeys[c], constValues[c]);
            }
            setColumns(write, node, true, keys, cols, r);
        }
        return Stream.of(new Count(rows));
    }

    @Procedure(name = "graphstore.create_relationships", mode = Mode.WRITE)
    @Description("graphstore.create_relationships(type, src, dst, columns): create one relationship of the type "
            + "per row from node id src[i] to node id dst[i] (int64 byte columns) with the columns' properties; "
            + "every endpoint a :GraphNode of one graph that is being written.")
    public Stream<Count> createRelationships(
            @Name("type") String type,
            @Name("src") byte[] src,
            @Name("dst") byte[] dst,
            @Name("columns") Map<String, Object> columns) throws KernelException {
        identifier("relationship type", type);
        if (src == null || dst == null || src.length != dst.length || src.length % 8 != 0) {
            throw refused("src and dst must be int64 byte columns of the same length");
        }
        int rows = src.length / 8;
        Column[] cols = columns(columns, rows, "graph_id");
        long[] ends = endpoints(src, dst, rows);
        KernelTransaction ktx = ((InternalTransaction) tx).kernelTransaction();
        if (rows > 0) {
            requireWriting(checkEndpoints(ktx, ends));
        }
        TokenWrite tokens = ktx.tokenWrite();
        int typeId = tokens.relationshipTypeGetOrCreateForName(type);
        int[] keys = propertyKeys(tokens, columns);
        ByteBuffer a = ByteBuffer.wrap(src).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer b = ByteBuffer.wrap(dst).order(ByteOrder.LITTLE_ENDIAN);
        Write write = ktx.dataWrite();
        for (int r = 0; r < rows; r++) {
            long rel = write.relationshipCreate(a.getLong(r * 8), typeId, b.getLong(r * 8));
            setColumns(write, rel, false, keys, cols, r);
        }
        return Stream.of(new Count(rows));
    }

    // ---- checks: every one runs before the first write of a call ----------------------------------------------

    static IllegalArgumentException refused(String why) {
        return new IllegalArgumentException(REFUSED + why);
    }

    static void identifier(String what, String name) {
        if (name == null || !IDENTIFIER.matcher(name).matches()) {
            throw refused(what + " " + (name == null ? "null" : "'" + name + "'")
                    + " is not an identifier (letters, digits, underscore)");
        }
    }

    static int rowCount(long count) {
        if (count < 0 || count > Integer.MAX_VALUE) {
            throw refused("count must be between 0 and " + Integer.MAX_VALUE + ", not " + count);
        }
        return (int) count;
    }

    /** The graph id nodes are written into (constants.graph_id), after checking labels and property names. */
    static String nodeGraph(List<String> labels, Map<String, Object> constants, Map<String, Object> columns) {
        if (labels == null || constants == null || columns == null) {
            throw refused("labels, constants and columns must be given");
        }
        for (String label : labels) {
            identifier("label", label);
            if (RESERVED_LABELS.contains(label)) {
                throw refused("label " + label + " is graphstore's own record label");
            }
        }
        if (!labels.contains(GRAPH_NODE)) {
            throw refused("nodes must carry the label " + GRAPH_NODE);
        }
        for (String key : constants.keySet()) {
            identifier("property", key);
            if (key.equals("uid") || key.equals("key")) {
                throw refused("property " + key + " must be a column (one value per node), not a constant");
            }
        }
        if (!(constants.get("graph_id") instanceof String graphId)) {
            throw refused("constants must give the graph_id (a string) of the graph being written");
        }
        if (!columns.containsKey("uid")) {
            throw refused("columns must give each node's uid");
        }
        return graphId;
    }

    /** Refuse unless the graph's :Graph record exists and is being written (not complete, not being dropped). */
    void requireWriting(String graphId) {
        Node record = tx.findNode(Label.label("Graph"), "graph_id", graphId);
        Object status = record == null ? null : record.getProperty("status", null);
        if (!"writing".equals(status)) {
            throw refused("graph '" + graphId + "' is not being written ("
                    + (record == null ? "no :Graph record" : "status " + status) + ")");
        }
    }

    static void checkUids(Object uids, String graphId) {
        if (!(uids instanceof List<?> list)) {
            throw refused("column uid must be a list of strings");
        }
        String prefix = graphId + ":";
        for (Object uid : list) {
            if (!(uid instanceof String s) || !s.startsWith(prefix)) {
                throw refused("uid " + uid + " is not a uid of graph '" + graphId + "' ('" + prefix + "...')");
            }
        }
    }

    /** Every endpoint id of the rows, sorted and unique (so each node is checked once, in store order). */
    static long[] endpoints(byte[] src, byte[] dst, int rows) {
        ByteBuffer a = ByteBuffer.wrap(src).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer b = ByteBuffer.wrap(dst).order(ByteOrder.LITTLE_ENDIAN);
        long[] ids = new long[2 * rows];
        for (int r = 0; r < rows; r++) {
            ids[2 * r] = a.getLong(r * 8);
            ids[2 * r + 1] = b.getLong(r * 8);
        }
        Arrays.sort(ids);
        int unique = 0;
        for (int i = 0; i < ids.length; i++) {
            if (i == 0 || ids[i] != ids[i - 1]) {
                ids[unique++] = ids[i];
            }
        }
        return Arrays.copyOf(ids, unique);
    }

    /** The one graph every endpoint belongs to: each must be an existing :GraphNode with the same graph_id. */
    static String checkEndpoints(KernelTransaction ktx, long[] ids) {
        TokenRead tokenRead = ktx.tokenRead();
        int label = tokenRead.nodeLabel(GRAPH_NODE);
        int key = tokenRead.propertyKey("graph_id");
        Read read = ktx.dataRead();
        CursorFactory cursors = ktx.cursors();
        String graphId = null;
        try (NodeCursor node = cursors.allocateNodeCursor(ktx.cursorContext(), ktx.memoryTracker());
                PropertyCursor prop = cursors.allocatePropertyCursor(ktx.cursorContext(), ktx.memoryTracker())) {
            for (long id : ids) {
                if (id >= 0) {
                    read.singleNode(id, node);
                }
                if (id < 0 || label < 0 || !node.next() || !node.hasLabel(label)) {
                    throw refused("endpoint " + id + " is not a :" + GRAPH_NODE + " node");
                }
                node.properties(prop, PropertySelection.selection(key));
                Object graph = key >= 0 && prop.next() ? prop.propertyValue().asObject() : null;
                if (!(graph instanceof String g) || (graphId != null && !graphId.equals(g))) {
                    throw refused("endpoint " + id + " is a node of graph '" + graph + "', not of '"
                            + (graphId == null ? "?" : graphId) + "': a relationship joins nodes of one graph");
                }
                graphId = g;
            }
        }
        return graphId;
    }

    /** Each column's values, checked against rows; property names are identifiers and never `reserved`. */
    static Column[] columns(Map<String, Object> columns, int rows, String reserved) {
        if (columns == null) {
            throw refused("columns must be given");
        }
        Column[] cols = new Column[columns.size()];
        int c = 0;
        for (Map.Entry<String, Object> e : columns.entrySet()) {
            identifier("property", e.getKey());
            if (e.getKey().equals(reserved)) {
                throw refused("property " + reserved + " cannot be a column");
            }
            cols[c++] = column(e.getKey(), e.getValue(), rows);
        }
        return cols;
    }

    static int[] propertyKeys(TokenWrite tokens, Map<String, Object> columns) throws KernelException {
        int[] keys = new int[columns.size()];
        int c = 0;
        for (String name : columns.keySet()) {
            keys[c++] = tokens.propertyKeyGetOrCreateForName(name);
        }
        return keys;
    }

    static void setColumns(Write write, long entity, boolean node, int[] keys, Column[] cols, int row)
            throws KernelException {
        for (int k = 0; k < keys.length; k++) {
            Value v = cols[k].at(row);
            if (v == Values.NO_VALUE) {
                continue;
            }
            if (node) {
                write.nodeSetProperty(entity, keys[k], v);
            } else {
                write.relationshipSetProperty(entity, keys[k], v);
            }
        }
    }

    /** A property value Neo4j can store (a number, string, boolean or a list of one of them), else refused. */
    static Value value(String name, Object data) {
        try {
            return Values.of(data);
        } catch (IllegalArgumentException | ClassCastException e) {
            throw refused("property " + name + " has a value Neo4j cannot store: " + e.getMessage());
        }
    }

    /** A column of `rows` values from a typed byte array or a list; a wrong length is an error naming the column. */
    static Column column(String name, Object data, int rows) {
        if (data instanceof List<?> list) {
            check(name, list.size(), 1, rows);
            Value[] values = new Value[rows];
            for (int r = 0; r < rows; r++) {
                values[r] = list.get(r) == null ? Values.NO_VALUE : value(name, list.get(r));
            }
            return r -> values[r];
        }
        if (!(data instanceof byte[] bytes) || bytes.length == 0) {
            throw refused("column " + name + " must be a list or a typed byte array");
        }
        ByteBuffer buf = ByteBuffer.wrap(bytes, 1, bytes.length - 1).slice().order(ByteOrder.LITTLE_ENDIAN);
        switch (bytes[0]) {
            case 'd':
                check(name, buf.remaining(), 8, rows);
                return r -> Values.doubleValue(buf.getDouble(r * 8));
            case 'f':
                check(name, buf.remaining(), 4, rows);
                return r -> Values.floatValue(buf.getFloat(r * 4));
            case 'l':
                check(name, buf.remaining(), 8, rows);
                return r -> Values.longValue(buf.getLong(r * 8));
            case 'i':
                check(name, buf.remaining(), 4, rows);
                return r -> Values.intValue(buf.getInt(r * 4));
            case 'b':
                check(name, buf.remaining(), 1, rows);
                return r -> Values.booleanValue(buf.get(r) != 0);
            default:
                throw refused("column " + name + " has unknown type code " + (bytes[0] & 0xff));
        }
    }

    /** size bytes (or list items) of width each must hold exactly rows values. */
    static void check(String name, int size, int width, int rows) {
        if (size % width != 0 || size / width != rows) {
            throw refused("column " + name + " has " + size + (width == 1 ? " values" : " bytes of " + width)
                    + " for " + rows + " rows");
        }
    }
}
