import html
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

# redis-py connects on the first command, so the app starts even while Redis is down.
r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))

PAGE = """<!doctype html>
<title>devstack python</title>
<h1>Hello from devstack!</h1>
<p>This page has been viewed {count} times. Edit app.py to change it.</p>
<form method="post" action="/job"><button>Queue a job for the worker</button></form>
<p>{note}</p>
"""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/job":
            return self.do_POST()
        if self.path != "/":
            return self.send_error(404)
        self.respond(lambda: (r.incr("hits"), ""))

    def do_POST(self):
        if self.path != "/job":
            return self.send_error(404)

        def work():
            waiting = r.rpush("jobs", self.date_time_string())
            return int(r.get("hits") or 0), f"Job queued ({waiting} waiting): see the worker's logs."

        self.respond(work)

    def respond(self, work):
        try:
            (count, note), status = work(), 200
        except redis.RedisError as e:
            (count, note), status = ("?", f"Redis is unreachable: {e}"), 503
        body = PAGE.format(count=count, note=html.escape(note)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    # As PID 1 in a container, Python ignores SIGTERM unless told otherwise:
    # exit at once so that stops and restarts are quick.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("PORT", "8000"))
    print(f"listening on :{port}")
    ThreadingHTTPServer(("", port), Handler).serve_forever()
