#!/usr/bin/env python3
"""A stand-in for ZAP's zap-baseline.py in the owasp-zap image tests.

Takes the flags build-task passes (-t URL -J REPORT -I -d -T MINUTES), fetches
the target once, and writes REPORT under /zap/wrk, as ZAP does, in
ZAP's traditional JSON format, with one alert for each of four security
headers the response lacks. Exits 2 when it raised a warning, like ZAP's
baseline without -I; with -I, 0.
"""
import getopt
import json
import sys
import urllib.parse
import urllib.request

HEADERS = [
    ("10021", "X-Content-Type-Options Header Missing", "x-content-type-options", "1", "693"),
    ("10038", "Content Security Policy (CSP) Header Not Set", "content-security-policy", "2", "693"),
    ("10020", "Missing Anti-clickjacking Header", "x-frame-options", "2", "1021"),
    ("10063", "Permissions Policy Header Not Set", "permissions-policy", "1", "693"),
]
RISK = {"0": "Informational", "1": "Low", "2": "Medium", "3": "High"}


def main(argv):
    opts, _ = getopt.getopt(argv, "t:J:IdT:")
    opts = dict(opts)
    target, report = opts["-t"], opts["-J"]
    print("stand-in zap-baseline: scanning " + target, flush=True)
    with urllib.request.urlopen(target, timeout=30) as response:
        present = {name.lower() for name in response.headers.keys()}
    url = urllib.parse.urlsplit(target)
    alerts = []
    for plugin, name, header, risk, cwe in HEADERS:
        if header in present:
            continue
        alerts.append({
            "pluginid": plugin, "alertRef": plugin, "alert": name, "name": name,
            "riskcode": risk, "confidence": "2", "riskdesc": RISK[risk] + " (Medium)",
            "desc": "<p>The response does not set the " + header + " header.</p>",
            "instances": [{"uri": target, "method": "GET", "param": header,
                           "attack": "", "evidence": "", "otherinfo": ""}],
            "count": "1",
            "solution": "<p>Set the " + header + " header.</p>",
            "otherinfo": "",
            "reference": "<p>https://owasp.org/www-project-secure-headers/</p>",
            "cweid": cwe, "wascid": "15", "sourceid": "3",
        })
    document = {
        "@programName": "ZAP", "@version": "2.17.0",
        "@generated": "Mon, 1 Dec 2026 12:00:00",
        "site": [{
            "@name": url.scheme + "://" + url.netloc, "@host": url.hostname,
            "@port": str(url.port or (443 if url.scheme == "https" else 80)),
            "@ssl": str(url.scheme == "https").lower(), "alerts": alerts,
        }],
    }
    with open("/zap/wrk/" + report, "w") as out:
        json.dump(document, out, indent=2)
    print("stand-in zap-baseline: %d alerts in %s" % (len(alerts), report), flush=True)
    return 0 if "-I" in opts or not alerts else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
