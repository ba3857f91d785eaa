"""csv_summary: describe a CSV, and keep the description as an artifact."""

import csv
import io
import json
import math

from fuchsia_sdk import Permanent, log, put_artifact, task


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def summarize_rows(header: list[str], rows: list[list[str]]) -> dict:
    numeric = {}
    for index, column in enumerate(header):
        cells = [row[index].strip() for row in rows if index < len(row) and row[index].strip()]
        values = [_number(cell) for cell in cells]
        if not values or any(v is None for v in values):
            continue
        pairs = zip(values, cells, strict=True)
        whole = all(float(v).is_integer() and "." not in c for v, c in pairs)
        low, high = min(values), max(values)
        numeric[column] = {
            "count": len(values),
            "min": int(low) if whole else low,
            "max": int(high) if whole else high,
            "mean": round(sum(values) / len(values), 6),
        }
    return {"rows": len(rows), "columns": header, "numeric": numeric}


@task("summarize")
def summarize(input: dict, ctx) -> dict:
    delimiter = input.get("delimiter", ",")
    reader = csv.reader(io.StringIO(input["csv"]), delimiter=delimiter)
    try:
        header = next(reader, None)
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise Permanent(f"not valid CSV: {exc}") from None
    if not header:
        raise Permanent("the CSV is empty: expected a header row")
    summary = summarize_rows([name.strip() for name in header], rows)
    artifact = put_artifact(
        "summary.json", "application/json", json.dumps(summary, indent=2).encode()
    )
    log("info", "summarised", rows=summary["rows"], numeric=sorted(summary["numeric"]))
    return {**summary, "artifact": artifact}
