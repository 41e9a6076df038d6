#!/usr/bin/env python3
"""Golden data for the real Gemma 3 270M Q4_K_M model, with llama.cpp as the reference.

The numpy reference (ref_llama.py) computes the Llama architecture only; for Gemma 3 the
reference is llama.cpp itself (llama-cpp-python, CPU, 2 threads): its token ids, its logits
of every prompt position and its greedy continuations, in the golden format of
test/data/model/README.md (read by test/ref/golden_model.c, checked by test/model/test_model.c).
The reference-vs-llama.cpp fields are zero (they are the same computation).

Re-make (about a minute on 2 cores; needs numpy, gguf, llama-cpp-python 0.3.36):
    ~/.cache/clgraph/llamacpp-venv/bin/python test/model/gen_gemma_golden.py \
        --model ~/.cache/clgraph/gemma-3-270m-q4_k_m.gguf --out test/data/model
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_golden  # noqa: E402
import ref_llama  # noqa: E402

# The prompts of the SmolLM2 golden data, with the chat one in Gemma's turn format.
CHAT = ("<start_of_turn>user\nWhat is the capital of France? Answer in one sentence."
        "<end_of_turn>\n<start_of_turn>model\n")
PROMPTS = [(name, CHAT if name == "chat" else text) for name, text in gen_golden.PROMPTS]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    llm = ref_llama.llamacpp_open(args.model)
    prompts = []
    for name, text in PROMPTS:
        toks = ref_llama.llamacpp_tokenize(llm, text)
        logits = ref_llama.llamacpp_logits(llm, toks)
        llm.reset()
        llm.eval(toks)
        last = np.array(llm.scores[len(toks) - 1], dtype=np.float64)
        greedy, margins = [], []
        for _ in range(gen_golden.N_GEN):
            order = np.argsort(-last, kind="stable")
            greedy.append(int(order[0]))
            margins.append(float(last[order[0]] - last[order[1]]))
            llm.eval([greedy[-1]])
            last = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        prompts.append(dict(name=name, text=text, tokens=toks, logits=logits, greedy=greedy,
                            greedy_cpp=greedy, margins=margins, n_agree=len(greedy),
                            diff_last=0.0, diff_all=0.0, top1_agree=len(toks)))
        print(f"{name:8s} {len(toks):3d} tokens: "
              f"{llm.detokenize(greedy).decode('utf-8', 'replace')!r}")
    stem = os.path.basename(args.model)
    stem = stem[:-5] if stem.endswith(".gguf") else stem
    path = os.path.join(args.out, stem + ".golden")
    gen_golden.write_golden(path, args.model, gen_golden.sha256_file(args.model),
                            gen_golden.file_type_name(args.model), logits.shape[1], prompts,
                            gen_golden.DTYPE_F16)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
