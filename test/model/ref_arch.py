#!/usr/bin/env python3
"""float64 reference of the forward pass of the tiny synthetic models of every architecture
(llama, gemma3, qwen2, qwen3, phi3) over a GGUF file, for test/model/gen_arch_golden.py: it
measures how far llama.cpp's logits are from exact arithmetic on the stored weights.

Check against llama.cpp (prints the max difference per position range):
    ~/.cache/clgraph/llamacpp-venv/bin/python test/model/ref_arch.py MODEL.gguf

What it computes, per llama.cpp 0.3.36's graphs (src/models/<arch>.cpp):
  * x = token_embd[tokens]; gemma3 scales it by sqrt(n_embd).
  * per layer: h = RMSNorm(x) * attn_norm; Q, K, V = h @ W (phi3: one attn_qkv whose output rows
    are Q, then K, then V; qwen2 adds attn_q/k/v.bias); gemma3 and qwen3 RMS-normalise each head
    of Q and K with attn_q_norm / attn_k_norm before RoPE.
  * RoPE: llama pairs (2i, 2i+1) (NORM, with rope_freqs.weight's divisors when present); the
    others pairs (i, i + d/2) (NEOX); theta = pos * base^(-2i/d). gemma3's sliding-window layers
    use base 10000 (llama.cpp's rope_freq_base_train_swa default), its global layers
    rope.freq_base.
  * causal attention with scale 1/sqrt(head_dim), GQA head h reading kv head h / (H / KV);
    gemma3's sliding-window layers (llama.cpp's set_swa_pattern(6): layer il is one when
    il % 6 < 5) mask key position p0 for query p1 when p1 - p0 >= sliding_window.
  * x += attn @ attn_output (gemma3: RMSNorm'd with post_attention_norm first).
  * FFN on RMSNorm(x) * ffn_norm: SiLU(gate) * up (phi3: gate and up are the first and second
    n_ff rows of ffn_up), gemma3 GELU (tanh form)(gate) * up; down; gemma3 RMSNorm'd with
    post_ffw_norm; x += it.
  * logits = RMSNorm(x) * output_norm @ output.weight (token_embd when absent).
"""
import math
import sys

import numpy as np

import gguf


