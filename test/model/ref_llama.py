#!/usr/bin/env python3
"""Independent numpy reference of the Llama forward pass over a GGUF file (golden data only).

Re-run / check against llama.cpp:
    /root/.cache/clgraph/venv/bin/python test/model/ref_llama.py --model $CLGRAPH_TEST_MODEL \
        --prompt "The capital of France is" [--emulate] [--neox] [--layers 3]
Needs numpy and gguf (and llama-cpp-python for the comparison); the C tests never run this.

Conventions (llama.cpp's, general.architecture = "llama"):
  * GGUF tensor shapes list ne[0] first (the contiguous dimension); gguf.GGUFReader gives numpy
    arrays with the shape reversed, so a matrix with ne = [n_in, n_out] reads as [n_out, n_in]
    and y = x @ W.T.
  * RMSNorm: x / sqrt(mean(x^2) + eps) * w, eps = llama.attention.layer_norm_rms_epsilon.
  * RoPE is the "normal" (interleaved) kind, rotating the pairs (2i, 2i+1) of each head by
    pos * freq_base^(-2i/n_rot). llama.cpp's llama_model_rope_type() returns
    LLAMA_ROPE_TYPE_NORM for LLM_ARCH_LLAMA ("use what we call a normal RoPE, operating on pairs
    of consecutive head values", src/llama-model.cpp), and convert_hf_to_gguf.py's
    LlamaModel.modify_tensors passes the HF q_proj/k_proj weights through LlamaModel.permute so
    that this pairing equals HF's rotate_half (i, i + n_rot/2) form on the original weights.
    The checks in main() confirm it: llama_cpp.llama_model_rope_type() == 0 (NORM) and the
    logits agree; with the neox pairing (i, i + n_rot/2) they do not.
  * Grouped-query attention: query head h reads kv head h // (n_head / n_head_kv) (ggml's
    broadcast in mul_mat), causal mask, softmax scale 1/sqrt(head_dim).
  * SwiGLU FFN: down(silu(gate(x)) * up(x)); residuals around attention and FFN.
  * Logits = output_norm(x) @ output.weight.T, or token_embd.weight when output.weight is absent.

Arithmetic is float64 (weights dequantized exactly by gguf.quants.dequantize, then widened), so
the reference is the "exact" result for the stored weights. llama.cpp's CPU backend differs on
purpose: it quantizes matmul activations to Q8_0/Q8_1 blocks, keeps the KV cache in f16 and
converts Q and the softmax output to f16 for the attention matmuls. emulate="act" (matmul
activations), "kv" (f16 attention) or "all" reproduces those roundings; it only serves to show
that the gap to llama.cpp is rounding, not a convention mismatch: --layers N compares with
llama.cpp's own intermediates, and layer 0 agrees to ~1e-6 except where an ulp-level difference
(ggml's own expf in softmax and SiLU) flips an f16 or Q8 rounding; those flips then grow layer by
layer. Golden data is always made with emulate="".
"""
import argparse
import math
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT

ROPE_NORM, ROPE_NEOX = "norm", "neox"


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    return f.contents()


