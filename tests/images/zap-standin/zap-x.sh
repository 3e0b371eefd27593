#!/usr/bin/env python
"""A stand-in for ZAP (/zap/zap-x.sh -cmd) in the owasp-zap image tests.

zap-baseline.py starts it twice: `-addonupdate …`, which it answers as an
up-to-date ZAP does, and `-autorun PLAN`, which it runs as ZAP's Automation
Framework runs the baseline's plan:

- spider: every URL of the plan's context must answer 200 (the target, and
  the host's root when the target has a path); one that does not fails the
  job, and with failOnError the plan stops there: no summary, no report;
- passive scan: six rules over the responses' headers (four security headers
  that should be set, two things that should not be sent); a rule with an
  alert is a WARN, one without a PASS;
- outputSummary: {"pass", "warn", "fail"} at the plan's summaryFile;
- report: ZAP's traditional JSON at reportDir/reportFile.
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

import yaml

# (plugin id, alert, header, present is bad, risk, cwe)
RULES = [
    ("10021", "X-Content-Type-Options Header Missing", "x-content-type-options", False, "1", "693"),
    ("10038", "Content Security Policy (CSP) Header Not Set", "content-security-policy", False, "2", "693"),
    ("10020", "Missing Anti-clickjacking Header", "x-frame-options", False, "2", "1021"),
    ("10063", "Permissions Policy Header Not Set", "permissions-policy", False, "1", "693"),
    ("10037", "Server Leaks Information via \"X-Powered-By\" HTTP Response Header Field(s)",
     "x-powered-by", True, "1", "497"),
    ("10061", "X-AspNet-Version Response Header", "x-aspnet-version", True, "1", "933"),
]
RISK = {"0": "Informational", "1": "Low", "2": "Medium", "3": "High"}


def fetch(url):
    """The response's header names, or the reason the spider cannot use it."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            if response.status != 200:
                return None, "status code returned : %d expected 200" % response.status
            return {name.lower() for name in response.headers.keys()}, None
    except urllib.error.HTTPError as e:
        return None, "status code returned : %d expected 200" % e.code
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def alert(rule, uris):
    plugin, name, header, _, risk, cwe = rule
    return {
        "pluginid": plugin, "alertRef": plugin, "alert": name, "name": name,
        "riskcode": risk, "confidence": "2", "riskdesc": RISK[risk] + " (Medium)",
        "desc": "<p>The response's " + header + " header is not as it should be.</p>",
        "instances": [{"uri": uri, "method": "GET", "param": header, "attack": "",
                       "evidence": "", "otherinfo": ""} for uri in uris],
        "count": str(len(uris)),
        "solution": "<p>Review the " + header + " header.</p>",
        "otherinfo": "",
        "reference": "<p>https://owasp.org/www-project-secure-headers/</p>",
        "cweid": cwe, "wascid": "15", "sourceid": "3",
    }


def autorun(path):
    with open(path) as f:
        plan = yaml.safe_load(f)
    urls = plan["env"]["contexts"][0]["urls"]
    seen = {}
    alerts, passed, warned = [], 0, 0
    for job in plan["jobs"]:
        kind, params = job["type"], job.get("parameters", {})
        print("Job " + kind + " started")
        if kind == "spider":
            for url in dict.fromkeys(urls + [params["url"]]):
                headers, error = fetch(url)
                if error:
                    print("Job spider error accessing URL " + url + " " + error)
                    print("Automation plan failures:")
                    print("\tJob spider error accessing URL " + url + " " + error)
                    return 1
                seen[url] = headers
            print("Job spider found %d URLs" % len(seen))
        elif kind == "passiveScan-wait":
            for rule in RULES:
                header, present_is_bad = rule[2], rule[3]
                uris = [u for u, h in seen.items() if (header in h) == present_is_bad]
                if uris:
                    alerts.append(alert(rule, uris))
                    warned += 1
                else:
                    passed += 1
        elif kind == "outputSummary":
            with open(params["summaryFile"], "w") as out:
                json.dump({"pass": passed, "warn": warned, "fail": 0}, out)
        elif kind == "report":
            site = urllib.parse.urlsplit(urls[0])
            document = {
                "@programName": "ZAP", "@version": "2.17.0",
                "@generated": "Mon, 1 Dec 2026 12:00:00",
                "site": [{
                    "@name": site.scheme + "://" + site.netloc, "@host": site.hostname,
                    "@port": str(site.port or (443 if site.scheme == "https" else 80)),
                    "@ssl": str(site.scheme == "https").lower(), "alerts": alerts,
                }],
            }
            with open(params["reportDir"].rstrip("/") + "/" + params["reportFile"], "w") as out:
                json.dump(document, out, indent=2)
        print("Job " + kind + " finished")
    print("Automation plan succeeded!")
    return 0


def main(argv):
    if "-autorun" in argv:
        return autorun(argv[argv.index("-autorun") + 1])
    if "-addonupdate" in argv:
        print("Add-on already installed: pscanrulesBeta")
        return 0
    print("zap-x.sh stand-in: no -autorun or -addonupdate in " + " ".join(argv))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
