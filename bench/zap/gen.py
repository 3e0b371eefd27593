#!/usr/bin/env python3
"""Writes a large ZAP traditional JSON report for bench/zap: ALERTS alerts
(default 10,000) with 1 to 40 instances each, their texts taken from a real
report (the largest shared fixture), to about TARGET_MB (default 50) MB.

usage: gen.py SOURCE_REPORT OUT [ALERTS] [TARGET_MB]
"""
import json
import random
import sys

source, out = sys.argv[1], sys.argv[2]
alerts_wanted = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
target_bytes = int(float(sys.argv[4]) * 1e6) if len(sys.argv) > 4 else 50_000_000

real = json.load(open(source, encoding="utf-8"))
templates = real["site"][0]["alerts"]
rng = random.Random(4)
# Plugin ids of pages-core's default rules, so the rules have work to do.
plugin_ids = ["10038", "10045", "10063", "10098", "10099", "90004", "10017", "10202", "10097", "90003",
              "10020", "10021", "10036", "10054", "10035", "10015", "10049", "40012", "40014", "90022"]


def instance(i, j, pad):
    path = rng.choice(["assets/styles/site.css", "search/?q=x", "news/item", "about", "robots.txt"])
    return {
        "uri": f"https://site.example/{path}/{i}/{j}?page={j}",
        "method": rng.choice(["GET", "POST"]),
        "param": rng.choice(["", "q", "x-frame-options", "Content-Security-Policy"]),
        "attack": "",
        "evidence": rng.choice(["", "https://dap.digitalgov.gov/Universal-Federated-Analytics-Min.js",
                                "<form action=\"/search\">", "Apache/2.4.41 (Ubuntu)"]) + "x" * pad,
        "otherinfo": "",
    }


# Instance padding is tuned so the file lands near the target size.
sample = json.dumps(instance(0, 0, 0))
alert_text = sum(len(json.dumps(t)) - len(json.dumps(t.get("instances", []))) for t in templates) / len(templates)
per_alert = target_bytes / alerts_wanted - alert_text
pad = max(0, int(per_alert / 20.5 - len(sample)))

alerts = []
for i in range(alerts_wanted):
    t = dict(templates[i % len(templates)])
    t["pluginid"] = t["alertRef"] = plugin_ids[i % len(plugin_ids)]
    t["riskcode"] = str(i % 4)
    t["instances"] = [instance(i, j, pad) for j in range(rng.randint(1, 40))]
    t["count"] = str(len(t["instances"]))
    alerts.append(t)
report = {"@programName": "ZAP", "@version": "2.17.0", "@generated": "Sun, 22 Nov 2026 00:00:00",
          "site": [{"@name": "https://site.example", "@host": "site.example", "@port": "443", "@ssl": "true",
                    "alerts": alerts}]}
with open(out, "w", encoding="utf-8") as f:
    json.dump(report, f, ensure_ascii=False)
