#pragma once
// A small blocking HTTP/1.1 client on Beast for the server tests, plus raw-socket helpers.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rw::server::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct HttpResponse {
  int status = 0;
  std::string body;
  http::response<http::string_body> raw;
  std::string header(std::string_view name) const {
    auto it = raw.find(name);
    return it == raw.end() ? std::string() : std::string(it->value());
  }
};

// One keep-alive connection.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  HttpResponse request(std::string_view method, std::string_view target, std::string body = "",
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(socket_, req);
    return read_response();
  }

  HttpResponse read_response() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(socket_, buffer_, parser);
    HttpResponse r;
    r.raw = parser.release();
    r.status = static_cast<int>(r.raw.result_int());
    r.body = r.raw.body();
    return r;
  }

  void send_raw(std::string_view bytes) { net::write(socket_, net::buffer(bytes)); }

  // True when the server closed the connection (EOF or reset) within the socket's patience.
  bool closed_by_peer() {
    char c;
    boost::system::error_code ec;
    socket_.read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

  tcp::socket& socket() { return socket_; }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

inline HttpResponse http_get(uint16_t port, std::string_view target,
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpClient client(port);
  return client.request("GET", target, "", std::move(headers));
}

}  // namespace rw::server::testing
