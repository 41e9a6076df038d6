#!/usr/bin/env python3
"""Writes the seeds of fuzz.program_cache into corpus_program_cache/: program cache entries in
the layout of runtime/program_cache.c, made for the key of fuzz_program_cache.c."""
import os
import struct

MAGIC = b"CLGPBIN\n"
VERSION = 1
KEY = dict(platform=b"OpenCL 3.0 fuzz", device=b"fuzz device", driver=b"1.0", options=b"-DX=1",
           is_il=0, input_len=100, input_hash=0x0123456789ABCDEF)


def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def entry(payload, **over):
    k = dict(KEY, **over)
    head = MAGIC + struct.pack("<IIQQQQ", VERSION, k["is_il"], k["input_len"], k["input_hash"],
                               len(payload), fnv1a(payload))
    for s in (k["platform"], k["device"], k["driver"], k["options"]):
        head += struct.pack("<I", len(s)) + s
    return head + struct.pack("<Q", fnv1a(head)) + payload


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus_program_cache")
    os.makedirs(out, exist_ok=True)
    payload = bytes(range(16))
    seeds = {"valid.bin": entry(payload), "other_key.bin": entry(payload, options=b"-DX=2"),
             "cut.bin": entry(payload)[:-1]}
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
