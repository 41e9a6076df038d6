#!/usr/bin/env python3
"""Golden data for the per-architecture tests (test/model/test_arch.c): llama.cpp's logits of
every position of a fixed 64-token prompt on the tiny synthetic model of each architecture.

Re-make all of them (about a minute on 2 cores; needs llama-cpp-python, numpy, gguf):
    ~/.cache/clgraph/llamacpp-venv/bin/python test/model/gen_arch_golden.py \\
        --clgraph BUILD/clgraph --out test/data/model/arch
--arch / --type restrict the set; --keep DIR keeps the models. The format and the measured
numbers are in test/data/model/arch/README.md.

For each architecture and weight type the model is written by `clgraph synth --arch ARCH
--shape tiny --type TYPE --seed 1` (deterministic: test_arch checks the golden file's sha256
against the file the test fixture makes). The prompt is BOS (where the vocabulary's
tokenizer.ggml.add_bos_token says so) then pseudo-random ids of ordinary tokens (normal, byte
and unused ones; no control tokens), from numpy.random.RandomState(PROMPT_SEED).

llama.cpp runs on the CPU with 2 threads, the KV cache in f32 (type_k = type_v = F32) and no
flash attention, so that for f32 weights it is float32 arithmetic throughout; for f16 / q8_0
weights its CPU backend converts the matmul activations to f16 / q8_0 blocks. Measured and
stored beside the logits:
  act_effect  max |llama.cpp(file) - llama.cpp(the same weights dequantized to f32)|: what that
              activation rounding moves the logits by (0 for f32 files);
  kv_effect   max |f32 KV cache - llama.cpp's default f16 KV cache| (information);
  exact_diff  max |llama.cpp - float64 reference on the same stored weights|
              (test/model/ref_arch.py): ~1e-6 for f32 weights, except gemma3's 2e-3 (ggml's
              GELU goes through an f16 table); about act_effect for q8_0.
"""
import argparse
import hashlib
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_arch  # noqa: E402

MAGIC = b"CLGGOLDA"
VERSION = 1
HEADER_BYTES = 256
N_TOKENS = 64
PROMPT_SEED = 20261204
SYNTH_SEED = 1
ARCHS = ["llama", "gemma3", "qwen2", "qwen3", "phi3"]
TYPES = ["f32", "f16", "q8_0"]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()


def fixed(s, n):
    b = s.encode("utf-8")[:n]
    return b + b"\0" * (n - len(b))


def llamacpp_logits(path, tokens, kv_f32=True):
    """llama.cpp's logits [len(tokens), n_vocab] of one evaluation of the whole prompt."""
    import llama_cpp
    kw = dict(type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32) if kv_f32 else {}
    llm = llama_cpp.Llama(model_path=path, logits_all=True, n_ctx=256, n_threads=2,
                          flash_attn=False, verbose=False, **kw)
    llm.eval(list(tokens))
    out = np.array(llm.scores[:len(tokens)], dtype=np.float32)
    llm.close()
    return out


def prompt(path):
    """BOS (if the vocabulary adds one) + pseudo-random ordinary token ids, N_TOKENS in all."""
    import gguf
    r = gguf.GGUFReader(path)
    types = np.asarray(r.fields["tokenizer.ggml.token_type"].contents())
    add_bos = r.fields.get("tokenizer.ggml.add_bos_token")
    add_bos = bool(add_bos.contents()) if add_bos is not None else False
    ordinary = np.nonzero(np.isin(types, (1, 5, 6)))[0]
    rng = np.random.RandomState(PROMPT_SEED)
    toks = []
    if add_bos:
        toks.append(int(r.fields["tokenizer.ggml.bos_token_id"].contents()))
    toks += [int(x) for x in rng.choice(ordinary, N_TOKENS - len(toks))]
    return toks, len(types)


