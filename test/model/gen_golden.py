#!/usr/bin/env python3
"""Golden data for whole-model tests: numpy-reference logits and greedy tokens (test/data/model/).

Re-run (about 2 minutes on 2 cores; needs numpy, gguf, llama-cpp-python):
    /root/.cache/clgraph/venv/bin/python test/model/gen_golden.py \
        --model ~/.cache/clgraph/SmolLM2-135M-Instruct.Q4_1.gguf --out test/data/model
Other weight types of the same model (F16 / Q8_0 / Q4_0 conversions) use the same command with
their --model; --logits f16 halves the file. --convert TYPE:PATH writes such a conversion with the
gguf package (dequantize + gguf.quants.quantize; for trying the path, never committed) and exits.

For every prompt the file holds: its llama.cpp token ids (tokenizer.ggml.add_bos_token decides
BOS, special tokens parsed), the reference logits of the last position (full vocabulary), the
top-20 ids and logits of every position, 32 greedy tokens from the reference (the golden ones) with
each step's top-1/top-2 logit margin, 32 greedy tokens from llama.cpp, and the measured
reference-vs-llama.cpp differences. The format is in
test/data/model/README.md; test/ref/golden_model.c reads it.
"""
import argparse
import hashlib
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_llama  # noqa: E402

MAGIC = b"CLGGOLDM"
VERSION = 1
HEADER_BYTES = 256
N_TOP = 20
N_GEN = 32
DTYPE_F32, DTYPE_F16 = 0, 1

CHAT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        "Face<|im_end|>\n<|im_start|>user\nHi! Who are you?<|im_end|>\n"
        "<|im_start|>assistant\n")
PROMPTS = [
    ("english", "The quick brown fox jumps over the lazy dog. Once upon a time, in a small "
                "village by the sea, there lived"),
    ("chat", CHAT),
    ("code", "def fibonacci(n):\n    if n < 2:\n        return n\n    return"),
    ("short", "Once upon a"),
]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def fixed(s, n):
    b = s.encode("utf-8")[:n]
    return b + b"\0" * (n - len(b))


def top_k(logits, k):
    """ids [n, k] by descending logit (ties: lower id first), values [n, k] float32."""
    ids = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return ids.astype(np.int32), np.take_along_axis(logits, ids, axis=1).astype(np.float32)


def prompt_record(p, logits_dtype):
    """One prompt's record; its first u32 is the record's size in bytes (see README.md)."""
    name, text = p["name"].encode("utf-8"), p["text"].encode("utf-8")
    ids, vals = top_k(p["logits"], N_TOP)
    last = p["logits"][-1].astype("<f4" if logits_dtype == DTYPE_F32 else "<f2")
    body = b"".join([
        pad4(name), pad4(text), np.asarray(p["tokens"], "<i4").tobytes(), pad4(last.tobytes()),
        ids.astype("<i4").tobytes(), vals.astype("<f4").tobytes(),
        np.asarray(p["greedy"], "<i4").tobytes(), np.asarray(p["greedy_cpp"], "<i4").tobytes(),
        np.asarray(p["margins"], "<f4").tobytes()])
    fields = struct.pack("<IIIIffI", len(p["tokens"]), len(name), len(text), p["n_agree"],
                         p["diff_last"], p["diff_all"], p["top1_agree"])
    return struct.pack("<I", 4 + len(fields) + len(body)) + fields + body


def write_golden(path, model_path, sha, type_name, n_vocab, prompts, logits_dtype):
    diff_all = max(p["diff_all"] for p in prompts)
    hdr = MAGIC + struct.pack("<IIIIIIIf", VERSION, HEADER_BYTES, len(prompts), n_vocab, N_TOP,
                              N_GEN, logits_dtype, diff_all)
    hdr += sha.encode() + fixed(os.path.basename(model_path), 64) + fixed(type_name, 16)
    assert len(hdr) <= HEADER_BYTES
    hdr += b"\0" * (HEADER_BYTES - len(hdr))
    with open(path, "wb") as f:
        f.write(hdr)
        for p in prompts:
            f.write(prompt_record(p, logits_dtype))


