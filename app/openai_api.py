"""An OpenAI-compatible speech API, served beside the page in the same process: `POST /v1/audio/speech` and
`GET /v1/models`, on the same models, batcher, voices, options and limits as the page.

Body of `/v1/audio/speech` (JSON): `model` (one of `MODELS`: all name the loaded model), `input` (the text; at
most `max_chars`), `voice` (a saved voice's name, or "dialogue" for a script with speaker tags,
app/dialogue.py), `response_format` (wav, flac, mp3, opus, pcm; default mp3, as OpenAI's), `speed`
(0.25 to 4), `stream_format` ("audio": the audio bytes sent as they are generated; "sse": OpenAI's server-sent
events, `speech.audio.delta` with base64 audio, then `speech.audio.done`; absent: the whole file once done,
generated in one batch with other requests), and cubetts' own `nfe`, `cfg`, `seed` (SynthesisOptions' fields
and ranges). Every error is OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`: an unknown
voice or model is 404 and lists the ones there are, anything else wrong in the request 400 naming the field,
models not loaded 503. A client that disconnects stops its generation (app/cancel.py).
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import torch
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute

from tts.synthesizer import Cancelled

from . import dialogue
from .cancel import run_until_disconnected
from .encoding import FORMATS, AudioEncoder, encode
from .service import NotReady, Service
from .speech import InputError, checked_options, checked_text, type_name
from .voices import DIALOGUE, UnknownVoice

logger = logging.getLogger(__name__)

MODEL = "cubetts"
# OpenAI's speech model names, accepted so that tools written for them work unchanged: all speak with the
# loaded model.
MODELS = (MODEL, "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
STREAM_FORMATS = ("audio", "sse")
OPTION_FIELDS = ("speed", "nfe", "cfg", "seed")
FIELDS = ("model", "input", "voice", "response_format", "stream_format", *OPTION_FIELDS)


class APIError(Exception):
    """An error answered in OpenAI's JSON shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.param, self.code = status, param, code

    def response(self) -> JSONResponse:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return JSONResponse({"error": {"message": str(self), "type": kind, "param": self.param, "code": self.code}},
                            status_code=self.status)


def routes(service: Service) -> list[APIRoute]:
    """The API's routes, to go in front of the page's (`app.server.serve`)."""

    async def models(request: Request) -> JSONResponse:
        created = int(time.time())
        return JSONResponse({"object": "list", "data": [{"id": name, "object": "model", "created": created,
                                                         "owned_by": "cubetts"} for name in MODELS]})

    async def speech(request: Request) -> Response:
        try:
            return await _speech(service, request)
        except APIError as err:
            return err.response()

    return [APIRoute("/v1/models", models, methods=["GET"]), APIRoute("/v1/audio/speech", speech, methods=["POST"])]


async def _speech(service: Service, request: Request) -> Response:
    body = await _body(request)
    fmt, stream_format = _choice(body, "response_format", tuple(FORMATS), "mp3"), _stream_format(body)
    cancel = threading.Event()
    try:
        jobs, is_dialogue = await anyio.to_thread.run_sync(_prepare, service, body, stream_format is not None, cancel)
    except NotReady as err:
        raise APIError(503, str(err), code="model_not_loaded") from None
    except UnknownVoice as err:
        raise APIError(404, str(err), "voice", "voice_not_found") from None
    except InputError as err:
        raise APIError(400, str(err), "input" if err.field == "text" else err.field) from None
    sample_rate = service.sample_rate
    headers = {"X-Sample-Rate": str(sample_rate)}
    if stream_format is None:
        def generate() -> torch.Tensor:
            return dialogue.run(service, jobs) if is_dialogue else service.run(jobs[0])[0]
        try:
            wav = await run_until_disconnected(request, cancel, generate)
        except Cancelled:
            return Response(status_code=499)  # nobody is listening
        return Response(encode(wav, sample_rate, fmt), media_type=FORMATS[fmt][0], headers=headers)
    pieces = dialogue.stream(service, jobs) if is_dialogue else service.stream(jobs[0])
    media = "text/event-stream" if stream_format == "sse" else FORMATS[fmt][0]
    return StreamingResponse(_streamed(pieces, AudioEncoder(fmt, sample_rate), stream_format, cancel),
                             media_type=media, headers=headers)


def _prepare(service: Service, body: dict, streamed: bool, cancel: threading.Event) -> tuple[list, bool]:
    """The request's jobs (one, or one per dialogue turn), every field checked; runs in a worker thread."""
    text = checked_text(body["input"], "input")
    options = checked_options(service.defaults, streamed, **{name: body.get(name) for name in OPTION_FIELDS})
    voice = body["voice"]
    if isinstance(voice, str) and voice.strip().lower() == DIALOGUE:
        return dialogue.prepare(service, dialogue.parse(text, service.voices), options, cancel.is_set), True
    return [service.prepare([text], service.speaker(voice), options, cancelled=cancel.is_set)], False


async def _streamed(pieces: Iterator[torch.Tensor], encoder: AudioEncoder, stream_format: str,
                    cancel: threading.Event) -> AsyncIterator[bytes]:
    """The encoded pieces as they come; when the client goes (Starlette cancels this), the job is dropped."""

    def wrap(data: bytes) -> bytes:
        if stream_format == "audio" or not data:
            return data
        event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
        return f"data: {json.dumps(event)}\n\n".encode()

    try:
        while (piece := await anyio.to_thread.run_sync(next, pieces, None, abandon_on_cancel=True)) is not None:
            yield wrap(encoder.write(piece))
        yield wrap(encoder.close())
        if stream_format == "sse":
            usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
            yield f"data: {json.dumps({'type': 'speech.audio.done', 'usage': usage})}\n\n".encode()
    except Cancelled:
        return
    except Exception:  # the status line is sent: the stream can only end early
        logger.exception("streamed synthesis failed")
    finally:
        cancel.set()


async def _body(request: Request) -> dict:
    try:
        body = json.loads(await request.body())
    except ValueError as err:
        raise APIError(400, f"the request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise APIError(400, f"the request body must be a JSON object, got {type_name(body)}")
    for name in body:
        if name not in FIELDS:
            raise APIError(400, f"unknown field {name!r}; the fields are: {', '.join(FIELDS)}", name)
    for name in ("model", "input", "voice"):
        if body.get(name) is None:
            raise APIError(400, f"{name} is required", name)
    model = body["model"]
    if not isinstance(model, str):
        raise APIError(400, f"model must be a string, got {type_name(model)}", "model")
    if model not in MODELS:
        raise APIError(404, f"no model named {model!r}; the models are: {', '.join(MODELS)}", "model",
                       "model_not_found")
    voice = body["voice"]
    if isinstance(voice, dict) and isinstance(voice.get("id"), str):  # the SDK's form for custom voices
        body["voice"] = voice["id"]
    elif not isinstance(voice, str):
        raise APIError(400, f"voice must be a voice's name (a string), got {type_name(voice)}", "voice")
    return body


def _choice(body: dict, name: str, choices: tuple[str, ...], default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if value not in choices:
        raise APIError(400, f"{name} must be one of {', '.join(choices)}; got {value!r}", name,
                       "unsupported_format" if name == "response_format" else None)
    return value


def _stream_format(body: dict) -> str | None:
    return _choice(body, "stream_format", STREAM_FORMATS, "") or None
