#!/usr/bin/env python3
"""Perplexity of a GGUF model on a text file as llama.cpp's llama-perplexity computes it, with
llama-cpp-python (the peer, 0.3.36), written as the golden file of the cli.perplexity test.

usage: gen_perplexity.py MODEL.gguf TEXT.txt N_CTX OUT.golden

The steps are those of llama.cpp's tools/perplexity/perplexity.cpp (perplexity()):
  - the whole file tokenized with add_special = true, parse_special = false;
  - at least 2 * n_ctx tokens, n_chunk = n_tokens / n_ctx chunks of n_ctx tokens, each
    evaluated from an empty KV cache, its first token replaced by BOS when the vocabulary adds
    BOS;
  - in each chunk, positions j in [n_ctx/2, n_ctx - 1) scored: the negative log-likelihood of
    token j+1 under the log-softmax (double sum) of the logits at j;
  - PPL = exp(mean nll), its error sqrt((mean nll^2 - mean nll^2) / (count - 1)) * PPL.

The golden file is text, one "key value" a line: model_sha256, model_file, text_file, n_ctx,
n_tokens, n_chunk, ppl, ppl_err, peer.
Run with the peer's venv, e.g. ~/.cache/clgraph/llamacpp-venv/bin/python.
perplexity.golden is of SmolLM2-135M-Instruct.Q4_1.gguf, perplexity_q5_0.golden and
perplexity_q5_1.golden of that model requantized by `clgraph quantize MODEL OUT --type q5_0`
(q5_1), all on lighthouse.txt with N_CTX 128 (model_file edited to say so).
"""
import hashlib
import math
import os
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    model_path, text_path, n_ctx, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    llm = Llama(model_path=model_path, n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, n_threads=2,
                verbose=False)
    with open(text_path, "rb") as f:
        text = f.read()
    tokens = llm.tokenize(text, add_bos=True, special=False)
    if len(tokens) < 2 * n_ctx:
        sys.exit(f"{text_path} tokenizes to {len(tokens)} tokens; {2 * n_ctx} are needed")
    add_bos = llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model))
    bos = llm.token_bos()
    n_chunk = len(tokens) // n_ctx
    first = n_ctx // 2
    nll = nll2 = 0.0
    count = 0
    for i in range(n_chunk):
        chunk = list(tokens[i * n_ctx:(i + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        llm.reset()
        llm.eval(chunk)
        logits = np.asarray(llm.scores[:n_ctx], dtype=np.float32)  # [n_ctx, n_vocab]
        for j in range(first, n_ctx - 1):
            row = logits[j]
            m = float(row.max())
            sum_exp = float(np.sum(np.exp(row - m), dtype=np.float64))
            v = float(row[chunk[j + 1]]) - m - math.log(sum_exp)
            nll -= v
            nll2 += v * v
            count += 1
        print(f"[{i + 1}]{math.exp(nll / count):.4f}", file=sys.stderr)
    nll /= count
    nll2 = nll2 / count - nll * nll
    ppl = math.exp(nll)
    err = math.sqrt(nll2 / (count - 1)) * ppl if nll2 > 0 else 0.0
    print(f"Final estimate: PPL = {ppl:.4f} +/- {err:.5f}")
    with open(out_path, "w") as f:
        f.write(f"model_sha256 {sha256_file(model_path)}\n")
        f.write(f"model_file {os.path.basename(model_path)}\n")
        f.write(f"text_file {os.path.basename(text_path)}\n")
        f.write(f"n_ctx {n_ctx}\nn_tokens {len(tokens)}\nn_chunk {n_chunk}\n")
        f.write(f"ppl {ppl:.6f}\nppl_err {err:.6f}\n")
        f.write(f"peer llama-cpp-python {llama_cpp.__version__}\n")


if __name__ == "__main__":
    main()
