import os
import signal
import sys
import time

import redis

r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))

# As PID 1 in a container, Python ignores SIGTERM unless told otherwise.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

print("worker: waiting for jobs")
while True:
    try:
        # The timeout only bounds each wait; the loop waits again.
        item = r.blpop(["jobs"], timeout=5)
    except redis.ConnectionError as e:
        print(f"worker: Redis is unreachable ({e}); retrying")
        time.sleep(2)
        continue
    if item:
        print(f"worker: job requested at {item[1].decode()}: done")
