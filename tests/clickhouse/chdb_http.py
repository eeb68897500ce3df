"""x402scope test shim: the ClickHouse HTTP protocol over chDB, the current ClickHouse
engine in-process (PyPI chdb-core), so that the store's tests also run on a current
ClickHouse version without a server package.

    python3 tests/clickhouse/chdb_http.py DATA_DIR PORT

Tests only: one session, one query at a time, no compression (store URLs add
?compression=none), loopback only. It prints one line when ready."""
import os, re, sys, tempfile, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from chdb import session as chs

DATA = sys.argv[1]; PORT = int(sys.argv[2])
os.makedirs(DATA, exist_ok=True)
SESS = chs.Session(DATA)
LOCK = threading.Lock()
SKIP = {"query", "database", "default_format", "query_id", "session_id", "user", "password",
        "compress", "decompress", "enable_http_compression", "wait_end_of_query", "session_timeout"}
INSERT_RE = re.compile(r"^\s*INSERT\s+INTO\s+(.+?)\s*(\((.*?)\))?\s+FORMAT\s+(\w+)\s*$", re.I | re.S)

def q(sql, fmt="TabSeparated"):
    r = SESS.query(sql, fmt)
    return r.bytes() if hasattr(r, "bytes") else bytes(r)

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""): pass
                    return bytes(out)
                out += self.rfile.read(n); self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
    def reply(self, code, data, fmt=None):
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        if fmt: self.send_header("X-ClickHouse-Format", fmt)
        if code != 200: self.send_header("X-ClickHouse-Exception-Code", "1")
        self.end_headers(); self.wfile.write(data)
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path in ("/ping", "/"):
            if not urllib.parse.parse_qs(u.query).get("query"):
                return self.reply(200, b"Ok.\n")
        return self.handle_query(b"")
    def do_POST(self):
        return self.handle_query(self.body())
    def handle_query(self, body):
        u = urllib.parse.urlparse(self.path)
        p = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
            return self.reply(400, b"Code: 1. DB::Exception: shim: multipart (server-side params) not supported")
        if p.get("decompress") == "1" or p.get("compress") == "1":
            return self.reply(400, b"Code: 1. DB::Exception: shim: use Compression::None")
        if "query" in p: sql, data = p["query"], body
        else: sql, data = body.decode(), b""
        settings = {k: v for k, v in p.items() if k not in SKIP and not k.startswith("param_")}
        fmt = p.get("default_format", "TabSeparated")
        try:
            with LOCK:
                if p.get("database"): q(f"USE `{p['database']}`")
                m = INSERT_RE.match(sql) if data else None
                if m:
                    target, cols, ifmt = m.group(1), m.group(3), m.group(4)
                    with tempfile.NamedTemporaryFile(dir=DATA, suffix=".bin", delete=False) as f:
                        f.write(data); path = f.name
                    try:
                        if ifmt.lower() == "rowbinarywithnamesandtypes":
                            src = f"file('{path}', 'RowBinaryWithNamesAndTypes')"
                        else:
                            desc = q(f"DESCRIBE TABLE {target}", "TSV").decode().splitlines()
                            types = {l.split("\t")[0]: l.split("\t")[1] for l in desc}
                            names = [c.strip().strip("`") for c in cols.split(",")] if cols else list(types)
                            struct = ", ".join(f"`{n}` {types[n]}" for n in names)
                            src = f"file('{path}', '{ifmt}', '{struct}')"
                        collist = f"({cols})" if cols else ""
                        sset = (" SETTINGS " + ", ".join(f"{k}='{v}'" for k, v in settings.items())) if settings else ""
                        q(f"INSERT INTO {target} {collist} SELECT * FROM {src}{sset}")
                    finally:
                        os.unlink(path)
                    return self.reply(200, b"")
                if settings and re.match(r"^\s*(SELECT|WITH|DESC|DESCRIBE|SHOW)\b", sql, re.I) and " SETTINGS " not in sql.upper():
                    sql = sql.rstrip().rstrip(";") + " SETTINGS " + ", ".join(f"{k}='{v}'" for k, v in settings.items())
                out = q(sql, fmt)
            return self.reply(200, out, fmt)
        except Exception as e:
            msg = str(e)
            if not msg.startswith("Code:"): msg = "Code: 1. DB::Exception: " + msg
            return self.reply(500, msg.encode())

srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
print(f"chdb-http shim on 127.0.0.1:{PORT}", flush=True)
srv.serve_forever()
