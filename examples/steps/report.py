"""The report step of examples/python-steps.yaml: a plain function, run in the sandbox."""

from fuchsia_sdk import log


def build(tags, summary):
    skus = ", ".join(f"{t['sku']} ({t['tag']})" for t in tags)
    log("info", "report built", items=summary["count"])
    return {"line": f"{summary['count']} items, total {summary['total']}: {skus}"}
