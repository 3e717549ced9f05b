"""Drives nines with the real PagerDuty Events API v2 client library
(PyPI package `pagerduty`), its URL pointed at nines.

Usage: pagerduty_client.py BASE_URL ROUTING_KEY
Prints one JSON line per step, read by tests/pagerduty.rs.
"""
import json
import sys

import pagerduty

base, key = sys.argv[1], sys.argv[2]
client = pagerduty.EventsApiV2Client(key)
# The library only accepts https:// base URLs through its `url` setter; the
# test's nines listens on plain HTTP on loopback, so the base is set behind
# that guard. Everything the library sends is its own.
client._url = base

out = {}
out["dedup_key"] = client.trigger(
    "Checkout error rate above 5%",
    "prometheus-eu-1",
    dedup_key="checkout-errors",
    severity="critical",
    custom_details={"error_rate": 0.07},
    links=[{"href": "https://runbooks.example.com/checkout", "text": "runbook"}],
)
out["generated_key"] = client.trigger("Disk almost full", "db-host-3", severity="warning")
client.send_change_event(payload={"summary": "deploy checkout v1.4", "source": "ci"})
print(json.dumps(out), flush=True)
# Wait for the test to look, then acknowledge and resolve.
sys.stdin.readline()
out["ack"] = client.acknowledge("checkout-errors")
out["unknown_resolve"] = client.resolve("never-sent")
print(json.dumps(out), flush=True)
sys.stdin.readline()
out["resolve"] = client.resolve("checkout-errors")
client.resolve(out["generated_key"])
try:
    client.trigger("bad", "x", severity="catastrophic")
    out["invalid"] = "accepted"
except Exception as e:  # the library raises on a 400
    out["invalid"] = type(e).__name__ + ": " + str(e)
print(json.dumps(out), flush=True)
