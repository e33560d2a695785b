#include "server/router.h"

#include <algorithm>
#include <cctype>

namespace rw::server {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "Example.com:8080" -> "example.com"; "[::1]:80" -> "[::1]".
std::string host_without_port(std::string_view host) {
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    return lower(close == std::string_view::npos ? host : host.substr(0, close + 1));
  }
  size_t colon = host.find(':');
  return lower(colon == std::string_view::npos ? host : host.substr(0, colon));
}

bool prefix_matches(std::string_view prefix, std::string_view path) {
  if (prefix == "/") return true;
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

}  // namespace

Router::Router(const std::vector<RouteConfig>& routes,
               const std::vector<std::string>& worker_names) {
  for (const auto& route : routes) {
    Entry e;
    e.prefix = route.path_prefix.empty() ? "/" : route.path_prefix;
    while (e.prefix.size() > 1 && e.prefix.back() == '/') e.prefix.pop_back();
    e.host = host_without_port(route.host);
    e.strip = route.strip_prefix && e.prefix != "/";
    auto it = std::find(worker_names.begin(), worker_names.end(), route.worker);
    if (it == worker_names.end()) continue;  // validate_config reports these
    e.worker = static_cast<int>(it - worker_names.begin());
    entries_.push_back(std::move(e));
  }
  // Ties beyond length and host keep the configuration order (first route wins).
  for (size_t i = 0; i < entries_.size(); ++i) entries_[i].order = i;
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    size_t la = a.prefix == "/" ? 0 : a.prefix.size();
    size_t lb = b.prefix == "/" ? 0 : b.prefix.size();
    if (la != lb) return la > lb;
    if (a.host.empty() != b.host.empty()) return !a.host.empty();
    return a.order < b.order;
  });
}

Router::Match Router::route(std::string_view host_header, std::string_view target) const {
  std::string_view path = target.substr(0, target.find_first_of("?#"));
  std::string host;
  bool host_computed = false;
  for (const auto& e : entries_) {
    if (!prefix_matches(e.prefix, path)) continue;
    if (!e.host.empty()) {
      if (!host_computed) {
        host = host_without_port(host_header);
        host_computed = true;
      }
      if (host != e.host) continue;
    }
    return Match{e.worker, e.strip ? e.prefix.size() : 0};
  }
  return Match{};
}

}  // namespace rw::server
