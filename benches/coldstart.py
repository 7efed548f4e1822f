"""Cold start of `scimsync serve`: the time from spawning it on a database to its first
`/readyz` 200, polled every 2 ms, three times. Usage: python3 benches/coldstart.py BINARY DB
(BENCHMARKS.md). Drop the page cache first (`sync; echo 3 > /proc/sys/vm/drop_caches`) for a
cold first run."""
import subprocess, sys, time, urllib.request
binary, db = sys.argv[1], sys.argv[2]
for run in range(3):
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:28085",
                          "--database", f"sqlite://{db}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if urllib.request.urlopen("http://127.0.0.1:28085/readyz", timeout=1).status == 200:
                break
        except Exception:
            time.sleep(0.002)
    print(f"run {run + 1}: ready in {time.monotonic() - t0:.3f} s")
    p.terminate(); p.wait()
