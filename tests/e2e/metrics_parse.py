#!/usr/bin/python3
"""Parses a Prometheus text exposition with the reference parser
(Debian's python3-prometheus-client) and checks what the parser leaves to
the producer: every family has HELP and a type, counters are finite and
non-negative, histogram buckets are cumulative and end with +Inf equal to
_count.

Usage: metrics_parse.py FILE
Prints one line per sample: name TAB labels (k=v,... sorted) TAB value.
Exits 1 with a reason on stderr if the text does not parse or a check fails.
"""
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def fail(why):
    print("metrics_parse: " + why, file=sys.stderr)
    sys.exit(1)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others
        fail("does not parse: %r" % e)
    if not families:
        fail("no metric families")
    seen = set()
    for fam in families:
        if fam.name in seen:
            fail("family %s appears twice" % fam.name)
        seen.add(fam.name)
        if fam.type not in ("counter", "gauge", "histogram"):
            fail("family %s has type %s" % (fam.name, fam.type))
        if not fam.documentation:
            fail("family %s has no HELP" % fam.name)
        if fam.type == "histogram":
            series = {}
            for s in fam.samples:
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                series.setdefault(key, {"buckets": [], "count": None})
                if s.name.endswith("_bucket"):
                    series[key]["buckets"].append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    series[key]["count"] = s.value
            for key, h in series.items():
                b = h["buckets"]
                if not b or not math.isinf(b[-1][0]):
                    fail("%s%s: last bucket is not +Inf" % (fam.name, key))
                if any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                    fail("%s%s: buckets not ascending and cumulative" % (fam.name, key))
                if h["count"] != b[-1][1]:
                    fail("%s%s: _count differs from the +Inf bucket" % (fam.name, key))
        for s in fam.samples:
            if fam.type == "counter" and (s.value < 0 or not math.isfinite(s.value)):
                fail("counter %s is %r" % (s.name, s.value))
            labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
            print("%s\t%s\t%r" % (s.name, labels, float(s.value)))


if __name__ == "__main__":
    main()