class ArchRef:
    def __init__(self, path):
        r = gguf.GGUFReader(path)
        f = lambda k, d=None: (r.fields[k].contents() if k in r.fields else d)  # noqa: E731
        self.arch = a = f("general.architecture")
        self.E = int(f(a + ".embedding_length"))
        self.L = int(f(a + ".block_count"))
        self.H = int(f(a + ".attention.head_count"))
        self.KV = int(f(a + ".attention.head_count_kv", self.H))
        self.D = int(f(a + ".attention.key_length", self.E // self.H))
        self.eps = float(f(a + ".attention.layer_norm_rms_epsilon"))
        self.base = float(f(a + ".rope.freq_base", 10000.0))
        self.n_rot = int(f(a + ".rope.dimension_count", self.D))
        self.swa = int(f(a + ".attention.sliding_window", 0)) if a == "gemma3" else 0
        self.t = {}
        for t in r.tensors:
            ne = [int(x) for x in t.shape]
            self.t[t.name] = gguf.quants.dequantize(t.data, t.tensor_type).reshape(
                ne[::-1]).astype(np.float64)
        self.out = self.t.get("output.weight", self.t["token_embd.weight"])

    def rms(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def rope(self, x, pos, base):
        """x [n, heads, D]; rotates the first n_rot dims of each head."""
        half = self.n_rot // 2
        inv = base ** (-np.arange(half, dtype=np.float64) * 2 / self.n_rot)
        if self.arch == "llama" and "rope_freqs.weight" in self.t:
            inv = inv / self.t["rope_freqs.weight"]
        th = pos[:, None] * inv[None, :]
        c, s = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
        y = x.copy()
        if self.arch == "llama":  # NORM: pairs (2i, 2i+1)
            a, b = x[..., 0:self.n_rot:2], x[..., 1:self.n_rot:2]
            y[..., 0:self.n_rot:2], y[..., 1:self.n_rot:2] = a * c - b * s, a * s + b * c
        else:  # NEOX: pairs (i, i + n_rot/2)
            a, b = x[..., :half], x[..., half:self.n_rot]
            y[..., :half], y[..., half:self.n_rot] = a * c - b * s, a * s + b * c
        return y

    def is_swa(self, il):
        return self.swa > 0 and il % 6 < 5

    def forward(self, tokens):
        """logits [len(tokens), n_vocab] float64 of the prompt from position 0."""
        n, E, H, KV, D = len(tokens), self.E, self.H, self.KV, self.D
        T = self.t
        x = T["token_embd.weight"][np.asarray(tokens)]
        if self.arch == "gemma3":
            x = x * math.sqrt(E)
        pos = np.arange(n, dtype=np.float64)
        for il in range(self.L):
            p = f"blk.{il}."
            h = self.rms(x, T[p + "attn_norm.weight"])
            if self.arch == "phi3":
                qkv = h @ T[p + "attn_qkv.weight"].T
                q, k, v = qkv[:, :H * D], qkv[:, H * D:(H + KV) * D], qkv[:, (H + KV) * D:]
            else:
                q, k, v = (h @ T[p + f"attn_{w}.weight"].T for w in "qkv")
                if self.arch == "qwen2":
                    q, k, v = (y + T[p + f"attn_{w}.bias"] for y, w in zip((q, k, v), "qkv"))
            q, k, v = q.reshape(n, H, D), k.reshape(n, KV, D), v.reshape(n, KV, D)
            if self.arch in ("gemma3", "qwen3"):
                q = self.rms(q, T[p + "attn_q_norm.weight"])
                k = self.rms(k, T[p + "attn_k_norm.weight"])
            base = 10000.0 if self.is_swa(il) else self.base
            q, k = self.rope(q, pos, base), self.rope(k, pos, base)
            mask = pos[None, :] > pos[:, None]  # [query, key]: future keys
            if self.is_swa(il):
                mask |= pos[:, None] - pos[None, :] >= self.swa
            att = np.empty((n, H, D))
            for hh in range(H):
                kh = hh // (H // KV)
                sc = q[:, hh, :] @ k[:, kh, :].T / math.sqrt(D)
                sc[mask] = -np.inf
                sc = np.exp(sc - sc.max(axis=1, keepdims=True))
                sc /= sc.sum(axis=1, keepdims=True)
                att[:, hh, :] = sc @ v[:, kh, :]
            o = att.reshape(n, H * D) @ T[p + "attn_output.weight"].T
            if self.arch == "gemma3":
                o = self.rms(o, T[p + "post_attention_norm.weight"])
            x = x + o
            h = self.rms(x, T[p + "ffn_norm.weight"])
            if self.arch == "phi3":
                gu = h @ T[p + "ffn_up.weight"].T
                F = gu.shape[1] // 2
                g, u = gu[:, :F], gu[:, F:]
            else:
                g, u = h @ T[p + "ffn_gate.weight"].T, h @ T[p + "ffn_up.weight"].T
            if self.arch == "gemma3":
                act = 0.5 * g * (1 + np.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3)))
            else:
                act = g / (1 + np.exp(-g))
            o = (act * u) @ T[p + "ffn_down.weight"].T
            if self.arch == "gemma3":
                o = self.rms(o, T[p + "post_ffw_norm.weight"])
            x = x + o
        return self.rms(x, T["output_norm.weight"]) @ self.out.T


def main(argv):
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
    import gen_arch_golden as g
    path = argv[1]
    tokens, _ = g.prompt(path)
    ref = ArchRef(path).forward(tokens)
    cpp = g.llamacpp_logits(path, tokens).astype(np.float64)
    d = np.abs(ref - cpp).max(axis=1)
    print(f"{path}: max |llama.cpp - reference| positions 0-7 {d[:8].max():.3g}, "
          f"8-{len(d) - 1} {d[8:].max():.3g}; logits rms {np.sqrt(np.mean(ref ** 2)):.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
