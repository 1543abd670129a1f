"""The Grafana dashboard beside the nginx files (documents.md) reads only what /metrics
exports, and every route the API has counts under its own label."""

import json
import os
import re

from conftest import REPO_ROOT

PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "le", "route", "status", "state", "cause",
                "result"}


def exported_metrics(client):
    """Names with samples, and every name a `# TYPE` line declares (a counter with no
    sample yet is still exported), with a histogram's series."""
    text = client.get("/metrics").text
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            names.add(name)
            if kind == "histogram":
                names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def test_every_expression_names_an_exported_metric(client):
    with open(os.path.join(REPO_ROOT, "nginx", "grafana-dashboard.json")) as f:
        dashboard = json.load(f)
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) >= 12
    exported = exported_metrics(client)
    for expression in expressions:
        without_strings = re.sub(r'"[^"]*"|\[[^\]]*\]', "", expression)
        names = [word for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", without_strings)
                 if word not in PROMQL_WORDS]
        assert names, expression
        for name in names:
            assert name in exported, (name, expression)
    # What documents.md asks it to show.
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ["route and status", "latency", "threads", "restarts", "reloads", "webhook backlog", "database errors"]:
        assert topic in titles, topic


def test_every_route_counts_under_its_own_label(client):
    client.get("/reports/overdue")
    text = client.get("/metrics").text
    assert 'route="GET /reports/overdue",status="2xx"' in text
