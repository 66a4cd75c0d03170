"""Schemathesis findings that are the server's documented design, each dropped only in the
exact case it covers (by the error's status, `param` and `code`, and the request itself), so
every other "schema-valid request rejected" still fails the run.

Loaded by scripts/schemathesis.sh through SCHEMATHESIS_HOOKS.
"""

import re

import schemathesis


def _error(response):
    try:
        body = response.json()
    except Exception:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _body(case):
    return case.body if isinstance(case.body, dict) else {}


def _named_tool(choice):
    """The function a `tool_choice` object names (chat nests it under `function`)."""
    if not isinstance(choice, dict):
        return None
    function = choice.get("function")
    if isinstance(function, dict):
        return function.get("name")
    return choice.get("name")


def _tool_names(tools):
    names = set()
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict):
            function = tool.get("function")
            names.add(function.get("name") if isinstance(function, dict) else tool.get("name"))
    return names


def _by_design(case, response):
    error = _error(response)
    status, param, code = response.status_code, error.get("param"), error.get("code")
    body = _body(case)
    # The same Idempotency-Key with another body is 422 (IETF draft, Stripe), as documented;
    # Schemathesis draws keys at random and reuses them across bodies.
    if status == 422 and code == "idempotency_key_reused":
        return True
    # These three name things that must already exist, which no schema can enumerate: a stored
    # response, an item of the listed response (as OpenAI and Stripe answer, 400 naming the
    # parameter), and a function among the request's own `tools`.
    if status == 400 and param == "previous_response_id" and code == "previous_response_not_found":
        return isinstance(body.get("previous_response_id"), str)
    # A tool output must answer a call of its conversation (as OpenAI requires), which a
    # generator's random call ids do not: 400 naming the output.
    if status == 400 and isinstance(param, str) and re.fullmatch(r"input\[\d+\]\.call_id", param):
        return case.operation.path in ("/v1/responses", "/v1/responses/compact")
    match = re.fullmatch(r"messages\[(\d+)\]", param) if isinstance(param, str) else None
    if status == 400 and match and case.operation.path == "/v1/chat/completions":
        messages = body.get("messages")
        at = int(match.group(1))
        return isinstance(messages, list) and at < len(messages) and isinstance(messages[at], dict) \
            and messages[at].get("role") == "tool"
    # Item ids are unique in a batch, which no schema can say (uniqueItems compares whole items).
    if status == 400 and isinstance(param, str) and re.fullmatch(r"items\[\d+\]\.id", param):
        items = body.get("items")
        ids = [i.get("id") for i in items if isinstance(i, dict) and i.get("id") is not None] \
            if isinstance(items, list) else []
        return len(ids) != len(set(map(str, ids)))
    if status == 400 and param == "after" and case.operation.path.endswith("/input_items"):
        return True
    # The same for index list cursors, which must name an existing index.
    if status == 400 and param in ("after", "before") and case.operation.path == "/v1/indexes":
        return True
    # A vector must have its index's dimensions, which the index holds and no schema can.
    if status == 400 and code == "dimension_mismatch":
        return True
    # `required` needs a tool to call (OpenAI refuses it without `tools` too).
    if status == 400 and param == "tool_choice" and body.get("tool_choice") == "required":
        return not body.get("tools")
    if status == 400 and param == "tool_choice":
        name = _named_tool(body.get("tool_choice"))
        return name is not None and name not in _tool_names(body.get("tools"))
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keeps every failure except a schema-valid request refused by design (above)."""
    code = getattr(failure, "code", None)
    if code == "ST202" and response is not None:
        return not _by_design(case, response)
    # The WebSocket handshake is a GET of /v1/responses, documented beside its HTTP operations
    # (x-openresponses-websocket.handshake) rather than among them: a 405 there names GET too.
    # For the same reason a plain GET there is told to upgrade (426 upgrade_required), as the
    # handshake's description says, rather than refused as an undeclared method.
    if code == "ST204" and response is not None and case.operation.path == "/v1/responses":
        return not (response.status_code == 426 and _error(response).get("code") == "upgrade_required")
    if code == "ST205" and response is not None and case.operation.path == "/v1/responses":
        # Schemathesis keeps headers lowercased, each a list of values.
        values = response.headers.get("allow") or []
        allow = {m.strip().upper() for v in values for m in v.split(",")}
        return allow != {"GET", "HEAD", "POST"}
    return True
