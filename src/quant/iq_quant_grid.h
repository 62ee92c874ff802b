// The 8-dimensional i-quant grids (IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S/IQ1_M) as GGUF's quantizers search them: each
// point as positions 2l + 1 per coordinate (levels l = 0, 1, 2 for the grid's three values), the map from a
// point's levels (2 bits per coordinate) to its grid index, or, for levels off the grid, to -(1 + offset) of its
// neighbour list in `neighbours`: a count, then the indices of the grid points at the nwant smallest distinct
// squared distances (IQ2_S 1, IQ2_XXS and IQ2_XS 2, IQ1 3), by distance and then index.
#pragma once

#include <cstdint>
#include <vector>

namespace ternion::quant {

constexpr int kIqMapSize = 43692;  // levels up to 2 in each of 8 coordinates: 0xaaaa + 2

struct QuantGrid8 {
  std::vector<uint64_t> points;
  std::vector<int> map;
  std::vector<uint16_t> neighbours;
};

// Each built once, on first use (thread-safe), and read-only after.
const QuantGrid8& quant_grid_iq2_xxs();
const QuantGrid8& quant_grid_iq2_xs();
const QuantGrid8& quant_grid_iq2_s();
const QuantGrid8& quant_grid_iq1();

}  // namespace ternion::quant
