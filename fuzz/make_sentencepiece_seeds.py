#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_sentencepiece (fuzz/seeds/sentencepiece/): tiny tokenizer.model files.

A ModelProto in protobuf wire format, assembled here byte by byte: pieces (piece, score, type), a trainer_spec
(model_type, byte_fallback, special ids), a normalizer_spec, and fields the reader must skip.
Run from anywhere: python3 fuzz/make_sentencepiece_seeds.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "sentencepiece")


def varint(v):
    v &= (1 << 64) - 1  # negative int32 values are written as 10-byte varints
    out = b""
    while True:
        byte = v & 0x7F
        v >>= 7
        out += bytes([byte | 0x80 if v else byte])
        if not v:
            return out


def field_len(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def piece(text, score, piece_type=None):
    m = field_len(1, text.encode()) + varint(2 << 3 | 5) + struct.pack("<f", score)
    if piece_type is not None:
        m += field_varint(3, piece_type)
    return field_len(1, m)


PIECES = (piece("<unk>", 0, 2) + piece("<s>", 0, 3) + piece("</s>", 0, 3) + piece("<0x0A>", 0, 6) +
          piece("\u2581the", -1.5) + piece("a", -2.0, 4))
TRAINER = field_len(2, field_varint(3, 2) + field_varint(35, 1) + field_varint(40, 0) + field_varint(41, 1) +
                    field_varint(42, 2) + field_varint(43, -1))
NORMALIZER = field_len(3, field_len(1, b"identity") + field_varint(3, 1))

SEEDS = {
    "bpe-model": PIECES + TRAINER + NORMALIZER,
    "pieces-only": PIECES,
    "unigram": PIECES + field_len(2, field_varint(3, 1)),
    "unknown-fields": PIECES + varint(9 << 3 | 5) + bytes(4) + varint(10 << 3 | 1) + bytes(8) + TRAINER,
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name + ".model"), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(SEEDS), OUT))


if __name__ == "__main__":
    main()
