// The grids of IQ2_XXS, IQ2_XS, IQ2_S and IQ1 as their quantizers search them (iq_quant_grid.h).
#include "quant/iq_quant_grid.h"

#include "quant/iq_grids.h"

namespace ternion::quant {

namespace {

uint64_t positions_of(uint64_t entry, const uint8_t (&levels)[3]) {
  uint64_t p = 0;
  for (int j = 0; j < 8; ++j) {
    const uint8_t v = grid_byte(entry, j);
    const int l = v == levels[0] ? 0 : v == levels[1] ? 1 : 2;
    p |= uint64_t(2 * l + 1) << (8 * j);
  }
  return p;
}

// The grid points nearest pos: those at the nwant smallest distinct squared distances, by distance and then by
// index (what GGUF's sort of (distance, index) pairs gives, without the sort: distances are small integers).
void nearest_points(const QuantGrid8& g, const int (&pos)[8], int nwant, std::vector<int>& d2,
                    std::vector<uint16_t>& out) {
  constexpr int kMaxD2 = 8 * 7 * 7;  // positions 1 .. 7
  bool present[kMaxD2 + 1] = {};
  for (size_t j = 0; j < g.points.size(); ++j) {
    int d = 0;
    for (int k = 0; k < 8; ++k) {
      const int diff = grid_byte(g.points[j], k) - pos[k];
      d += diff * diff;
    }
    d2[j] = d;
    present[d] = true;
  }
  int have = 0;
  for (int d = 0; d <= kMaxD2 && have < nwant; ++d) {
    if (!present[d]) continue;
    ++have;
    for (size_t j = 0; j < g.points.size(); ++j) {
      if (d2[j] == d) out.push_back(static_cast<uint16_t>(j));
    }
  }
}

QuantGrid8 build_grid(const uint64_t* entries, int n, const uint8_t (&levels)[3], int nwant) {
  QuantGrid8 g;
  g.points.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) g.points[static_cast<size_t>(i)] = positions_of(entries[i], levels);
  g.map.assign(kIqMapSize, -1);
  for (int i = 0; i < n; ++i) {
    int index = 0;
    for (int k = 0; k < 8; ++k) index |= ((grid_byte(g.points[static_cast<size_t>(i)], k) - 1) / 2) << (2 * k);
    g.map[static_cast<size_t>(index)] = i;
  }
  std::vector<int> d2(static_cast<size_t>(n));
  for (int i = 0; i < kIqMapSize; ++i) {
    if (g.map[static_cast<size_t>(i)] >= 0) continue;
    int pos[8];
    for (int k = 0; k < 8; ++k) pos[k] = 2 * ((i >> (2 * k)) & 3) + 1;
    g.map[static_cast<size_t>(i)] = -(static_cast<int>(g.neighbours.size()) + 1);
    const size_t start = g.neighbours.size();
    g.neighbours.push_back(0);
    nearest_points(g, pos, nwant, d2, g.neighbours);
    g.neighbours[start] = static_cast<uint16_t>(g.neighbours.size() - start - 1);
  }
  return g;
}

}  // namespace

// Built once, on first use; read-only after.
const QuantGrid8& quant_grid_iq2_xxs() {
  static const QuantGrid8 g = build_grid(kIq2XxsGrid, 256, {8, 25, 43}, 2);
  return g;
}

const QuantGrid8& quant_grid_iq2_xs() {
  static const QuantGrid8 g = build_grid(kIq2XsGrid, 512, {8, 25, 43}, 2);
  return g;
}

const QuantGrid8& quant_grid_iq2_s() {
  static const QuantGrid8 g = build_grid(kIq2SGrid, 1024, {8, 25, 43}, 1);
  return g;
}

const QuantGrid8& quant_grid_iq1() {
  static const QuantGrid8 g = build_grid(kIq1Grid, 2048, {0xff, 0x00, 0x01}, 3);
  return g;
}

}  // namespace ternion::quant
