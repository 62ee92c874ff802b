#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_gguf (fuzz/seeds/gguf/): a few tiny GGUF files, valid and broken.

Assembled here byte by byte, independently of our C++ writer, so the seeds also check the reader against the
spec as read by someone else. Run from anywhere: python3 fuzz/make_gguf_seeds.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "gguf")

# GGUF value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?", U64: "<Q",
       I64: "<q", F64: "<d"}
# ggml tensor types: id -> (block size, bytes per block)
F32_T, F16_T, Q4_0_T, Q8_0_T, Q4_K_T, TQ2_0_T = 0, 1, 2, 8, 12, 35
BLOCK = {F32_T: (1, 4), F16_T: (1, 2), Q4_0_T: (32, 18), Q8_0_T: (32, 34), Q4_K_T: (256, 144), TQ2_0_T: (256, 66)}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def value(t, v):
    if t == STR:
        return gstr(v)
    if t == ARR:
        elem, items = v
        out = struct.pack("<IQ", elem, len(items))
        return out + b"".join(value(elem, x) for x in items)
    return struct.pack(FMT[t], v)


def gguf(kvs, tensors=(), version=3, alignment=32, pad_end=True):
    """kvs: [(key, type, value)]; tensors: [(name, shape, type, data bytes)]."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    head += b"".join(gstr(k) + struct.pack("<I", t) + value(t, v) for k, t, v in kvs)
    offset, data = 0, b""
    for name, shape, ttype, payload in tensors:
        head += gstr(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        head += struct.pack("<IQ", ttype, offset)
        padded = payload + b"\0" * (-len(payload) % alignment)
        data += padded
        offset += len(padded)
    if tensors or pad_end:
        head += b"\0" * (-len(head) % alignment)
    return head + data


def tensor(name, shape, ttype, fill=7):
    n = 1
    for d in shape:
        n *= d
    bs, bb = BLOCK[ttype]
    return (name, shape, ttype, bytes((fill + i) % 251 for i in range(n // bs * bb)))


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    seeds["empty-v3.gguf"] = gguf([])
    seeds["every-type.gguf"] = gguf([
        ("u8", U8, 200), ("i8", I8, -100), ("u16", U16, 60000), ("i16", I16, -30000), ("u32", U32, 4000000000),
        ("i32", I32, -2000000000), ("f32", F32, 1e-5), ("bool", BOOL, True), ("str", STR, "héllo\n"),
        ("u64", U64, 2**64 - 1), ("i64", I64, -2**63), ("f64", F64, 0.1),
        ("arr.i32", ARR, (I32, [1, -2, 3])), ("arr.f32", ARR, (F32, [0.5, -1.5])),
        ("arr.bool", ARR, (BOOL, [True, False])),
        ("arr.str", ARR, (STR, ["a", "", "Ġthe"])), ("arr.empty", ARR, (U64, [])),
        ("arr.nested", ARR, (ARR, [(I8, [1, 2]), (I8, [])])),
        ("arr.deep", ARR, (ARR, [(ARR, [(ARR, [(STR, ["x"])])])])),
    ])
    seeds["tiny-model.gguf"] = gguf(
        [("general.architecture", STR, "llama"), ("llama.block_count", U32, 1),
         ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5)],
        [tensor("token_embd.weight", [32, 4], Q8_0_T), tensor("blk.0.attn_norm.weight", [32], F32_T),
         tensor("blk.0.attn_q.weight", [256, 1], Q4_K_T), tensor("blk.0.ffn_up.weight", [8, 2, 1, 1], F16_T),
         tensor("blk.0.ffn_down.weight", [256], TQ2_0_T), tensor("empty", [0, 3], F32_T)])
    seeds["align64-v2.gguf"] = gguf(
        [("general.alignment", U64, 64), ("general.name", STR, "v2")],
        [tensor("a", [64], Q4_0_T), tensor("b", [3], F32_T)], version=2, alignment=64)
    seeds["vocab-unpadded.gguf"] = gguf(
        [("tokenizer.ggml.model", STR, "gpt2"), ("tokenizer.ggml.tokens", ARR, (STR, [f"t{i}" for i in range(12)])),
         ("tokenizer.ggml.scores", ARR, (F32, [float(-i) for i in range(12)])),
         ("tokenizer.ggml.token_type", ARR, (I32, [1] * 12)), ("tokenizer.ggml.merges", ARR, (STR, ["t 1", "t 2"])),
         ("tokenizer.ggml.add_bos_token", BOOL, False)], pad_end=False)

    model = seeds["tiny-model.gguf"]
    seeds["bad-magic.gguf"] = b"GGML" + model[4:64]
    seeds["v1.gguf"] = model[:4] + struct.pack("<I", 1) + model[8:64]
    seeds["byteswapped.gguf"] = model[:4] + struct.pack(">I", 3) + model[8:64]
    seeds["truncated.gguf"] = model[:len(model) // 2]
    seeds["overlap.gguf"] = gguf([], [tensor("a", [8], F32_T), tensor("b", [8], F32_T)]).replace(
        struct.pack("<IQ", F32_T, 32), struct.pack("<IQ", F32_T, 0))
    seeds["negative-dim.gguf"] = gguf([], [("n", [2**64 - 4], F32_T, b"")])
    deep = (U8, [1])
    for _ in range(8):  # nine levels of arrays, one more than the reader takes
        deep = (ARR, [deep])
    seeds["too-deep.gguf"] = gguf([("deep", ARR, deep)])
    seeds["huge-count.gguf"] = b"GGUF" + struct.pack("<IQQ", 3, 2**40, 2**40) + b"\0" * 40

    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds, {sum(len(d) for d in seeds.values())} bytes in {OUT}")


if __name__ == "__main__":
    main()
