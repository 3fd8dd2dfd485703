"""Writing a Graph to files without a store: Parquet tables with a manifest, GraphML, GEXF.

- `X.parquet` (a directory) or `X.zip`: one Parquet file per node label (`nodes/<Label>.parquet`: key + props)
  and per relationship type (`edges/<TYPE>.parquet`: src, dst + props), and `manifest.json` (graph id, kind,
  params, run, checkpoint, tables with row counts, labels of edge endpoints, directedness).
- `X.graphml` / `X.gexf`: XML for Gephi, Cytoscape, networkx, igraph. Node ids are `n<key>`; every node carries
  its label and properties, every edge its type and properties. The XML is built column-wise with Arrow string
  kernels (no Python loop over nodes or edges).
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphstore.errors import GraphstoreError
from graphstore.graph import EdgeTable, Graph, NodeTable

FORMATS = (".parquet", ".zip", ".graphml", ".gexf")


def _arrow(values: np.ndarray) -> pa.Array:
    """A property column as Arrow (object columns as nullable strings)."""
    if values.dtype == object:
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.array(values)


def node_frame(table: NodeTable) -> pa.Table:
    """Node table as Arrow: key + properties."""
    return pa.table({"key": pa.array(table.keys, pa.int64()), **{k: _arrow(v) for k, v in table.props.items()}})


def edge_frame(table: EdgeTable) -> pa.Table:
    """Edge table as Arrow: src, dst + properties."""
    return pa.table(
        {
            "src": pa.array(table.src, pa.int64()),
            "dst": pa.array(table.dst, pa.int64()),
            **{k: _arrow(v) for k, v in table.props.items()},
        }
    )


def manifest(graph: Graph) -> dict[str, Any]:
    """What the Parquet bundle holds."""
    return {
        "format": "graphstore-graph",
        "version": 1,
        "graph_id": graph.graph_id,
        "kind": graph.kind,
        "params": json.loads(graph.params_json()),
        "run_id": graph.run_id,
        "checkpoint": graph.checkpoint,
        "nodes": {lb: {"file": f"nodes/{lb}.parquet", "rows": len(t)} for lb, t in graph.nodes.items()},
        "edges": {
            ty: {
                "file": f"edges/{ty}.parquet",
                "rows": len(t),
                "src_label": t.src_label,
                "dst_label": t.dst_label,
                "directed": t.directed,
            }
            for ty, t in graph.edges.items()
        },
    }


def _parquet_files(graph: Graph) -> dict[str, bytes]:
    """Every file of the bundle as bytes, by relative path."""
    out = {"manifest.json": json.dumps(manifest(graph), indent=2, default=str).encode()}
    tables = [(f"nodes/{lb}.parquet", node_frame(t)) for lb, t in graph.nodes.items()]
    tables += [(f"edges/{ty}.parquet", edge_frame(t)) for ty, t in graph.edges.items()]
    for name, table in tables:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        out[name] = sink.getvalue()
    return out


def write_parquet(graph: Graph, path: Path) -> Path:
    """A directory (X.parquet) or zip (X.zip) of node/edge Parquet tables with a manifest."""
    files = _parquet_files(graph)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
        return path
    for name, data in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return path


class GraphFileError(GraphstoreError):
    """A graph bundle is missing, truncated, or does not hold what its manifest says."""


REWRITE = (
    "Copy the file again or write it anew with `graphstore extract CHECKPOINT --graph KIND --out FILE.zip` "
    "(a .zip or .parquet bundle with its manifest.json)."
)
Reader = Callable[[str], bytes]
BUNDLE_ERRORS = (KeyError, TypeError, ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile, pa.ArrowException)


def read_parquet(path: str | Path) -> Graph:
    """Read a bundle written by write_parquet back into a Graph; a bad bundle raises GraphFileError naming it."""
    path = Path(path)
    try:
        with _bundle(path) as read:
            return _graph_from(path, read)
    except GraphstoreError:
        raise
    except BUNDLE_ERRORS as exc:  # anything else a damaged file makes zipfile, json or Arrow raise
        raise GraphFileError(f"{path} is not a valid graph bundle ({type(exc).__name__}: {exc}).", REWRITE) from exc


@contextmanager
def _bundle(path: Path) -> Iterator[Reader]:
    """A reader of the bundle's files by relative name: a zip's members, or files inside an X.parquet folder."""
    if not path.exists():
        raise GraphFileError(f"No graph file at {path}.", "Check the path; pass a .zip or .parquet bundle.")
    if path.suffix not in (".zip", ".parquet"):
        raise GraphFileError(f"{path} is not a graph bundle: only .zip files and .parquet folders are read.", REWRITE)
    if path.suffix == ".parquet" and path.is_dir():
        yield lambda name: _folder_member(path, name)
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GraphFileError(f"{path} is not a readable zip file; it may be truncated ({exc}).", REWRITE) from exc
    with archive:
        yield lambda name: _zip_member(path, archive, name)


def _zip_member(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    """One member of a zip bundle (its CRC-32 is checked as it is read)."""
    try:
        return archive.read(name)
    except KeyError:
        raise GraphFileError(f"{path} has no {name}.", REWRITE) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise GraphFileError(f"{path}: {name} is damaged ({exc}).", REWRITE) from exc


def _folder_member(path: Path, name: str) -> bytes:
    """One file inside an X.parquet folder; names that leave the folder or symlinks are refused."""
    target = path / name
    if Path(name).is_absolute() or ".." in Path(name).parts or target.is_symlink():
        raise GraphFileError(f"{path}: manifest entry {name!r} points outside the bundle.", REWRITE)
    if not target.is_file():
        raise GraphFileError(f"{path} has no {name}.", REWRITE)
    return target.read_bytes()


def _manifest(path: Path, read: Reader) -> dict[str, Any]:
    """manifest.json, checked for the fields read_parquet needs."""
    try:
        meta = json.loads(read("manifest.json"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GraphFileError(f"{path}: manifest.json is not valid JSON ({exc}).", REWRITE) from exc
    problem = _manifest_problem(meta)
    if problem:
        raise GraphFileError(f"{path}: manifest.json {problem}.", REWRITE)
    return meta


def _manifest_problem(meta: Any) -> str | None:
    """What makes a manifest unusable, or None."""
    if not isinstance(meta, dict) or meta.get("format") != "graphstore-graph":
        return "is not a graphstore graph manifest (format 'graphstore-graph')"
    if not isinstance(meta.get("version"), int) or meta["version"] > 1:
        return f"has version {meta.get('version')!r}; this graphstore reads version 1"
    for key, kind in (("graph_id", str), ("kind", str), ("params", dict), ("nodes", dict), ("edges", dict)):
        if not isinstance(meta.get(key), kind) or (kind is str and not meta[key]):
            return f"lacks a valid {key!r}"
    if meta.get("run_id") is not None and not isinstance(meta["run_id"], int):
        return f"has a run_id that is not an integer ({meta['run_id']!r})"
    need = {"nodes": ("file", "rows"), "edges": ("file", "rows", "src_label", "dst_label", "directed")}
    for side, keys in need.items():
        for name, info in meta[side].items():
            if not isinstance(info, dict) or any(k not in info for k in keys):
                return f"entry {side}.{name} lacks one of {', '.join(keys)}"
    return None


def _table(path: Path, read: Reader, info: dict[str, Any], columns: tuple[str, ...]) -> pa.Table:
    """One listed table, checked for its key columns and the row count the manifest records."""
    name = str(info["file"])
    try:
        table = _read_table(read(name))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise GraphFileError(f"{path}: {name} is not a readable Parquet table ({exc}).", REWRITE) from exc
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise GraphFileError(f"{path}: {name} lacks the column(s) {', '.join(missing)}.", REWRITE)
    if table.num_rows != info["rows"]:
        raise GraphFileError(
            f"{path}: {name} holds {table.num_rows} rows; the manifest records {info['rows']}.", REWRITE
        )
    return table


def _graph_from(path: Path, read: Reader) -> Graph:
    """The Graph a bundle holds, validated like any graph before it is stored."""
    meta = _manifest(path, read)
    graph = Graph(
        meta["graph_id"],
        meta["kind"],
        params=meta["params"],
        run_id=meta.get("run_id"),
        checkpoint=meta.get("checkpoint"),
    )
    for label, info in meta["nodes"].items():
        t = _table(path, read, info, ("key",))
        graph.add_nodes(label, t["key"].to_numpy(), **{c: _np(t[c]) for c in t.column_names if c != "key"})
    for rel, info in meta["edges"].items():
        t = _table(path, read, info, ("src", "dst"))
        graph.add_edges(
            rel,
            info["src_label"],
            info["dst_label"],
            t["src"].to_numpy(),
            t["dst"].to_numpy(),
            directed=info["directed"],
            **{c: _np(t[c]) for c in t.column_names if c not in ("src", "dst")},
        )
    try:
        graph.validate()
    except ValueError as exc:
        raise GraphFileError(f"{path}: {exc}", REWRITE) from exc
    return graph


def _read_table(data: bytes) -> pa.Table:
    """One Parquet table from bytes, decoded on the calling thread: threads gain nothing on these few columns, and
    Arrow's pool can abort the interpreter at exit (SIGABRT, apache/arrow#34314) after a command has succeeded."""
    return pq.read_table(io.BytesIO(data), use_threads=False)


