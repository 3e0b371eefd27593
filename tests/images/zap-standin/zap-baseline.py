#!/usr/bin/env python
"""A stand-in for ZAP's zap-baseline.py in the owasp-zap image tests.

It behaves as the real script (zaproxy's docker/zap-baseline.py, v2.17.0 and
main) behaves with the flags build-task passes (-t URL -J REPORT -I -d -T 5),
on its Automation Framework path:

- the same getopt string: an unknown flag prints usage and exits 3, as does a
  missing target or one that is not http(s);
- it scans only "in a container": IS_CONTAINERIZED=true, /.dockerenv or
  /run/.containerenv; elsewhere the real one starts ZAP with `docker`, which
  an image does not have, and exits 3;
- a report flag needs /zap/wrk to exist (exit 3);
- it writes its plan to $HOME/zap.yaml (PyYAML) and copies it to
  /zap/wrk/zap.yaml; a missing or read-only HOME is an uncaught exception:
  a traceback and exit 1;
- a target with a path puts both it and the host's root in the plan's
  context, and the spider starts at the root;
- it starts /zap/zap-x.sh -cmd twice (an add-on update, then -autorun of the
  plan) and prints the second one's output only when it has finished;
- its exit code comes from the summary ZAP wrote to $HOME/zap_out.json:
  1 with a FAIL, 2 with a WARN unless -I, 0 with a PASS, else 3; no summary
  is 3.

It imports yaml and zapv2 first, as the real one does, so an image without
them fails the same way. ZAP itself is tests/images/zap-standin/zap-x.sh.
"""
import getopt
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
import zapv2  # noqa: F401  (the real script's API client; its AF path only imports it)

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

SHORT = "t:c:u:g:m:n:r:J:w:x:l:hdaijp:sz:P:D:T:IU:"
LONG = ["hook=", "auto", "autooff", "plan-only", "ajax-spider", "client-spider"]
WRK = "/zap/wrk/"


def usage():
    print("Usage: zap-baseline.py -t <target> [options]")
    print("    -t target         target URL including the protocol, e.g. https://www.example.com")
    print("For more details see https://www.zaproxy.org/docs/docker/baseline-scan/")


def in_container():
    return (os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")
            or os.environ.get("IS_CONTAINERIZED") == "true")


def plan(target, summary_file, report_json, minutes, timeout):
    """The Automation Framework plan the real script writes for these flags."""
    urls = [target]
    if target.count("/") > 2:
        root = target[0:target.index("/", 8) + 1]
        if root != target:
            target = root
            urls.append(root)
    env = {"env": {"contexts": [{"name": "baseline", "urls": urls}],
                   "parameters": {"failOnError": True, "progressToStdout": False}}}
    jobs = [
        {"type": "passiveScan-config", "parameters": {"enableTags": False}},
        {"type": "spider", "parameters": {"url": target, "maxDuration": minutes}},
        {"type": "passiveScan-wait", "parameters": {"maxDuration": timeout}},
        {"type": "outputSummary", "parameters": {"format": "Long", "summaryFile": summary_file}},
    ]
    if report_json:
        jobs.append({"type": "report", "parameters": {
            "template": "traditional-json", "reportDir": WRK, "reportFile": report_json,
            "reportTitle": "ZAP Scanning Report"}})
    return env, {"jobs": jobs}


def zap_inline(port, params):
    """/zap/zap-x.sh -cmd, its output captured (its stderr dropped)."""
    command = ["/zap/zap-x.sh", "-cmd", "-port", str(port), "-host", "0.0.0.0",
               "-config", "api.disablekey=true"] + params
    logging.debug("Params: " + str(command))
    return subprocess.run(command, universal_newlines=True, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout


def main(argv):
    target, report_json, minutes, timeout, ignore_warn = "", "", 1, 0, False
    try:
        opts, _ = getopt.getopt(argv, SHORT, LONG)
    except getopt.GetoptError as exc:
        logging.warning("Invalid option " + exc.opt + " : " + exc.msg)
        usage()
        sys.exit(3)
    for opt, arg in opts:
        if opt == "-h":
            usage()
            sys.exit(0)
        elif opt == "-t":
            target = arg
        elif opt == "-J":
            report_json = arg
        elif opt == "-d":
            logging.getLogger().setLevel(logging.DEBUG)
        elif opt == "-m":
            minutes = int(arg)
        elif opt == "-T":
            timeout = int(arg)
        elif opt == "-I":
            ignore_warn = True

    if not target:
        usage()
        sys.exit(3)
    if not (target.startswith("http://") or target.startswith("https://")):
        logging.warning("Target must start with 'http://' or 'https://'")
        usage()
        sys.exit(3)

    if not in_container():
        # The real script now runs `docker run … zaproxy`; an image has no docker.
        try:
            subprocess.run(["docker", "run", "--rm", "-d", "ghcr.io/zaproxy/zaproxy:weekly"], check=True)
        except OSError:
            logging.warning("Failed to start ZAP in docker :(")
            sys.exit(3)

    if report_json and not os.path.exists(WRK):
        logging.warning("A file based option has been specified but the directory '/zap/wrk' is not mounted ")
        usage()
        sys.exit(3)

    print("Using the Automation Framework")
    home = str(Path.home())
    yaml_file = os.path.join(home, "zap.yaml")
    summary_file = os.path.join(home, "zap_out.json")
    env, jobs = plan(target, summary_file, report_json, minutes, timeout)
    with open(yaml_file, "w") as out:
        yaml.dump(env, out)
        yaml.dump(jobs, out)
    try:
        if os.path.abspath(yaml_file) != os.path.abspath(WRK + "zap.yaml"):
            shutil.copyfile(yaml_file, WRK + "zap.yaml")
    except OSError as err:
        logging.warning("Unable to copy yaml file to " + WRK + "zap.yaml " + str(err))

    port = 8090
    try:
        zap_inline(port, ["-addonupdate", "-addoninstall", "pscanrulesBeta"])
        out = zap_inline(port, ["-autorun", yaml_file, "-config", "stats.pkg.baseline-af=1"])
        for line in out.splitlines():
            if "Add-on already installed" in line or "Automation plan succeeded" in line:
                continue
            print(line)
    except OSError:
        logging.warning("Failed to start ZAP :(")
        sys.exit(3)

    if not os.path.isfile(summary_file):
        logging.warning("Failed to access summary file " + summary_file)
        sys.exit(3)
    with open(summary_file) as f:
        summary = json.load(f)
    if summary["fail"] > 0:
        sys.exit(1)
    elif not ignore_warn and summary["warn"] > 0:
        sys.exit(2)
    elif summary["pass"] > 0:
        sys.exit(0)
    sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1:])
