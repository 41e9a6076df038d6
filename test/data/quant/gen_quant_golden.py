#!/usr/bin/env python3
# Golden vectors for test/unit/test_quant.c, made with the reference `gguf` Python package
# (gguf.quants, from llama.cpp's gguf-py) on seeded random inputs plus edge cases.
#
# Re-run (from the repository root; needs numpy and gguf, e.g. the venv of scripts/install-deps.sh):
#   /root/.cache/clgraph/venv/bin/python test/data/quant/gen_quant_golden.py
# It rewrites test/data/quant/<type>.bin. Layout of each file (little-endian):
#   char magic[4] = "CLGQ"; u32 version = 1; u32 ggml type id; u32 n (elements);
#   u32 has_input; u32 q_bytes;
#   f32 input[n]        only when has_input: the floats given to gguf.quants.quantize
#   u8  q[q_bytes]      quantize(input) when has_input, else synthetic random blocks
#   f32 deq[n]          gguf.quants.dequantize(q)
import os
import struct

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240611)


def legacy_inputs(nblocks=16):
    """Blocks of 32 with varied scales and the edge cases of ggml's reference rounding."""
    blocks = []
    for i in range(nblocks - 8):
        scale = 10.0 ** rng.uniform(-4, 3)
        blocks.append(rng.standard_normal(32) * scale)
    blocks.append(np.zeros(32))                                   # d = 0, id = 0
    blocks.append(np.full(32, 0.75))                              # constant: Q4_1 d = 0
    blocks.append(rng.uniform(-1e-7, 1e-7, 32))                   # f16 subnormal scale
    blocks.append(rng.uniform(-6e4, 6e4, 32))                     # large values
    b = rng.uniform(-1, 1, 32); b[5] = -3.0; blocks.append(b)     # max magnitude is negative
    # Q8_0 ties: amax 127 gives d = 1, so k + 0.5 rounds away from zero
    b = np.array([127.0] + [k + 0.5 for k in range(-15, 16)]); blocks.append(b)
    # Q4_0 ties: max -8 gives d = 1 (id = -1), x * id + 8.5 lands on integers
    b = np.array([-8.0] + [k * 0.5 for k in range(-15, 16)]); blocks.append(b)
    # Q4_1 ties: min 0, max 15 gives d = 1, x + 0.5 on integers
    b = np.array([0.0, 15.0] + [k * 0.5 for k in range(30)]); blocks.append(b)
    return np.concatenate(blocks).astype(np.float32)


def float_inputs():
    """Random magnitudes across the f16 / bf16 range plus rounding ties and specials."""
    mags = 2.0 ** rng.uniform(-30, 17, 448)
    x = (mags * rng.choice([-1.0, 1.0], 448)).astype(np.float32)
    special = np.array([
        0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, -65520.0, 1e10, -1e10,
        2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26, 2.0 ** -26, 2.0 ** -14, 2.0 ** -14 - 2.0 ** -25,
        1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -9,
        3.3895314e38, 3.4028235e38, -3.4028235e38, 1e-40, -1e-40, 1e-45,
        np.inf, -np.inf, 0.1, 1 / 3, -2.5e-3,
    ], dtype=np.float32)
    x = np.concatenate([x, special])
    pad = (-len(x)) % 32
    return np.concatenate([x, rng.standard_normal(pad).astype(np.float32)])


def f16_bytes(values):
    return np.asarray(values, dtype=np.float32).astype(np.float16).view(np.uint8)


def k_blocks(qtype, nblocks=6):
    """Random super-blocks with sane f16 scales (random bytes would give NaN / inf scales)."""
    size = {T.Q4_K: 144, T.Q5_K: 176, T.Q6_K: 210}[qtype]
    raw = rng.integers(0, 256, (nblocks, size), dtype=np.uint8)
    d = rng.uniform(1e-4, 2e-2, nblocks) * rng.choice([-1.0, 1.0], nblocks)
    dmin = rng.uniform(1e-4, 2e-2, nblocks)
    if qtype == T.Q6_K:
        raw[:, 208:210] = f16_bytes(d).reshape(nblocks, 2)
    else:
        raw[:, 0:2] = f16_bytes(d).reshape(nblocks, 2)
        raw[:, 2:4] = f16_bytes(dmin).reshape(nblocks, 2)
    return raw.reshape(-1)


def write(name, qtype, x, q):
    q = np.ascontiguousarray(q).view(np.uint8).reshape(-1)
    deq = quants.dequantize(q, qtype).astype(np.float32).reshape(-1)
    n = deq.size
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(b"CLGQ")
        f.write(struct.pack("<5I", 1, int(qtype), n, 1 if x is not None else 0, q.size))
        if x is not None:
            assert x.size == n
            f.write(x.astype("<f4").tobytes())
        f.write(q.tobytes())
        f.write(deq.astype("<f4").tobytes())
    print(f"{name}.bin: {n} values, {q.size} quantized bytes")


def main():
    for name, qtype in (("f32", T.F32), ("f16", T.F16), ("bf16", T.BF16)):
        x = float_inputs()
        with np.errstate(over="ignore"):  # 65520 and beyond become inf, as intended
            write(name, qtype, x, quants.quantize(x, qtype))
    for name, qtype in (("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1)):
        x = legacy_inputs()
        write(name, qtype, x, quants.quantize(x, qtype))
    for name, qtype in (("q4_k", T.Q4_K), ("q5_k", T.Q5_K), ("q6_k", T.Q6_K)):
        write(name, qtype, None, k_blocks(qtype))
    # last, so that the files above keep their random inputs
    for name, qtype in (("q5_0", T.Q5_0), ("q5_1", T.Q5_1)):
        x = legacy_inputs()
        write(name, qtype, x, quants.quantize(x, qtype))


if __name__ == "__main__":
    main()