def _np(column: pa.ChunkedArray) -> np.ndarray:
    """Arrow column to numpy (strings and nullable columns as object arrays)."""
    if pa.types.is_string(column.type) or column.null_count:
        return np.asarray(column.to_pylist(), dtype=object)
    return column.to_numpy()


# ---- XML ------------------------------------------------------------------------------------------------


def _xml_text(values: np.ndarray) -> pa.Array:
    """Escaped XML text of a column (nulls stay null)."""
    if values.dtype.kind == "b":
        arr = pc.if_else(pa.array(values), "true", "false")
    elif values.dtype.kind == "f":
        arr = pc.cast(pa.array(values), pa.string())
    else:
        arr = pc.cast(_arrow(values), pa.string())
    for raw, esc in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        arr = pc.replace_substring(arr, raw, esc)
    return arr


def _xml_type(values: np.ndarray, flavour: str) -> str:
    """GraphML / GEXF attribute type of a column."""
    kind = values.dtype.kind
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "long"
    if kind == "f":
        return "double"
    return "string"


def _join(*parts: Any) -> pa.Array:
    """Element-wise concatenation of string arrays and literals; a null part makes the result empty."""
    arrays = [p if isinstance(p, pa.Array | pa.ChunkedArray) else pa.scalar(str(p)) for p in parts]
    joined = pc.binary_join_element_wise(*arrays, pa.scalar(""), null_handling="emit_null")
    return pc.fill_null(joined, "")