def quantize_act_q8(x):
    """ggml-cpu's quantize_row_q8_0 / q8_1 (AVX2 form) of the rows of x (last dim a multiple of
    32), with d = amax/127 and q = round(x * 127/amax) per 32-block. Returns xq = q * f16(d)
    [x.shape] and ds = f16(d * sum(q)) - f16(d) * sum(q) [..., n/32]: q8_1 carries the block sum
    s rounded on its own, and q4_1 dots use it for the weights' block minimum m (m * s)."""
    shape = x.shape
    b = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(b).max(axis=1, keepdims=True)
    d = amax / np.float32(127.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        idv = np.where(amax > 0, np.float32(127.0) / amax, np.float32(0.0)).astype(np.float32)
    q = np.rint(b * idv)
    d16 = d.astype(np.float16).astype(np.float32)
    s16 = (d[:, 0] * q.sum(axis=1)).astype(np.float16).astype(np.float64)
    xq = (q * d16).reshape(shape).astype(np.float64)
    ds = s16 - d16[:, 0].astype(np.float64) * q.sum(axis=1)
    return xq, ds.reshape(shape[:-1] + (shape[-1] // 32,))


def f16(x):
    """x rounded to f16, kept in its own dtype."""
    return x.astype(np.float16).astype(x.dtype)


class LlamaRef:
    """Weights of a llama-architecture GGUF, dequantized to float64, and a KV-cached forward."""

    def __init__(self, path, emulate="", rope_type=ROPE_NORM, dtype=np.float64):
        r = gguf.GGUFReader(path)
        self.path = path
        arch = _field(r, "general.architecture")
        if arch != "llama":
            raise ValueError(f"{path}: general.architecture is {arch!r}, this reference does llama")
        a = "llama."
        self.n_embd = int(_field(r, a + "embedding_length"))
        self.n_layer = int(_field(r, a + "block_count"))
        self.n_ff = int(_field(r, a + "feed_forward_length"))
        self.n_head = int(_field(r, a + "attention.head_count"))
        self.n_head_kv = int(_field(r, a + "attention.head_count_kv", self.n_head))
        self.head_dim = int(_field(r, a + "attention.key_length", self.n_embd // self.n_head))
        if int(_field(r, a + "attention.value_length", self.head_dim)) != self.head_dim:
            raise NotImplementedError("attention.value_length != key_length")
        self.n_rot = int(_field(r, a + "rope.dimension_count", self.head_dim))
        self.eps = float(_field(r, a + "attention.layer_norm_rms_epsilon"))
        self.freq_base = float(_field(r, a + "rope.freq_base", 10000.0))
        self.freq_scale = 1.0
        stype = _field(r, a + "rope.scaling.type")
        factor = _field(r, a + "rope.scaling.factor")
        if stype not in (None, "none"):
            if stype != "linear":
                raise NotImplementedError(f"rope scaling {stype!r} (only linear is supported)")
            if factor:
                self.freq_scale = 1.0 / float(factor)
        self.rope_type = rope_type
        self.dtype = dtype  # float64 for golden data; float32 to measure f32 engines' rounding
        if emulate not in ("", "act", "kv", "all"):
            raise ValueError(f"emulate={emulate!r}: one of '', 'act', 'kv', 'all'")
        self.emu_act = emulate in ("act", "all")
        self.emu_kv = emulate in ("kv", "all")

        tensors = {t.name: t for t in r.tensors}
        self.types = {}
        self.q4_1_mins = {}

        def w(name, required=True):
            t = tensors.get(name)
            if t is None:
                if required:
                    raise KeyError(f"{path}: tensor {name} missing")
                return None
            self.types[name] = t.tensor_type
            # dequantize: [ne1, ne0 bytes] -> [ne1, ne0] float32 (shape reversed from ne)
            x = gguf.quants.dequantize(t.data, t.tensor_type)
            ne = [int(v) for v in t.shape]
            if self.emu_act and t.tensor_type == QT.Q4_1:  # block mins m: [ne1, ne0/32]
                raw = np.ascontiguousarray(t.data).reshape(ne[1], ne[0] // 32, 20)
                self.q4_1_mins[name] = raw[:, :, 2:4].copy().view(np.float16)[..., 0].astype(
                    np.float64)
            x = x.reshape(list(reversed(ne)))
            return x.astype(self.dtype)

        self.tok_embd = w("token_embd.weight")  # [n_vocab, n_embd]
        self.n_vocab = self.tok_embd.shape[0]
        self.output_norm = w("output_norm.weight")  # [n_embd]
        out = w("output.weight", required=False)  # [n_vocab, n_embd] or tied
        self.output_name = "output.weight" if out is not None else "token_embd.weight"
        self.output = out if out is not None else self.tok_embd
        self.rope_freqs = w("rope_freqs.weight", required=False)  # [n_rot/2] (llama3 scaling)
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            self.layers.append({
                "attn_norm": w(p + "attn_norm.weight"),  # [n_embd]
                "wq": w(p + "attn_q.weight"),  # [n_head*hd, n_embd]
                "wk": w(p + "attn_k.weight"),  # [n_head_kv*hd, n_embd]
                "wv": w(p + "attn_v.weight"),  # [n_head_kv*hd, n_embd]
                "wo": w(p + "attn_output.weight"),  # [n_embd, n_head*hd]
                "ffn_norm": w(p + "ffn_norm.weight"),  # [n_embd]
                "w_gate": w(p + "ffn_gate.weight"),  # [n_ff, n_embd]
                "w_up": w(p + "ffn_up.weight"),  # [n_ff, n_embd]
                "w_down": w(p + "ffn_down.weight"),  # [n_embd, n_ff]
                "names": p,
            })
        self.trace = None  # a dict to record intermediates under llama.cpp's tensor names
        self.reset()

    # ---- pieces ----------------------------------------------------------

    def reset(self):
        """Empties the KV cache: k/v per layer, [n_past, n_head_kv, head_dim]."""
        hd = self.head_dim
        self.k_cache = [np.zeros((0, self.n_head_kv, hd), self.dtype) for _ in range(self.n_layer)]
        self.v_cache = [np.zeros((0, self.n_head_kv, hd), self.dtype) for _ in range(self.n_layer)]
        self.n_past = 0

    def rmsnorm(self, x, wt):
        if self.emu_act:  # ggml's f32 steps, so the Q8 roundings downstream see the same bits
            x32 = x.astype(np.float32)
            ms = (np.sum((x32 * x32).astype(np.float64), axis=-1, keepdims=True) / x.shape[-1])
            ms = ms.astype(np.float32) + np.float32(self.eps)
            scale = np.float32(1.0) / np.sqrt(ms)
            return ((x32 * scale) * wt.astype(np.float32)).astype(x.dtype)
        ms = np.mean(x * x, axis=-1, keepdims=True)
        return x / np.sqrt(ms + self.eps) * wt

    def matmul(self, x, wt, name):
        """x [n, in] @ W[out, in].T; emulate: activations rounded as ggml's vec_dot_type."""
        if self.emu_act:
            t = self.types[name]
            if t in (QT.Q4_0, QT.Q4_1, QT.Q8_0):
                xq, ds = quantize_act_q8(x)
                y = xq.astype(self.dtype) @ wt.T
                if t == QT.Q4_1:
                    y += (ds @ self.q4_1_mins[name].T).astype(self.dtype)
                return y
            if t == QT.F16:
                x = f16(x)
        return x @ wt.T

    def rope(self, x, pos):
        """x [n, heads, hd], pos [n]: rotates the first n_rot dims of every head."""
        half = self.n_rot // 2
        inv = self.freq_base ** (-2.0 * np.arange(half) / self.n_rot)  # [half]
        if self.rope_freqs is not None:
            inv = inv / self.rope_freqs
        theta = (self.freq_scale * pos.astype(np.float64))[:, None] * inv[None, :]  # [n, half]
        c = np.cos(theta).astype(self.dtype)[:, None, :]
        s = np.sin(theta).astype(self.dtype)[:, None, :]
        y = x.copy()
        if self.rope_type == ROPE_NORM:
            x0, x1 = x[..., 0:self.n_rot:2], x[..., 1:self.n_rot:2]
            y[..., 0:self.n_rot:2] = x0 * c - x1 * s
            y[..., 1:self.n_rot:2] = x0 * s + x1 * c
        else:
            x0, x1 = x[..., :half], x[..., half:self.n_rot]
            y[..., :half] = x0 * c - x1 * s
            y[..., half:self.n_rot] = x0 * s + x1 * c
        return y

    def attention(self, q, k, v, pos):
        """q [n, n_head, hd]; k, v [n_kv, n_head_kv, hd] (whole cache); pos [n] of the queries."""
        n, n_kv = q.shape[0], k.shape[0]
        group = self.n_head // self.n_head_kv
        kk = np.repeat(k, group, axis=1)  # head h -> kv head h // group
        vv = np.repeat(v, group, axis=1)
        if self.emu_kv:
            q = f16(q)
        scores = np.einsum("qhd,khd->hqk", q, kk) / math.sqrt(self.head_dim)  # [h, n, n_kv]
        mask = np.arange(n_kv)[None, :] > pos[:, None]  # key after query -> masked
        scores = np.where(mask[None], -np.inf, scores)
        scores = scores - scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p = p / p.sum(axis=-1, keepdims=True)
        if self.emu_kv:
            p = f16(p)
        return np.einsum("hqk,khd->qhd", p, vv)  # [n, n_head, hd]

    # ---- forward ---------------------------------------------------------

    def forward(self, tokens):
        """Appends tokens to the cache; returns logits [len(tokens), n_vocab] (self.dtype)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        n = len(tokens)
        hd = self.head_dim
        pos = np.arange(self.n_past, self.n_past + n)
        x = self.tok_embd[tokens]  # [n, n_embd]
        for il, L in enumerate(self.layers):
            p = L["names"]
            h = self.rmsnorm(x, L["attn_norm"])
            q = self.matmul(h, L["wq"], p + "attn_q.weight").reshape(n, self.n_head, hd)
            k = self.matmul(h, L["wk"], p + "attn_k.weight").reshape(n, self.n_head_kv, hd)
            v = self.matmul(h, L["wv"], p + "attn_v.weight").reshape(n, self.n_head_kv, hd)
            q = self.rope(q, pos)
            k = self.rope(k, pos)
            self._record(il, **{"attn_norm": h, "Qcur": q, "Kcur": k, "Vcur": v})
            if self.emu_kv:  # llama.cpp's default KV cache type is f16
                k, v = f16(k), f16(v)
            self.k_cache[il] = np.concatenate([self.k_cache[il], k])
            self.v_cache[il] = np.concatenate([self.v_cache[il], v])
            a = self.attention(q, self.k_cache[il], self.v_cache[il], pos)
            o = self.matmul(a.reshape(n, self.n_head * hd), L["wo"], p + "attn_output.weight")
            x = x + o
            h = self.rmsnorm(x, L["ffn_norm"])
            self._record(il, kqv_out=a, attn_out=o, ffn_inp=x, ffn_norm=h)
            g = self.matmul(h, L["w_gate"], p + "ffn_gate.weight")
            u = self.matmul(h, L["w_up"], p + "ffn_up.weight")
            with np.errstate(over="ignore"):  # exp(-g) = inf gives silu = -0, as it should
                act = g / (1.0 + np.exp(-g)) * u  # silu(gate) * up
            f = self.matmul(act, L["w_down"], p + "ffn_down.weight")
            x = x + f
            self._record(il, ffn_swiglu=act, ffn_out=f, l_out=x)
        self.n_past += n
        h = self.rmsnorm(x, self.output_norm)
        return self.matmul(h, self.output, self.output_name)

    def _record(self, il, **named):
        if self.trace is not None:
            for k, v in named.items():
                self.trace[f"{k}-{il}"] = v.reshape(v.shape[0], -1).copy()  # [n, features]

    def greedy(self, prompt, n_gen):
        """Fresh cache; returns the prompt's logits [n, n_vocab], n_gen greedy tokens (one token
        per forward step) and each step's margin (top-1 minus top-2 logit)."""
        self.reset()
        logits = self.forward(prompt)
        out, margins = [], []
        last = logits[-1]
        for _ in range(n_gen):
            t = int(np.argmax(last))
            top2 = np.partition(last, -2)[-2:]
            out.append(t)
            margins.append(float(top2[1] - top2[0]))
            last = self.forward([t])[-1]
        return logits, out, margins


# ---- llama.cpp side (llama-cpp-python) ------------------------------------


def llamacpp_open(path, n_ctx=512):
    from llama_cpp import Llama
    return Llama(model_path=path, logits_all=True, n_ctx=n_ctx, n_threads=2, verbose=False)


def llamacpp_tokenize(llm, text):
    """Token ids as llama.cpp makes them: BOS only when the model's metadata asks for it
    (tokenizer.ggml.add_bos_token), special tokens (<|im_start|> ...) parsed as such."""
    import llama_cpp
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)))
    return llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)


def llamacpp_logits(llm, tokens):
    """Logits for every prompt position [n, n_vocab] (float32), fresh cache."""
    llm.reset()
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float32)


