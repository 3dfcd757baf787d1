// A transparent string hash, so that maps keyed by std::string can be
// searched with a std::string_view without building a string per lookup.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace aegis {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace aegis
