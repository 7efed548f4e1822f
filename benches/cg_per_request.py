"""Instructions per request in a callgrind output of `scimsync serve`: the total divided by the
calls of hyper's request-head parser, which runs once per request.
Usage: python3 benches/cg_per_request.py CALLGRIND_OUT"""
import re
import sys

lines = open(sys.argv[1]).read().split("\n")
names = {}
for line in lines:
    m = re.match(r"c?fn=\((\d+)\)(?: (.*))?$", line)
    if m and m.group(2):
        names[m.group(1)] = m.group(2)
parser = {k for k, v in names.items() if v.endswith("Http1Transaction>::parse")}
requests = 0
for i, line in enumerate(lines):
    m = re.match(r"cfn=\((\d+)\)", line)
    if m and m.group(1) in parser:
        calls = re.match(r"calls=(\d+)", lines[i + 1])
        if calls:
            requests += int(calls.group(1))
total = next(int(l.split()[1]) for l in lines if l.startswith(("summary:", "totals:")))
print(f"requests {requests}  instructions {total}  per request {total // max(requests, 1)}")