def _attributes(graph: Graph, which: str) -> dict[str, str]:
    """Property name -> XML type over every table of one side (nodes or edges)."""
    tables = graph.nodes.values() if which == "node" else graph.edges.values()
    out: dict[str, str] = {}
    for t in tables:
        for name, values in t.props.items():
            out.setdefault(name, _xml_type(values, "graphml"))
    return out


def _lines(arrays: list[pa.Array]) -> str:
    """Concatenate per-row XML fragments into one string."""
    return "".join("\n".join(a.to_pylist()) + "\n" for a in arrays if len(a))


def _keys(keys: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(keys, pa.int64()), pa.string())


def graphml(graph: Graph) -> str:
    """The graph as a GraphML document."""
    nattr, eattr = _attributes(graph, "node"), _attributes(graph, "edge")
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
        '<key id="label" for="node" attr.name="label" attr.type="string"/>',
        '<key id="type" for="edge" attr.name="type" attr.type="string"/>',
    ]
    head += [f'<key id="n_{n}" for="node" attr.name="{n}" attr.type="{t}"/>' for n, t in nattr.items()]
    head += [f'<key id="e_{n}" for="edge" attr.name="{n}" attr.type="{t}"/>' for n, t in eattr.items()]
    directed = all(t.directed for t in graph.edges.values())
    head.append(f'<graph id="{graph.graph_id}" edgedefault="{"directed" if directed else "undirected"}">')
    nodes = [
        _join(
            '<node id="n',
            _keys(t.keys),
            f'"><data key="label">{t.label}</data>',
            *[_join(f'<data key="n_{n}">', _xml_text(v), "</data>") for n, v in t.props.items()],
            "</node>",
        )
        for t in graph.nodes.values()
    ]
    edges = [
        _join(
            '<edge source="n',
            _keys(t.src),
            '" target="n',
            _keys(t.dst),
            f'"><data key="type">{t.type}</data>',
            *[_join(f'<data key="e_{n}">', _xml_text(v), "</data>") for n, v in t.props.items()],
            "</edge>",
        )
        for t in graph.edges.values()
    ]
    return "\n".join(head) + "\n" + _lines(nodes) + _lines(edges) + "</graph>\n</graphml>\n"


