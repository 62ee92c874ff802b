#include "ternion/backend/backend.h"

#include <algorithm>

namespace ternion {

int64_t KvCache::capacity(int64_t layer) const {
  const int64_t w = spec_.layer_window[static_cast<size_t>(layer)];
  return w > 0 ? std::min(spec_.n_ctx, w - 1 + spec_.n_batch) : spec_.n_ctx;
}

bool KvCache::can_start_at(int32_t slot, int64_t pos) const {
  if (pos == 0) return true;  // reads no earlier key
  const auto n_layer = static_cast<int64_t>(spec_.layer_window.size());
  for (int64_t il = 0; il < n_layer; ++il) {
    const int64_t w = spec_.layer_window[static_cast<size_t>(il)];
    if (start(slot, il) > std::max<int64_t>(0, pos - w + 1)) return false;
  }
  return true;
}

}  // namespace ternion