def file_type_name(model_path):
    import gguf
    r = gguf.GGUFReader(model_path)
    f = r.fields.get("general.file_type")
    if f is None:
        return "unknown"
    ft = int(f.contents())
    try:
        return gguf.LlamaFileType(ft).name.replace("MOSTLY_", "")
    except ValueError:
        return f"ftype{ft}"


def convert(src, qtype_name, dst):
    """Rewrites every 2-D quantized/f16 tensor of src as qtype (F32 tensors kept)."""
    import gguf
    from gguf import GGMLQuantizationType as QT, GGUFValueType as VT
    qtype = QT[qtype_name.upper()]
    ftype = {QT.F16: 1, QT.Q4_0: 2, QT.Q4_1: 3, QT.Q8_0: 7}[qtype]
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, r.fields["general.architecture"].contents())
    for k, f in r.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture":
            continue
        v = ftype if k == "general.file_type" else f.contents()
        if f.types[0] == VT.ARRAY:
            w.add_key_value(k, v, f.types[0], sub_type=f.types[-1])
        else:
            w.add_key_value(k, v, f.types[0])
    for t in r.tensors:
        ne = [int(x) for x in t.shape]
        if t.tensor_type != QT.F32 and len(ne) == 2:
            x = gguf.quants.dequantize(t.data, t.tensor_type).reshape(ne[::-1])
            q = x.astype(np.float16) if qtype == QT.F16 else gguf.quants.quantize(x, qtype)
            w.add_tensor(t.name, q, raw_shape=q.shape, raw_dtype=qtype)
        else:
            w.add_tensor(t.name, t.data, raw_shape=t.data.shape, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="GGUF file (llama architecture)")
    ap.add_argument("--out", default=None, help="output folder (test/data/model)")
    ap.add_argument("--name", default=None, help="output file name (default MODEL-STEM.golden)")
    ap.add_argument("--logits", choices=("f32", "f16"), default="f32")
    ap.add_argument("--convert", metavar="TYPE:PATH", help="write a TYPE conversion and exit")
    args = ap.parse_args(argv)
    if args.convert:
        qtype, dst = args.convert.split(":", 1)
        convert(args.model, qtype, dst)
        print(f"wrote {dst}")
        return 0
    if not args.out:
        ap.error("--out is required")

    llm = ref_llama.llamacpp_open(args.model)
    ref = ref_llama.LlamaRef(args.model)
    prompts = []
    for name, text in PROMPTS:
        toks = ref_llama.llamacpp_tokenize(llm, text)
        logits, greedy, margins = ref.greedy(toks, N_GEN)
        cpp = ref_llama.llamacpp_logits(llm, toks)
        greedy_cpp = ref_llama.llamacpp_greedy(llm, toks, N_GEN)
        d = np.abs(logits - cpp.astype(np.float64))
        agree = 0
        while agree < N_GEN and greedy[agree] == greedy_cpp[agree]:
            agree += 1
        top1 = int(np.sum(np.argmax(logits, axis=1) == np.argmax(cpp, axis=1)))
        p = dict(name=name, text=text, tokens=toks, logits=logits.astype(np.float32),
                 greedy=greedy, greedy_cpp=greedy_cpp, margins=margins, n_agree=agree,
                 diff_last=float(d[-1].max()), diff_all=float(d.max()), top1_agree=top1)
        prompts.append(p)
        print(f"{name:8s} {len(toks):3d} tokens  ref vs llama.cpp: max|d| last {p['diff_last']:.4f}"
              f" all {p['diff_all']:.4f}  top-1 {top1}/{len(toks)}  greedy agree {agree}/{N_GEN}")
        print(f"         ref:       {llm.detokenize(greedy).decode('utf-8', 'replace')!r}")
        if agree < N_GEN:
            print(f"         llama.cpp: {llm.detokenize(greedy_cpp).decode('utf-8', 'replace')!r}")
            print(f"         reference margin at the first difference: {margins[agree]:.4f}")

    os.makedirs(args.out, exist_ok=True)
    stem = os.path.basename(args.model)
    stem = stem[:-5] if stem.endswith(".gguf") else stem
    path = os.path.join(args.out, args.name or stem + ".golden")
    write_golden(path, args.model, sha256_file(args.model), file_type_name(args.model),
                 ref.n_vocab, prompts, DTYPE_F32 if args.logits == "f32" else DTYPE_F16)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