def llamacpp_greedy(llm, tokens, n_gen):
    llm.reset()
    llm.eval(tokens)
    last = np.array(llm.scores[len(tokens) - 1])
    out = []
    for _ in range(n_gen):
        t = int(np.argmax(last))
        out.append(t)
        llm.eval([t])
        last = np.array(llm.scores[llm.n_tokens - 1])
    return out


def llamacpp_intermediates(path, tokens):
    """llama.cpp's own f32 intermediates ("attn_norm-0", "Qcur-0" after RoPE, "l_out-3", ...)
    for one batch, through the scheduler's eval callback: {name: [n, features]}. The last layer
    only keeps the last position, so only layers before it are complete."""
    import ctypes
    import llama_cpp as L

    class Tensor(ctypes.Structure):  # struct ggml_tensor (ggml.h, GGML_MAX_DIMS 4, MAX_SRC 10)
        _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p),
                    ("ne", ctypes.c_int64 * 4), ("nb", ctypes.c_size_t * 4), ("op", ctypes.c_int),
                    ("op_params", ctypes.c_int32 * 16), ("flags", ctypes.c_int32),
                    ("src", ctypes.c_void_p * 10), ("view_src", ctypes.c_void_p),
                    ("view_offs", ctypes.c_size_t), ("data", ctypes.c_void_p),
                    ("name", ctypes.c_char * 64), ("extra", ctypes.c_void_p),
                    ("padding", ctypes.c_char * 8)]

    out = {}

    @L.ggml_backend_sched_eval_callback
    def cb(tp, ask, user):
        t = ctypes.cast(tp, ctypes.POINTER(Tensor)).contents
        if ask:
            return True
        ne = list(t.ne)
        if t.type == 0 and t.data and t.nb[0] == 4 and t.nb[1] == 4 * ne[0] and \
                t.nb[2] == t.nb[1] * ne[1] and t.nb[3] == t.nb[2] * ne[2]:
            a = np.ctypeslib.as_array(ctypes.cast(t.data, ctypes.POINTER(ctypes.c_float)),
                                      shape=(ne[0] * ne[1] * ne[2] * ne[3],))
            rows = ne[1] if ne[2] * ne[3] == 1 else ne[2]  # [n, f] or [n, heads, hd]
            out[t.name.decode()] = a.reshape(rows, -1).copy()
        return True

    L.llama_backend_init()
    model = L.llama_model_load_from_file(path.encode(), L.llama_model_default_params())
    cp = L.llama_context_default_params()
    cp.n_ctx, cp.n_threads, cp.n_threads_batch = 512, 2, 2
    cp.cb_eval = cb
    ctx = L.llama_init_from_model(model, cp)
    arr = (L.llama_token * len(tokens))(*tokens)
    rc = L.llama_decode(ctx, L.llama_batch_get_one(arr, len(tokens)))
    L.llama_free(ctx)
    L.llama_model_free(model)
    if rc != 0:
        raise RuntimeError(f"llama_decode: {rc}")
    return out


