package graphstore.procedures;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.neo4j.exceptions.KernelException;
import org.neo4j.graphdb.Transaction;
import org.neo4j.internal.kernel.api.TokenWrite;
import org.neo4j.internal.kernel.api.Write;
import org.neo4j.kernel.api.KernelTransaction;
import org.neo4j.kernel.impl.coreapi.InternalTransaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;
import org.neo4j.values.storable.Value;
import org.neo4j.values.storable.Values;

/**
 * Columnar bulk writes for graphstore: rows arrive as little-endian byte columns (one Bolt byte array per column,
 * no per-value packing) and go straight to the kernel's Write API inside the caller's transaction, so a batch
 * still commits or rolls back with its progress record. Strings and other values arrive as lists.
 *
 * A column is either a list (one value per row) or a byte array whose first byte names its type:
 * 'd' float64, 'f' float32, 'l' int64, 'i' int32, 'b' bool (one byte per row); the rest is the data.
 */
public class GraphstoreWrite {

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
    @Description("graphstore.create_nodes(labels, count, constants, columns): create count nodes with the labels, "
            + "the constant properties and one value per node from each column (byte or list columns).")
    public Stream<Count> createNodes(
            @Name("labels") List<String> labels,
            @Name("count") long count,
            @Name("constants") Map<String, Object> constants,
            @Name("columns") Map<String, Object> columns) throws KernelException {
        KernelTransaction ktx = ((InternalTransaction) tx).kernelTransaction();
        TokenWrite tokens = ktx.tokenWrite();
        int[] labelIds = new int[labels.size()];
        for (int i = 0; i < labelIds.length; i++) {
            labelIds[i] = tokens.labelGetOrCreateForName(labels.get(i));
        }
        int rows = Math.toIntExact(count);
        List<Integer> constKeys = new ArrayList<>();
        List<Value> constValues = new ArrayList<>();
        for (Map.Entry<String, Object> e : constants.entrySet()) {
            constKeys.add(tokens.propertyKeyGetOrCreateForName(e.getKey()));
            constValues.add(Values.of(e.getValue()));
        }
        int[] keys = new int[columns.size()];
        Column[] cols = new Column[columns.size()];
        int c = 0;
        for (Map.Entry<String, Object> e : columns.entrySet()) {
            keys[c] = tokens.propertyKeyGetOrCreateForName(e.getKey());
            cols[c++] = column(e.getKey(), e.getValue(), rows);
        }
        Write write = ktx.dataWrite();
        for (int r = 0; r < rows; r++) {
            long node = write.nodeCreateWithLabels(labelIds);
            for (int k = 0; k < constKeys.size(); k++) {
                write.nodeSetProperty(node, constKeys.get(k), constValues.get(k));
            }
            for (int k = 0; k < keys.length; k++) {
                Value v = cols[k].at(r);
                if (v != Values.NO_VALUE) {
                    write.nodeSetProperty(node, keys[k], v);
                }
            }
        }
        return Stream.of(new Count(rows));
    }

    @Procedure(name = "graphstore.create_relationships", mode = Mode.WRITE)
    @Description("graphstore.create_relationships(type, src, dst, columns): create one relationship of the type "
            + "per row from node id src[i] to node id dst[i] (int64 byte columns) with the columns' properties.")
    public Stream<Count> createRelationships(
            @Name("type") String type,
            @Name("src") byte[] src,
            @Name("dst") byte[] dst,
            @Name("columns") Map<String, Object> columns) throws KernelException {
        KernelTransaction ktx = ((InternalTransaction) tx).kernelTransaction();
        TokenWrite tokens = ktx.tokenWrite();
        int typeId = tokens.relationshipTypeGetOrCreateForName(type);
        if (src.length != dst.length || src.length % 8 != 0) {
            throw new IllegalArgumentException("src and dst must be int64 columns of the same length");
        }
        int rows = src.length / 8;
        int[] keys = new int[columns.size()];
        Column[] cols = new Column[columns.size()];
        int c = 0;
        for (Map.Entry<String, Object> e : columns.entrySet()) {
            keys[c] = tokens.propertyKeyGetOrCreateForName(e.getKey());
            cols[c++] = column(e.getKey(), e.getValue(), rows);
        }
        ByteBuffer a = ByteBuffer.wrap(src).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer b = ByteBuffer.wrap(dst).order(ByteOrder.LITTLE_ENDIAN);
        Write write = ktx.dataWrite();
        for (int r = 0; r < rows; r++) {
            long rel = write.relationshipCreate(a.getLong(r * 8), typeId, b.getLong(r * 8));
            for (int k = 0; k < keys.length; k++) {
                Value v = cols[k].at(r);
                if (v != Values.NO_VALUE) {
                    write.relationshipSetProperty(rel, keys[k], v);
                }
            }
        }
        return Stream.of(new Count(rows));
    }

    /** A column of `rows` values from a typed byte array or a list; a wrong length is an error naming the column. */
    static Column column(String name, Object data, int rows) {
        if (data instanceof List<?> list) {
            check(name, list.size(), rows);
            return r -> list.get(r) == null ? Values.NO_VALUE : Values.of(list.get(r));
        }
        if (!(data instanceof byte[] bytes) || bytes.length == 0) {
            throw new IllegalArgumentException("column " + name + " must be a list or a typed byte array");
        }
        ByteBuffer buf = ByteBuffer.wrap(bytes, 1, bytes.length - 1).slice().order(ByteOrder.LITTLE_ENDIAN);
        switch (bytes[0]) {
            case 'd':
                check(name, buf.remaining() / 8, rows);
                return r -> Values.doubleValue(buf.getDouble(r * 8));
            case 'f':
                check(name, buf.remaining() / 4, rows);
                return r -> Values.floatValue(buf.getFloat(r * 4));
            case 'l':
                check(name, buf.remaining() / 8, rows);
                return r -> Values.longValue(buf.getLong(r * 8));
            case 'i':
                check(name, buf.remaining() / 4, rows);
                return r -> Values.intValue(buf.getInt(r * 4));
            case 'b':
                check(name, buf.remaining(), rows);
                return r -> Values.booleanValue(buf.get(r) != 0);
            default:
                throw new IllegalArgumentException("column " + name + " has unknown type code " + (char) bytes[0]);
        }
    }

    static void check(String name, int size, int rows) {
        if (size != rows) {
            throw new IllegalArgumentException("column " + name + " has " + size + " values for " + rows + " rows");
        }
    }
}
