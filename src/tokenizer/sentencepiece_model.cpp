// tokenizer.model reader: the protobuf wire format (varints, length-delimited fields, fixed32 floats) over the few
// fields of ModelProto that describe the vocabulary; every other field is skipped by its wire type.
#include "ternion/tokenizer/sentencepiece_model.h"

#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/io/mapped_file.h"

namespace ternion {

namespace {

constexpr size_t kMaxPieces = size_t{1} << 22;
constexpr size_t kMaxPieceBytes = size_t{1} << 16;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLength = 2, kFixed32 = 5 };

struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t varint = 0;             // kVarint
  uint32_t fixed32 = 0;            // kFixed32
  std::span<const uint8_t> bytes;  // kLength
};

// Reads the fields of one message in order. `what` names the message in errors.
class ProtoReader {
 public:
  ProtoReader(std::span<const uint8_t> bytes, const std::string& file, std::string what)
      : bytes_(bytes), file_(file), what_(std::move(what)) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw Error(file_ + ": " + what_ + ": " + problem + " (at byte " + std::to_string(pos_) + " of the message)");
  }

  bool next(Field& f) {
    if (pos_ == bytes_.size()) return false;
    const uint64_t key = varint("field key");
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = static_cast<uint32_t>(key & 7);
    if (key >> 3 == 0 || key >> 3 > 0x1FFFFFFF) fail("invalid field number " + std::to_string(key >> 3));
    switch (f.wire) {
      case kVarint:
        f.varint = varint("varint");
        break;
      case kFixed64:
        need(8, "fixed64");
        pos_ += 8;
        break;
      case kLength: {
        const uint64_t n = varint("length");
        need(n, "length-delimited field " + std::to_string(f.number));
        f.bytes = bytes_.subspan(pos_, static_cast<size_t>(n));
        pos_ += static_cast<size_t>(n);
        break;
      }
      case kFixed32:
        need(4, "fixed32");
        f.fixed32 = 0;
        for (size_t i = 0; i < 4; ++i) f.fixed32 |= static_cast<uint32_t>(bytes_[pos_ + i]) << (8 * i);
        pos_ += 4;
        break;
      default:
        fail("field " + std::to_string(f.number) + " has unsupported wire type " + std::to_string(f.wire));
    }
    return true;
  }

  void expect_wire(const Field& f, uint32_t wire, const char* what) const {
    if (f.wire != wire) {
      fail("field " + std::to_string(f.number) + " (" + what + ") has wire type " + std::to_string(f.wire) +
           ", expected " + std::to_string(wire));
    }
  }

  // An int32 field (negative values are written as 10-byte varints).
  int32_t int32(const Field& f, const char* what) const {
    expect_wire(f, kVarint, what);
    const auto v = static_cast<int64_t>(f.varint);
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
      fail(std::string(what) + " " + std::to_string(v) + " does not fit an int32");
    return static_cast<int32_t>(v);
  }

 private:
  void need(uint64_t n, const std::string& what) const {
    if (n > bytes_.size() - pos_) {
      fail(what + " of " + std::to_string(n) + " bytes runs past the end (" + std::to_string(bytes_.size() - pos_) +
           " bytes remain)");
    }
  }

  uint64_t varint(const char* what) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == bytes_.size()) fail(std::string(what) + " runs past the end");
      const uint8_t b = bytes_[pos_++];
      if (shift == 63 && b > 1) fail(std::string(what) + " does not fit in 64 bits");
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail(std::string(what) + " is longer than 10 bytes");
  }

  std::span<const uint8_t> bytes_;
  const std::string& file_;
  std::string what_;
  size_t pos_ = 0;
};

SentencePieceModel::Piece read_piece(std::span<const uint8_t> bytes, const std::string& file, size_t index) {
  ProtoReader r(bytes, file, "piece " + std::to_string(index));
  SentencePieceModel::Piece p;
  Field f;
  while (r.next(f)) {
    if (f.number == 1) {
      r.expect_wire(f, kLength, "piece");
      if (f.bytes.size() > kMaxPieceBytes) r.fail("piece longer than " + std::to_string(kMaxPieceBytes) + " bytes");
      p.text.assign(reinterpret_cast<const char*>(f.bytes.data()), f.bytes.size());
    } else if (f.number == 2) {
      r.expect_wire(f, kFixed32, "score");
      p.score = std::bit_cast<float>(f.fixed32);
      if (!std::isfinite(p.score)) r.fail("score is not a finite number");
    } else if (f.number == 3) {
      const int32_t type = r.int32(f, "type");
      if (type < 1 || type > 6) r.fail("type " + std::to_string(type) + " is not one of 1..6");
      p.type = static_cast<TokenType>(type);
    }
  }
  if (p.text.empty()) r.fail("empty piece");
  return p;
}

void read_trainer_spec(std::span<const uint8_t> bytes, const std::string& file, SentencePieceModel& m) {
  ProtoReader r(bytes, file, "trainer_spec");
  Field f;
  while (r.next(f)) {
    switch (f.number) {
      case 3: {
        const int32_t type = r.int32(f, "model_type");
        if (type < 1 || type > 4) r.fail("model_type " + std::to_string(type) + " is not one of 1..4");
        m.model_type = static_cast<SentencePieceModel::Type>(type);
        break;
      }
      case 35:
        m.byte_fallback = r.int32(f, "byte_fallback") != 0;
        break;
      case 40:
        m.unk_id = r.int32(f, "unk_id");
        break;
      case 41:
        m.bos_id = r.int32(f, "bos_id");
        break;
      case 42:
        m.eos_id = r.int32(f, "eos_id");
        break;
      case 43:
        m.pad_id = r.int32(f, "pad_id");
        break;
      default:
        break;
    }
  }
}

void read_normalizer_spec(std::span<const uint8_t> bytes, const std::string& file, SentencePieceModel& m) {
  ProtoReader r(bytes, file, "normalizer_spec");
  Field f;
  while (r.next(f)) {
    if (f.number == 3) m.add_dummy_prefix = r.int32(f, "add_dummy_prefix") != 0;
  }
}

}  // namespace

SentencePieceModel parse_sentencepiece_model(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.size() > kMaxSentencePieceModelBytes) {
    throw Error(name + ": " + std::to_string(bytes.size()) + " bytes, more than the " +
                std::to_string(kMaxSentencePieceModelBytes) + " accepted for a tokenizer.model");
  }
  SentencePieceModel m;
  ProtoReader r(bytes, name, "ModelProto");
  Field f;
  while (r.next(f)) {
    if (f.number == 1) {
      r.expect_wire(f, kLength, "pieces");
      if (m.pieces.size() == kMaxPieces) r.fail("more than " + std::to_string(kMaxPieces) + " pieces");
      m.pieces.push_back(read_piece(f.bytes, name, m.pieces.size()));
    } else if (f.number == 2) {
      r.expect_wire(f, kLength, "trainer_spec");
      read_trainer_spec(f.bytes, name, m);
    } else if (f.number == 3) {
      r.expect_wire(f, kLength, "normalizer_spec");
      read_normalizer_spec(f.bytes, name, m);
    }
  }
  if (m.pieces.empty()) throw Error(name + ": no pieces: not a SentencePiece tokenizer.model");
  return m;
}

SentencePieceModel load_sentencepiece_model(const std::string& path) {
  const MappedFile map(path);
  return parse_sentencepiece_model(map.bytes(), path);
}

}  // namespace ternion
