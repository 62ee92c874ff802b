#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_safetensors (fuzz/seeds/safetensors/): tiny safetensors files, valid and broken.

Assembled here byte by byte (u64 header size, JSON header, data), independently of the C++ reader.
Run from anywhere: python3 fuzz/make_safetensors_seeds.py
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "safetensors")


def st(header, data=b"", pad=True):
    text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    raw = text.encode()
    if pad:  # real writers pad the header with spaces to a multiple of 8
        raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def tensor(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


SEEDS = {
    # A tiny llama-like checkpoint: several dtypes, a metadata map, tensors not in offset order.
    "tiny-model": st({
        "__metadata__": {"format": "pt"},
        "model.embed_tokens.weight": tensor("F32", [2, 2], 0, 16),
        "model.norm.weight": tensor("BF16", [2], 16, 20),
        "lm_head.weight": tensor("F16", [2, 2], 20, 28),
        "model.layers.0.self_attn.q_proj.weight": tensor("F32", [2, 2], 28, 44),
    }, f32(1, 2, 3, 4) + bytes([0x80, 0x3F, 0, 0x40]) + bytes(8) + f32(0.5, -0.5, 0.25, 0)),
    "every-dtype": st({k: tensor(k, [1], i * 8, i * 8 + s)
                       for i, (k, s) in enumerate([("F32", 4), ("F16", 2), ("BF16", 2), ("F64", 8), ("I8", 1),
                                                   ("I16", 2), ("I32", 4), ("I64", 8), ("U8", 1), ("U16", 2),
                                                   ("U32", 4), ("U64", 8), ("BOOL", 1), ("F8_E4M3", 1),
                                                   ("F8_E5M2", 1), ("F8_E8M0", 1)])}, bytes(16 * 8)),
    "empty": st({}),
    "scalar-and-empty": st({"s": tensor("I64", [], 0, 8), "e": tensor("F32", [0, 3], 8, 8)}, bytes(8)),
    "overlap": st({"a": tensor("F32", [2], 0, 8), "b": tensor("F32", [2], 4, 12)}, bytes(12)),
    "size-mismatch": st({"a": tensor("BF16", [3], 0, 8)}, bytes(8)),
    "past-end": st({"a": tensor("F32", [4], 0, 16)}, bytes(8)),
    "unknown-dtype": st({"a": tensor("Q4_0", [32], 0, 18)}, bytes(18)),
    "duplicate-key": st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                        '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4)),
    "bad-metadata": st({"__metadata__": {"format": 1}}),
    "huge-header-size": struct.pack("<Q", 1 << 40) + b"{}",
    "truncated": st({"a": tensor("F32", [2], 0, 8)}, bytes(8))[:20],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(SEEDS), OUT))


if __name__ == "__main__":
    main()
