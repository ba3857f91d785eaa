"""fetcher: an HTTP request through the host's `http` import.

A URL outside the manifest's `allowed_hosts` raises `HttpDenied`, which fails the node
permanently with a message naming the pattern to add; timeouts and transport failures raise
`HttpFailed`, which is retryable.
"""

from fuchsia_sdk import Permanent, Retryable, config_get, http_fetch, log, task


@task("fetch")
def fetch(input: dict, ctx) -> dict:
    url = input["url"]
    method = input.get("method", "GET")
    response = http_fetch(
        method,
        url,
        headers=input.get("headers"),
        body=input.get("body"),
        timeout_ms=input.get("timeout_ms"),
    )
    log("info", "fetched", url=url, status=response.status, bytes=len(response.body))
    if input.get("fail_on_status", True) and not response.ok:
        reason = f"{method} {url} answered {response.status}: {response.text[:200]}"
        if response.status >= 500 or response.status == 429:
            raise Retryable(reason)
        raise Permanent(reason)
    content_type = response.header("content-type", "") or ""
    limit = int(config_get("max_text_bytes", "1048576"))
    result = {
        "url": url,
        "status": response.status,
        "ok": response.ok,
        "content_type": content_type,
        "bytes": len(response.body),
        "text": response.body[:limit].decode("utf-8", errors="replace"),
    }
    if "json" in content_type.lower():
        try:
            result["json"] = response.json()
        except ValueError:
            log("warn", "the response says JSON but is not", url=url)
    return result
