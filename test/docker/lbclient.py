#!/usr/bin/env python3
"""A load balancer's view of a meshcdn cluster, for test/docker/compose-e2e.sh.

Health-checks every node's /readyz (admin API) every 200 ms and sends a
steady stream of HTTPS (and some HTTP) GETs, each to a node that passed its
last check, as a health-checked load balancer or DNS would. It runs until
the file named by --stop exists, then prints one JSON line: requests sent,
failures (with the first few), and per node how many it served.

    lbclient.py --node NAME=HTTP_PORT,HTTPS_PORT,ADMIN_PORT ... --cafile F --stop FILE
"""
import argparse, http.client, json, os, random, ssl, sys, threading, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", action="append", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--path", default="/v1/users/7?company=3")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--max-seconds", type=float, default=600)
    a = ap.parse_args()
    nodes = {}
    for spec in a.node:
        name, ports = spec.split("=")
        h, s, adm = (int(p) for p in ports.split(","))
        nodes[name] = {"http": h, "https": s, "admin": adm, "ready": False, "served": 0}
    ctx = ssl.create_default_context(cafile=a.cafile)
    lock = threading.Lock()
    stats = {"requests": 0, "failures": 0, "errors": [], "checks_failed": {}}
    done = threading.Event()

    def health():
        while not done.is_set():
            for name, n in nodes.items():
                ok = False
                try:
                    c = http.client.HTTPConnection("127.0.0.1", n["admin"], timeout=1)
                    c.request("GET", "/readyz")
                    ok = c.getresponse().status == 200
                    c.close()
                except OSError:
                    pass
                with lock:
                    if n["ready"] and not ok:
                        stats["checks_failed"][name] = stats["checks_failed"].get(name, 0) + 1
                    n["ready"] = ok
            time.sleep(0.2)

    def worker(i):
        conns = {}
        rnd = random.Random(i)
        while not done.is_set():
            with lock:
                ready = [k for k, n in nodes.items() if n["ready"]]
            for key in [k for k in conns if k[0] not in ready]:
                conns.pop(key).close()  # out of rotation: drop its pool, as a balancer does
            if not ready:
                time.sleep(0.05)
                continue
            name = rnd.choice(ready)
            n = nodes[name]
            tls = rnd.random() < 0.8
            key = (name, tls)
            err = None
            # A request sent on a kept-alive connection that the server had
            # already closed (idle) is retried once on a new one, as HTTP
            # clients do for idempotent requests (RFC 9112 §9.3.1); nothing
            # else is retried.
            for attempt in (0, 1):
                c = conns.get(key)
                reused = c is not None
                try:
                    if c is None:
                        if tls:
                            c = http.client.HTTPSConnection("127.0.0.1", n["https"], timeout=10, context=ctx)
                        else:
                            c = http.client.HTTPConnection("127.0.0.1", n["http"], timeout=10)
                        conns[key] = c
                    c.request("GET", a.path, headers={"Host": "localhost"})
                    r = c.getresponse()
                    body = r.read()
                    if r.getheader("Connection", "").lower() == "close":
                        c.close()
                        conns.pop(key, None)
                    doc = json.loads(body)
                    if r.status != 200 or "version" not in doc:
                        raise ValueError("HTTP %d %r" % (r.status, body[:100]))
                    err = None
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                    conns.pop(key, None)
                    err = e
                    if reused and attempt == 0:
                        with lock:
                            stats["retried_idle"] = stats.get("retried_idle", 0) + 1
                        continue
                    break
                except Exception as e:  # a failed request, whatever the cause
                    conns.pop(key, None)
                    err = e
                    break
            with lock:
                stats["requests"] += 1
                if err is None:
                    n["served"] += 1
                else:
                    stats["failures"] += 1
                    if len(stats["errors"]) < 5:
                        stats["errors"].append("%s %s: %s" % (name, "https" if tls else "http", err))
            time.sleep(0.005)

    threads = [threading.Thread(target=health, daemon=True)]
    threads += [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(a.workers)]
    for t in threads:
        t.start()
    start = time.time()
    while not os.path.exists(a.stop) and time.time() - start < a.max_seconds:
        time.sleep(0.1)
    done.set()
    for t in threads:
        t.join(15)
    with lock:
        stats["served"] = {k: n["served"] for k, n in nodes.items()}
        print(json.dumps(stats))
    return 0

if __name__ == "__main__":
    sys.exit(main())
