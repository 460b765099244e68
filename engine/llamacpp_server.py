"""Run llama.cpp's HTTP server (via xllamacpp) on a GGUF until killed.

A standalone script run with `<engine_dir>/llamacpp/bin/python`, because
xllamacpp lives only in that small venv. xllamacpp starts the server inside this
process (threads), so the script just configures it and sleeps; SIGTERM ends it.
The API key comes from RANKGRAPH_ENGINE_API_KEY (argv is readable by every
local user) and goes to llama.cpp's own key check (`CommonParams.api_keys`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

KEY_ENV = "RANKGRAPH_ENGINE_API_KEY"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, required=True)
    parser.add_argument("--alias", required=True, help="the model name clients send")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, default=4096, help="context per request slot")
    parser.add_argument("--parallel", type=int, default=4, help="concurrent request slots")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import xllamacpp  # engine venv only

    params = xllamacpp.CommonParams()
    params.model.path = str(args.gguf)
    params.model_alias = {args.alias}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.ctx * args.parallel  # llama.cpp splits n_ctx across the slots
    params.cont_batching = True
    params.api_keys = [os.environ.pop(KEY_ENV)]
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    server = xllamacpp.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
