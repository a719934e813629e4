"""A counting HTTP proxy for tests/s3/run.sh: forwards every request to the S3 server on
127.0.0.1:UPSTREAM unchanged (the Host header too, so SigV4 signatures still verify) and
appends one line per request to LOG: method, path with query, Range header (or -), status.
Prints the port it listens on, then serves until killed.

    count_proxy.py UPSTREAM_PORT LOG
"""
import http.client
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = int(sys.argv[1])
LOG = open(sys.argv[2], "a", buffering=1)
LOCK = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        upstream.request(self.command, self.path, body=body, headers=headers)
        reply = upstream.getresponse()
        data = reply.read()
        with LOCK:
            LOG.write(
                f"{self.command} {self.path} {self.headers.get('Range', '-')} {reply.status}\n"
            )
        self.send_response_only(reply.status, reply.reason)
        for k, v in reply.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
print(server.server_address[1], flush=True)
server.serve_forever()
