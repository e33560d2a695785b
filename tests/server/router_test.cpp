#include "server/router.h"

#include <gtest/gtest.h>

namespace rw::server {
namespace {

TEST(Router, LongestPrefixWinsAtSegmentBoundaries) {
  Router r({{"/", "", "root"}, {"/api", "", "api"}, {"/api/v2/", "", "v2"}}, {"root", "api", "v2"});
  EXPECT_EQ(r.match("h", "/"), 0);
  EXPECT_EQ(r.match("h", "/index.html"), 0);
  EXPECT_EQ(r.match("h", "/api"), 1);
  EXPECT_EQ(r.match("h", "/api/users?x=1"), 1);
  EXPECT_EQ(r.match("h", "/apix"), 0);
  EXPECT_EQ(r.match("h", "/api/v2"), 2);
  EXPECT_EQ(r.match("h", "/api/v2/x"), 2);
  EXPECT_EQ(r.match("h", "/api/v20"), 1);
  EXPECT_EQ(r.match("h", "/api?q=/api/v2"), 1);
}

TEST(Router, HostsMatchWithoutPortOrCase) {
  Router r({{"/", "a.example", "a"}, {"/", "", "any"}, {"/x", "b.example", "b"}},
           {"a", "any", "b"});
  EXPECT_EQ(r.match("a.example", "/"), 0);
  EXPECT_EQ(r.match("A.Example:8080", "/y"), 0);
  EXPECT_EQ(r.match("c.example", "/"), 1);
  EXPECT_EQ(r.match("", "/"), 1);
  EXPECT_EQ(r.match("b.example", "/x/1"), 2);
  EXPECT_EQ(r.match("a.example", "/x/1"), 0);
  EXPECT_EQ(r.match("b.example", "/"), 1);
}

TEST(Router, NoMatch) {
  Router r({{"/only", "", "w"}, {"/", "h.example", "w"}}, {"w"});
  EXPECT_EQ(r.match("other", "/"), -1);
  EXPECT_EQ(r.match("other", "/onlyx"), -1);
  EXPECT_EQ(r.match("other", "/only/1"), 0);
  EXPECT_EQ(r.match("[::1]:80", "/z"), -1);
}

TEST(Router, StripPrefixSaysHowMuchToRemove) {
  RouteConfig strip{"/chaos/", "", "w"};
  strip.strip_prefix = true;
  RouteConfig root{"/", "", "w"};
  root.strip_prefix = true;
  Router r({strip, root}, {"w"});
  EXPECT_EQ(r.route("h", "/chaos/panic").strip_length, 6u);
  EXPECT_EQ(r.route("h", "/chaos").strip_length, 6u);
  EXPECT_EQ(r.route("h", "/other").strip_length, 0u);  // stripping "/" changes nothing
  EXPECT_EQ(r.route("h", "/other").worker, 0);
}

}  // namespace
}  // namespace rw::server