def compare(ref_logits, cpp_logits):
    """(max |d| over all logits, fraction of positions whose argmax agrees)."""
    d = float(np.max(np.abs(ref_logits.astype(np.float64) - cpp_logits.astype(np.float64))))
    top = float(np.mean(np.argmax(ref_logits, axis=1) == np.argmax(cpp_logits, axis=1)))
    return d, top


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt", action="append", help="text (repeatable)")
    ap.add_argument("--emulate", action="store_true",
                    help="also run with llama.cpp's CPU roundings (act, kv, all)")
    ap.add_argument("--neox", action="store_true", help="also run with neox rope (should fail)")
    ap.add_argument("--layers", type=int, default=0, metavar="N",
                    help="compare the first N layers' intermediates with llama.cpp's own")
    args = ap.parse_args(argv)
    prompts = args.prompt or ["The capital of France is Paris, and the capital of Germany is"]

    import llama_cpp
    llm = llamacpp_open(args.model)
    print(f"llama.cpp rope type: {llama_cpp.llama_model_rope_type(llm.model)} (0 = NORM, 2 = NEOX)")
    variants = [("reference", LlamaRef(args.model))]
    if args.emulate:
        variants.append(("float32", LlamaRef(args.model, dtype=np.float32)))
        for e in ("kv", "act", "all"):
            variants.append((f"emulate={e}", LlamaRef(args.model, emulate=e)))
    if args.neox:
        variants.append(("neox rope (wrong)", LlamaRef(args.model, rope_type=ROPE_NEOX)))
    for text in prompts:
        toks = llamacpp_tokenize(llm, text)
        cpp = llamacpp_logits(llm, toks)
        print(f"prompt {text!r}: {len(toks)} tokens")
        base = None
        for name, m in variants:
            m.reset()
            ref = m.forward(toks)
            base = ref if base is None else base
            d, top = compare(ref, cpp)
            d0, top0 = compare(ref, base)
            print(f"  {name:18s} vs llama.cpp: max|d| {d:7.4f} top-1 {top * 100:5.1f}%"
                  f"   vs reference: max|d| {d0:7.4f} top-1 {top0 * 100:5.1f}%")
        if args.layers:
            inter = llamacpp_intermediates(args.model, toks)
            for name, m in variants[:1] + [v for v in variants if v[0] == "emulate=all"]:
                m.reset()
                m.trace = {}
                m.forward(toks)
                print(f"  intermediates, {name} vs llama.cpp (max|d| / max|x|):")
                for il in range(min(args.layers, m.n_layer - 1)):
                    row = []
                    for k in ("attn_norm", "Qcur", "Kcur", "Vcur", "kqv_out", "ffn_out", "l_out"):
                        key = f"{k}-{il}"
                        if key in inter and inter[key].shape == m.trace[key].shape:
                            dd = np.abs(m.trace[key] - inter[key]).max()
                            row.append(f"{k} {dd:.2g}/{np.abs(inter[key]).max():.3g}")
                    print(f"    layer {il:2d}: " + "  ".join(row))
                m.trace = None
    return 0


if __name__ == "__main__":
    sys.exit(main())
