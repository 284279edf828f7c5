"""Calls to Gradio's API, checked before Gradio reads them, so that each refusal says what is wrong (Gradio
answers these with `{"error": null}`, or fetches what it is pointed at): too few values (the message lists
the parameters in order), and a file input that is not a file uploaded to this server (a server path or a
URL: the server reads no file of its own and downloads nothing). Answered with HTTP 422, `{"error": message}`
and `detail` in the form Gradio gives its validators' refusals (which `gradio_client` raises as
`ValidationError`). The values themselves are checked by the handlers (app/speech.py).
"""
from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

from starlette.responses import JSONResponse

CALL = re.compile(r"/gradio_api/call/(?:v2/)?(?P<name>[^/]+)")
JOIN = "/gradio_api/queue/join"
HOW_TO_UPLOAD = ('upload it first (POST /gradio_api/upload with the file, then send {"path": <the path it '
                 'returns>, "meta": {"_type": "gradio.FileData"}}; gradio_client: handle_file("clip.wav"))')


class RawCallCheck:
    """ASGI middleware over Gradio's app; `blocks` is the page whose endpoints it checks."""

    def __init__(self, app, blocks):
        self.app, self.blocks = app, blocks

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        call = CALL.fullmatch(path)
        if scope["type"] != "http" or scope.get("method") != "POST" or not (call or path == JOIN):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left while sending
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = self.problem(call.group("name") if call else None, body)
        if problem is not None:
            param, message = problem
            detail = [{"__type__": "validate", "is_valid": False, "parameter_name": param, "message": message}]
            await JSONResponse({"error": message, "detail": detail}, status_code=422)(scope, receive, send)
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def problem(self, api_name: str | None, body: bytes) -> tuple[str, str] | None:
        """What is wrong with a call to `api_name` (None: `queue/join`, which names its endpoint by `fn_index`):
        `(the parameter's name, the message)`, or None."""
        try:
            request = json.loads(body)
        except ValueError:
            return None  # Gradio answers malformed JSON itself (HTTP 422, with the reason)
        if not isinstance(request, dict):
            return None
        fn = next((f for i, f in self.blocks.fns.items()
                   if (f.api_name == api_name if api_name is not None else i == request.get("fn_index"))), None)
        if fn is None:
            return None
        data, names = request.get("data"), _parameter_names(fn)
        where = f"/{fn.api_name}"
        if not isinstance(data, list):
            return "data", f"{where}: data must be a list of its values, in this order: {', '.join(names)}"
        if len(data) < len(fn.inputs):
            return "data", (f"{where} takes {len(fn.inputs)} values, in this order: {', '.join(names)}; got "
                            f"{len(data)} (send null for a value left to its default; gradio_client fills them in)")
        for component, value, name in zip(fn.inputs, data, names):
            if type(component).__name__ in ("Audio", "File") and value is not None:
                problem = _file_problem(value, name)
                if problem:
                    return name, f"{where}: {problem}"
        return None


def _parameter_names(fn) -> list[str]:
    """The endpoint's parameter names in order, as its API page lists them."""
    params = [p for p in inspect.signature(fn.fn).parameters.values() if p.name not in ("progress", "request")]
    names = [p.name for p in params][:len(fn.inputs)]
    return names + [f"value {i + 1}" for i in range(len(names), len(fn.inputs))]


def _file_problem(value: object, name: str) -> str | None:
    path = value.get("path") if isinstance(value, dict) else value
    if not isinstance(path, str) or not isinstance(value, dict):
        return f"{name} must be an uploaded file: {HOW_TO_UPLOAD}"
    if re.match(r"[a-z][a-z0-9+.-]*://", path, re.I):
        return f"{name}: a URL is not accepted (the server downloads nothing); {HOW_TO_UPLOAD}"
    from gradio.utils import get_upload_folder, is_in_or_equal

    if not is_in_or_equal(path, get_upload_folder()):
        return (f"{name}: {Path(path).name!r} is not a file uploaded to this server (it reads no file of its own); "
                f"{HOW_TO_UPLOAD}")
    return None
