"""greeter: say hello (config and log), and count calls (kv)."""

from fuchsia_sdk import Permanent, config_get, kv_get, kv_set, log, task


@task("greet")
def greet(input: dict, ctx) -> dict:
    name = input.get("name")
    if not isinstance(name, str) or not name:
        raise Permanent("`name` must be a non-empty string")
    salutation = config_get("salutation", "Hello")
    log("info", "greeting", who=name, salutation=salutation, attempt=ctx.attempt)
    return {"greeting": f"{salutation}, {name}!", "name": name}


@task("count")
def count(input: dict) -> dict:
    key = input.get("key", "calls")
    value = int(kv_get(key, "0")) + 1
    kv_set(key, str(value))
    return {"key": key, "count": value}