def rewrite(src, dst, arch=None, tensor_fn=None):
    """Copies a GGUF, optionally as another architecture (keys renamed) and with tensors
    transformed by tensor_fn(name, f32 array) -> [(name, array)]; every tensor becomes f32
    (dequantized exactly)."""
    import gguf
    from gguf import GGUFValueType as VT
    r = gguf.GGUFReader(src)
    src_arch = r.fields["general.architecture"].contents()
    arch = arch or src_arch
    w = gguf.GGUFWriter(dst, arch)
    for k, f in r.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture":
            continue
        v = 0 if k == "general.file_type" else f.contents()
        k2 = arch + k[len(src_arch):] if k.startswith(src_arch + ".") else k
        if f.types[0] == VT.ARRAY:
            w.add_key_value(k2, v, f.types[0], sub_type=f.types[-1])
        else:
            w.add_key_value(k2, v, f.types[0])
    for t in r.tensors:
        ne = [int(x) for x in t.shape]
        x = gguf.quants.dequantize(t.data, t.tensor_type).reshape(ne[::-1]).astype(np.float32)
        for name, y in (tensor_fn(t.name, x) if tensor_fn else [(t.name, x)]):
            w.add_tensor(name, np.ascontiguousarray(y, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_golden(path, arch, type_name, sha, n_vocab, tokens, logits, act_effect, kv_effect,
                 exact_diff, version):
    rms = float(np.sqrt(np.mean(logits.astype(np.float64) ** 2)))
    hdr = MAGIC + struct.pack("<IIIIIffffI", VERSION, HEADER_BYTES, n_vocab, len(tokens), 0, rms,
                              act_effect, kv_effect, exact_diff, SYNTH_SEED)
    hdr += fixed(arch, 16) + fixed(type_name, 16) + sha.encode() + fixed(version, 32)
    assert len(hdr) <= HEADER_BYTES
    hdr += b"\0" * (HEADER_BYTES - len(hdr))
    with open(path, "wb") as f:
        f.write(hdr)
        f.write(np.asarray(tokens, "<i4").tobytes())
        f.write(logits.astype("<f4").tobytes())
    return rms


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clgraph", required=True, help="the built clgraph executable")
    ap.add_argument("--out", required=True, help="output folder (test/data/model/arch)")
    ap.add_argument("--arch", action="append", choices=ARCHS, help="default: all")
    ap.add_argument("--type", action="append", choices=TYPES, help="default: all three")
    ap.add_argument("--keep", help="keep the synthetic models in this folder")
    args = ap.parse_args(argv)
    import llama_cpp
    version = "llama-cpp-python " + llama_cpp.__version__
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        mdir = args.keep or tmp
        os.makedirs(mdir, exist_ok=True)
        for arch in args.arch or ARCHS:
            for type_name in args.type or TYPES:
                model = os.path.join(mdir, f"{arch}.{type_name}.gguf")
                subprocess.run([args.clgraph, "synth", "--arch", arch, "--shape", "tiny", "--type",
                                type_name, "--seed", str(SYNTH_SEED), "-q", model], check=True)
                tokens, n_vocab = prompt(model)
                logits = llamacpp_logits(model, tokens)
                again = llamacpp_logits(model, tokens)
                assert np.array_equal(logits, again), "llama.cpp is not deterministic here"
                act_effect = 0.0
                if type_name != "f32":
                    f32 = os.path.join(tmp, "f32copy.gguf")
                    rewrite(model, f32)
                    act_effect = float(np.abs(logits - llamacpp_logits(f32, tokens)).max())
                kv_effect = float(np.abs(logits - llamacpp_logits(model, tokens, False)).max())
                exact = ref_arch.ArchRef(model).forward(tokens)
                exact_diff = float(np.abs(logits.astype(np.float64) - exact).max())
                out = os.path.join(args.out, f"{arch}.{type_name}.golden")
                rms = write_golden(out, arch, type_name, sha256_file(model), n_vocab, tokens, logits,
                                   act_effect, kv_effect, exact_diff, version)
                print(f"{arch:6s} {type_name:5s} logits rms {rms:.3f} max|x| "
                      f"{np.abs(logits).max():.3f}  act_effect {act_effect:.4g}  kv_effect "
                      f"{kv_effect:.4g}  exact_diff {exact_diff:.4g}  -> {out} "
                      f"({os.path.getsize(out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
