#!/usr/bin/python3
"""Serve pmdapipe's dashboard and pmproxy's REST API from one origin.

    web/serve.py [--listen 127.0.0.1] [--port 8000] [--pmproxy http://127.0.0.1:44322]

GET of /, /index.html, /app.js and /style.css returns those files of this
directory; GET and POST of /pmapi/... are passed to pmproxy and its answer
back. Nothing else is served.

Why a server of its own: pmproxy 6.0.3 serves no files, and a page from any
other origin cannot send pmproxy the Authorization header that carries the
user's login (pmproxy's CORS answers do not allow that header), so the page
and /pmapi/ must share one origin. See README.md here.

It speaks plain HTTP: the login travels in clear between the browser and
this server. Keep it on loopback (the default) or put TLS in front of it.
Needs only Debian's python3.
"""

import argparse
import http.client
import http.server
import os
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
# Headers passed to pmproxy; everything else the browser sends stays here.
REQUEST_HEADERS = ("Authorization", "Content-Type", "Accept")
# A store's value travels in the body; pmcd refuses PDUs over 64 KiB anyway.
MAX_BODY = 1 << 20
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pmdapipe-dashboard"
    sys_version = ""
    pmproxy = None  # (host, port), set in main()

    def do_GET(self):
        if self.path.startswith("/pmapi/"):
            self.forward()
        else:
            self.serve_file()

    def do_POST(self):
        if self.path.startswith("/pmapi/"):
            self.forward()
        else:
            self.reply(405, b"method not allowed\n", "text/plain; charset=utf-8")

    def serve_file(self):
        path = urllib.parse.urlsplit(self.path).path
        if path not in FILES:
            self.reply(404, b"not found\n", "text/plain; charset=utf-8")
            return
        name, content_type = FILES[path]
        with open(os.path.join(HERE, name), "rb") as f:
            self.reply(200, f.read(), content_type)

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            self.reply(413, b"request body too large\n", "text/plain; charset=utf-8")
            return
        body = self.rfile.read(length) if length else None
        headers = {name: self.headers[name] for name in REQUEST_HEADERS if self.headers[name] is not None}
        host, port = self.pmproxy
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            # No WWW-Authenticate: the page asks for the login itself, the
            # browser's own password dialog would only get in the way.
            self.reply(answer.status, data, answer.getheader("Content-Type", "application/json"))
        except (OSError, http.client.HTTPException) as error:
            message = '{"success":false,"message":"pmproxy unreachable: %s"}' % type(error).__name__
            self.reply(502, message.encode(), "application/json")
        finally:
            connection.close()

    def reply(self, status, data, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format, *args):
        # The request line holds no secret (store values are POST bodies); the
        # query string can be long: keep the log lines short.
        sys.stderr.write("%s %s\n" % (self.address_string(), (format % args)[:300]))


def main():
    parser = argparse.ArgumentParser(description="Serve pmdapipe's dashboard and pmproxy's /pmapi/ from one origin.")
    parser.add_argument("--listen", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--pmproxy", default="http://127.0.0.1:44322", help="pmproxy's URL (default %(default)s)")
    options = parser.parse_args()
    target = urllib.parse.urlsplit(options.pmproxy)
    if target.scheme != "http" or not target.hostname or target.path not in ("", "/"):
        parser.error("--pmproxy must be http://HOST:PORT")
    Handler.pmproxy = (target.hostname, target.port or 80)
    server = http.server.ThreadingHTTPServer((options.listen, options.port), Handler)
    server.daemon_threads = True
    print("serving the dashboard on http://%s:%d/, /pmapi/ from %s" % (options.listen, options.port, options.pmproxy),
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
