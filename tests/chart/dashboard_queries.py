#!/usr/bin/env python3
"""The PromQL queries of the Grafana dashboard, with Grafana's variables replaced by values
Prometheus accepts (the same replacement the end-to-end test makes).

usage: dashboard_queries.py rules|list DASHBOARD.json
  rules: a rule file with one recording rule per query, for `promtool check rules`
  list:  one JSON object per line: {"panel", "refId", "expr"}
"""
import json
import re
import sys

VARS = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "1h", "${datasource}": "",
        "$jurisdiction": ".*"}


def queries(path):
    with open(path) as f:
        dash = json.load(f)
    for p in dash["panels"]:
        for t in p.get("targets", []):
            expr = t["expr"]
            for k, val in VARS.items():
                expr = expr.replace(k, val)
            left = re.findall(r"\$\{?\w+", expr)
            if left:
                sys.exit(f"panel {p['title']!r}: unknown variables {left}")
            yield p["title"], t["refId"], expr


def main():
    mode, path = sys.argv[1:]
    qs = list(queries(path))
    if mode == "list":
        for title, ref, expr in qs:
            print(json.dumps({"panel": title, "refId": ref, "expr": expr}))
    else:
        rules = [{"record": f"dashboard:panel{i}:{ref}", "expr": expr} for i, (_, ref, expr) in enumerate(qs)]
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