def gexf(graph: Graph) -> str:
    """The graph as a GEXF 1.3 document."""
    nattr, eattr = _attributes(graph, "node"), _attributes(graph, "edge")
    nid = {n: i for i, n in enumerate(nattr)}
    eid = {n: i for i, n in enumerate(eattr)}
    directed = all(t.directed for t in graph.edges.values())
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gexf xmlns="http://gexf.net/1.3" version="1.3">',
        f'<graph defaultedgetype="{"directed" if directed else "undirected"}" mode="static">',
        '<attributes class="node"><attribute id="label_" title="node_label" type="string"/>',
    ]
    head += [f'<attribute id="{nid[n]}" title="{n}" type="{t}"/>' for n, t in nattr.items()]
    head += ["</attributes>", '<attributes class="edge"><attribute id="type_" title="type" type="string"/>']
    head += [f'<attribute id="{eid[n]}" title="{n}" type="{t}"/>' for n, t in eattr.items()]
    head += ["</attributes>", "<nodes>"]
    nodes = [
        _join(
            '<node id="n',
            _keys(t.keys),
            '" label="',
            t.label,
            ":",
            _keys(t.keys),
            '"><attvalues>',
            f'<attvalue for="label_" value="{t.label}"/>',
            *[_join(f'<attvalue for="{nid[n]}" value="', _xml_text(v), '"/>') for n, v in t.props.items()],
            "</attvalues></node>",
        )
        for t in graph.nodes.values()
    ]
    edges = [
        _join(
            '<edge id="',
            t.type,
            "-",
            _keys(np.arange(len(t))),
            '" source="n',
            _keys(t.src),
            '" target="n',
            _keys(t.dst),
            '" type="',
            "directed" if t.directed else "undirected",
            '"><attvalues>',
            f'<attvalue for="type_" value="{t.type}"/>',
            *[_join(f'<attvalue for="{eid[n]}" value="', _xml_text(v), '"/>') for n, v in t.props.items()],
            "</attvalues></edge>",
        )
        for t in graph.edges.values()
    ]
    return (
        "\n".join(head) + "\n" + _lines(nodes) + "</nodes>\n<edges>\n" + _lines(edges) + "</edges>\n</graph>\n</gexf>\n"
    )


def write_graph_file(graph: Graph, path: str | Path) -> Path:
    """Write a Graph to a file chosen by suffix: .parquet (directory), .zip, .graphml, .gexf."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise GraphstoreError(
            f"Cannot write {path.name}: unknown format {path.suffix or '(no suffix)'}.",
            f"End --out with one of {', '.join(FORMATS)}.",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".parquet", ".zip"):
        return write_parquet(graph, path)
    text = graphml(graph) if path.suffix == ".graphml" else gexf(graph)
    path.write_text(text, encoding="utf-8")
    return path
