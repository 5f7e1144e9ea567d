// One copy per distinct string (see string_pool.hpp).
#include "webhook/string_pool.hpp"

#include <algorithm>

namespace exportgate::webhook {

const std::string& Interned::empty_string() {
  static const std::string kEmpty;
  return kEmpty;
}

Interned StringPool::intern(std::string_view value) {
  if (value.empty()) return {};
  std::lock_guard lock(mu_);
  if (auto it = strings_.find(value); it != strings_.end()) return Interned(it->second);
  if (strings_.size() >= sweep_at_) sweep();
  auto copy = std::make_shared<const std::string>(value);
  strings_.emplace(std::string_view(*copy), copy);
  return Interned(std::move(copy));
}

size_t StringPool::size() const {
  std::lock_guard lock(mu_);
  return strings_.size();
}

void StringPool::sweep() {
  std::erase_if(strings_, [](const auto& entry) { return entry.second.use_count() == 1; });
  sweep_at_ = std::max<size_t>(64, 2 * strings_.size());
}

}  // namespace exportgate::webhook
