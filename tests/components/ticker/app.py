"""A poll trigger that hands out items 1, 2, 3 once each: its kv cursor persists across polls
(and restarts), so no item is handed out twice."""

import json

from fuchsia_sdk import kv_get, kv_set, trigger


@trigger("next-item")
def next_item(event, ctx):
    last = int(kv_get("last", "0"))
    if last >= 3:
        return None  # pending: nothing new
    kv_set("last", str(last + 1))
    return {"item": last + 1}


@trigger("gate")
def gate(event, ctx):
    """A webhook trigger: starts an execution only for orders marked `ship` (padded with
    `pad` bytes, to test the cap on a trigger's payload)."""
    order = json.loads(event.request.body)
    if not order.get("ship"):
        return None
    padding = {"pad": "p" * order["pad"]} if "pad" in order else {}
    return {"order": order["order"], "method": event.request.method, **padding}
