#pragma once
// Maps a request's Host header and path to a worker (see RouteConfig for the rules).

#include <string>
#include <string_view>
#include <vector>

#include "server/config.h"

namespace rw::server {

class Router {
 public:
  // worker_index maps each route's worker name to an index the caller understands.
  Router(const std::vector<RouteConfig>& routes, const std::vector<std::string>& worker_names);

  struct Match {
    int worker = -1;          // -1: no route matches
    size_t strip_length = 0;  // leading bytes of the target to remove (strip_prefix routes)
  };
  Match route(std::string_view host_header, std::string_view target) const;
  // The index of the worker serving this request, or -1 when no route matches.
  int match(std::string_view host_header, std::string_view target) const {
    return route(host_header, target).worker;
  }

 private:
  struct Entry {
    std::string prefix;  // without a trailing '/', except the root "/"
    std::string host;    // lower-case, empty: any
    int worker = -1;
    size_t order = 0;
    bool strip = false;
  };
  std::vector<Entry> entries_;  // sorted: longest prefix first, host-specific first on ties
};

}  // namespace rw::server
