#include "server/server.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <unordered_map>

#include "server/logs.h"
#include "server/metrics.h"
#include "server/router.h"

namespace rw::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr size_t kAdminBodyLimit = 64 * 1024;

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':' || c == '/' || c == '+' || c == '=';
  });
}

bool safe_header(std::string_view name, std::string_view value) {
  // A field name must be an RFC 9110 token and a value must hold no control character but HTAB:
  // anything else makes the response malformed for the client (found by fuzz/http_fuzz.cpp).
  auto token_char = [](unsigned char c) {
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  };
  auto control = [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7F; };
  if (name.empty() || !std::all_of(name.begin(), name.end(), token_char)) return false;
  if (std::any_of(value.begin(), value.end(), control)) return false;
  // Framing is the server's business, not the guest's.
  return !beast::iequals(name, "content-length") && !beast::iequals(name, "transfer-encoding") &&
         !beast::iequals(name, "connection");
}

std::string error_body(int status, std::string_view message, std::string_view request_id) {
  nlohmann::json j{{"error", message}, {"status", status}, {"request_id", request_id}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A guest call longer than this counts as stalling the thread it runs on, and the monitor
// checks that often: together they bound how long slow guests can hold up IO.
constexpr auto kStallAfter = std::chrono::milliseconds(3);
constexpr auto kMonitorTick = std::chrono::milliseconds(2);
// With no call for this many ticks the monitor sleeps until the next call starts, waking only
// for the timeout sweep.
constexpr int kMonitorIdleTicks = 50;
// How often connections past their deadline are closed: timeouts fire up to this late.
constexpr auto kSweepEvery = std::chrono::milliseconds(250);

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What one thread running the io_context tells the stall monitor. One cache line each, written
// only by its own thread, so marking a call costs no shared write.
struct alignas(64) RunnerState {
  std::atomic<int64_t> call_started{0};  // steady_ns() of the guest call running, 0: none
  std::atomic<uint64_t> calls{0};
};
thread_local RunnerState* this_runner = nullptr;

}  // namespace

class Session;

// A connection's socket and stream carry their strand's concrete type: with Beast's default
// type-erased executor every asynchronous operation copied and destroyed a polymorphic executor,
// a few percent of the server's CPU on small requests.
using Strand = net::strand<net::io_context::executor_type>;
using Socket = tcp::socket::rebind_executor<Strand>::other;
using Stream = beast::basic_stream<tcp, Strand, beast::unlimited_rate_policy>;

struct Server::Impl {
  ServerConfig config;
  std::vector<std::shared_ptr<runtime::Worker>> workers;
  std::vector<std::string> names;
  Router router;
  Metrics metrics;
  std::unique_ptr<LineSink> failure_log;
  std::unique_ptr<LineSink> access_log;  // null: off

  // Declared before the io_context: sessions destroyed with its pending handlers unregister here.
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  bool stopped = false;
  std::mutex stop_mu;

  std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  // The raw pointer is valid while the entry exists: ~Session erases it under sessions_mu first.
  struct SessionRef {
    std::weak_ptr<Session> weak;
    Session* raw = nullptr;
  };
  std::unordered_map<uint64_t, SessionRef> sessions;
  uint64_t next_session_id = 0;

  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor{net::make_strand(ioc)};
  tcp::acceptor admin_acceptor{net::make_strand(ioc)};
  // Per worker: how many of its guest calls may run at once (slots), and the requests waiting
  // for a slot, so a slow or overloaded worker never holds up another's requests; and a count of
  // requests admitted but not yet answered.
  struct GuestLane {
    uint32_t slots = 1;
    uint32_t capacity = 1;  // instances + max_queued_requests; beyond it: 503
    std::atomic<uint32_t> pending{0};
    std::atomic<uint32_t> active{0};  // slots taken
    std::atomic<uint32_t> queued{0};  // size of `waiting`
    std::mutex mu;
    std::deque<std::shared_ptr<Session>> waiting;  // guarded by mu
  };
  std::vector<std::unique_ptr<GuestLane>> lanes;
  uint32_t io_thread_count = 1;

  // Guest calls run on the thread that read the request (no hand-off). So that slow guests
  // cannot starve IO, a monitor counts the threads inside a call for longer than kStallAfter and
  // keeps as many standby threads running the io_context: `io_thread_count` threads stay free
  // for accepting, reading, writing and /metrics whatever the guests do. At most every slot of
  // every worker holds a thread, so that many standbys are enough; they start on first need.
  std::vector<std::unique_ptr<RunnerState>> runners;  // IO threads first, then standbys
  std::atomic<uint32_t> runners_started{0};
  std::vector<std::thread> standby_threads;  // the monitor's
  std::mutex standby_mu;
  std::condition_variable standby_cv;
  std::atomic<uint32_t> standby_wanted{0};
  bool standby_quit = false;  // guarded by standby_mu
  std::thread monitor;
  std::mutex monitor_mu;
  std::condition_variable monitor_cv;
  bool monitor_quit = false;  // guarded by monitor_mu
  std::atomic<bool> monitor_asleep{false};

  void run_io(uint32_t index) {
    this_runner = runners[index].get();
    ioc.run();
  }
  void run_standby(uint32_t rank);
  // Also the timeout sweep: every kSweepEvery, closes the connections past their deadline.
  void run_monitor();
  void sweep_timeouts(int64_t now);
  // Around every guest call; wakes the monitor if it slept.
  void call_started() {
    if (!this_runner) return;
    this_runner->calls.fetch_add(1, std::memory_order_relaxed);
    // Paired with the monitor's store of monitor_asleep then load of call_started: one of the
    // two threads sees the other's write.
    this_runner->call_started.store(steady_ns(), std::memory_order_seq_cst);
    if (monitor_asleep.load(std::memory_order_seq_cst)) {
      std::lock_guard lock(monitor_mu);
      monitor_cv.notify_one();
    }
  }
  void call_ended() {
    if (this_runner) this_runner->call_started.store(0, std::memory_order_relaxed);
  }
  // A slot for `session`'s call: true when it may run now, false when it was queued (it is
  // posted back to its strand once a slot is free). Lock-free while nothing waits.
  bool take_slot(GuestLane& lane, const std::shared_ptr<Session>& session) {
    // First come, first served: a newcomer queues behind waiting requests.
    if (lane.queued.load() == 0 && try_take_slot(lane)) return true;
    {
      std::lock_guard lock(lane.mu);
      lane.waiting.push_back(session);
      lane.queued.fetch_add(1);
    }
    // A slot may have been freed before the request was counted as queued.
    pump(lane);
    return false;
  }
  void release_slot(GuestLane& lane) {
    lane.active.fetch_sub(1);
    pump(lane);
  }
  static bool try_take_slot(GuestLane& lane) {
    uint32_t active = lane.active.load();
    while (active < lane.slots)
      if (lane.active.compare_exchange_weak(active, active + 1)) return true;
    return false;
  }
  // Gives free slots to waiting requests. Whoever changes `active` or `queued` calls it after
  // the change; with both sequentially consistent, a free slot and a waiting request are never
  // both missed (the releaser sees the queued count, or the queuer sees the free slot).
  void pump(GuestLane& lane);

  std::vector<std::thread> io_threads;

  std::string id_prefix;
  std::atomic<uint64_t> id_counter{0};

  Impl(ServerConfig c, std::vector<std::shared_ptr<runtime::Worker>> w, std::vector<std::string> n)
      : config(std::move(c)),
        workers(std::move(w)),
        names(std::move(n)),
        router(config.routes, names),
        metrics(names) {}

  std::string new_request_id() {
    return fmt::format("{}-{:x}", id_prefix,
                       id_counter.fetch_add(1, std::memory_order_relaxed) + 1);
  }

  void accept(tcp::acceptor& acc, bool admin);
  void log_failure(const runtime::FailureRecord& f) { failure_log->write(failure_json(f)); }
};

// One client connection. All of its handlers run on its own strand, the guest call included: on
// the thread that read the request, or, when the worker had no free slot, on whichever thread
// runs the handler posted to the strand once a slot frees.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, Socket socket, bool admin)
      : server_(server), stream_(std::move(socket)), admin_(admin) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  ~Session() {
    std::lock_guard lock(server_.sessions_mu);
    server_.sessions.erase(id_);
    server_.sessions_cv.notify_all();
  }

  void start() {
    {
      std::lock_guard lock(server_.sessions_mu);
      id_ = ++server_.next_session_id;
      server_.sessions[id_] = {weak_from_this(), this};
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  // Shutdown: a connection waiting for its next request is closed now; one with a request in
  // flight closes after answering it.
  void close_if_idle() {
    if (idle_) close_now();
  }
  void close_now() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }
  auto executor() { return stream_.get_executor(); }

  // Timeouts (idle, write, linger) are a deadline the stall monitor's sweep checks, not Beast's
  // stream timers: those arm and cancel a reactor timer around every read and write, and each
  // cancellation is one more handler to run. Read by the sweep under sessions_mu.
  bool expired(int64_t now) const {
    int64_t deadline = deadline_.load(std::memory_order_relaxed);
    return deadline != 0 && deadline <= now;
  }
  // On the strand: the deadline may have moved since the sweep looked.
  void expire() {
    if (expired(steady_ns())) close_now();
  }

 private:
  void set_deadline(std::chrono::nanoseconds timeout) {
    deadline_.store(steady_ns() + timeout.count(), std::memory_order_relaxed);
  }

  void read_header() {
    if (server_.stopping.load()) return close_now();
    parser_.emplace();
    parser_->header_limit(server_.config.max_header_bytes);
    // The body limit depends on the route, known only once the header is in (see on_header).
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    worker_ = -1;
    strip_length_ = 0;
    request_id_.clear();
    // A rejection of this request before its header is in must not answer as the previous one
    // did (a HEAD's answer has no body: found by fuzz/http_fuzz.cpp).
    method_.clear();
    target_.clear();
    idle_ = buffer_.size() == 0;
    set_deadline(server_.config.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t header_bytes) {
                              self->on_header(ec, header_bytes);
                            });
  }

  // Answers a read error: parse errors get a status and the connection closes; transport
  // errors (peer gone, timeout, shutdown) just close.
  void fail_read(beast::error_code ec) {
    if (ec == http::error::body_limit) return reject(413, "request body too large", true);
    if (ec == http::error::header_limit) return reject(431, "request header too large", true);
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout) {
      return close_now();
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return reject(400, "malformed HTTP request", true);
    }
    close_now();
  }

  void on_header(beast::error_code ec, size_t header_bytes) {
    idle_ = false;
    if (ec) return fail_read(ec);
    // Beast's header_limit lets some larger headers through (http_fuzz: 1,040 bytes passed a
    // 1,024-byte limit); the bytes the parser consumed for the header are the real measure.
    // Such a request is refused uninterpreted, exactly as when Beast stops at its limit (so the
    // answer does not depend on how the bytes arrived: a HEAD is answered with the body too,
    // which is harmless as the connection closes).
    if (header_bytes > server_.config.max_header_bytes) {
      parser_.reset();
      return reject(431, "request header too large", true);
    }
    started_ = std::chrono::steady_clock::now();
    const auto& req = parser_->get();
    if (auto it = req.find("x-request-id"); it != req.end() && valid_request_id(it->value())) {
      request_id_ = std::string(it->value());
    } else {
      request_id_ = server_.new_request_id();
    }
    uint64_t limit = kAdminBodyLimit;
    if (!admin_) {
      auto match = server_.router.route(req[http::field::host], req.target());
      worker_ = match.worker;
      strip_length_ = match.strip_length;
      if (worker_ < 0) return reject(404, "no route for this host and path", !parser_->is_done());
      limit = server_.workers[static_cast<size_t>(worker_)]->config().limits.max_request_body_bytes;
    }
    // A declared length over the limit is refused before any of the body is read.
    if (auto length = parser_->content_length(); length && *length > limit)
      return reject(413, "request body too large", true);
    parser_->body_limit(limit);
    if (parser_->is_done()) return dispatch();
    if (auto it = req.find(http::field::expect);
        it != req.end() && beast::iequals(it->value(), "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      set_deadline(kWriteTimeout);
      net::async_write(stream_, net::buffer(kContinue),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return self->close_now();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    set_deadline(server_.config.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->fail_read(ec);
                       self->dispatch();
                     });
  }

  void dispatch() {
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    method_.assign(req.method_string());
    target_.assign(req.target());
    if (admin_) return answer_admin();

    // The request object is the session's, so its strings and header list keep their capacity
    // from one keep-alive request to the next.
    runtime::Request& request = request_;
    request.method = method_;
    request.target.assign(target_, strip_length_);
    // "/chaos" with the prefix "/chaos" stripped is "/", and "/chaos?x" is "/?x".
    if (request.target.empty() || request.target[0] != '/') request.target.insert(0, 1, '/');
    size_t fields = 0;
    for (const auto& field : req) {
      if (fields == request.headers.size()) request.headers.emplace_back();
      request.headers[fields].first.assign(field.name_string());
      request.headers[fields].second.assign(field.value());
      ++fields;
    }
    request.headers.resize(fields);
    request.body = std::move(req.body());
    request.request_id = request_id_;
    deadline_.store(0, std::memory_order_relaxed);

    // Admission: the worker's queue is bounded, and so is what waits for it here.
    auto& lane = *server_.lanes[static_cast<size_t>(worker_)];
    if (lane.pending.fetch_add(1, std::memory_order_relaxed) >= lane.capacity) {
      lane.pending.fetch_sub(1, std::memory_order_relaxed);
      return reject(503, "worker overloaded: too many requests waiting", false);
    }
    if (server_.take_slot(lane, shared_from_this())) run_guest();
  }

 public:
  // The guest call, on this thread (the session's strand; a queued request was posted back to
  // it), with a slot of the worker taken; then metrics, the failure log and the answer.
  void run_guest() {
    Server::Impl& srv = server_;
    auto& lane = *srv.lanes[static_cast<size_t>(worker_)];
    const auto& worker = srv.workers[static_cast<size_t>(worker_)];
    runtime::HandleResult result;
    srv.call_started();
    try {
      result = worker->handle(request_);
    } catch (const std::exception& e) {
      result = runtime::HandleResult{};
      result.response.status = 500;
      result.response.headers = {{"content-type", "application/json"}};
      result.response.body =
          error_body(500, std::string("internal error: ") + e.what(), request_id_);
    }
    srv.call_ended();
    srv.release_slot(lane);
    request_.body.clear();
    // A 1xx is not a final answer: the client would wait for another (found by fuzz/http_fuzz.cpp).
    if (result.response.status < 200 || result.response.status > 599) {
      int bad = result.response.status;
      result.response.status = 502;
      result.response.headers = {{"content-type", "application/json"}};
      result.response.body = error_body(
          502, "the worker answered an invalid status " + std::to_string(bad), request_id_);
    }
    lane.pending.fetch_sub(1, std::memory_order_relaxed);
    auto elapsed = std::chrono::steady_clock::now() - started_;
    srv.metrics.record(worker_, result.response.status, elapsed,
                       result.failure ? &*result.failure : nullptr);
    if (result.failure) {
      if (result.failure->request_id.empty()) result.failure->request_id = request_id_;
      if (result.failure->worker.empty())
        result.failure->worker = srv.names[static_cast<size_t>(worker_)];
      srv.log_failure(*result.failure);
    }
    write(std::move(result.response), false);
  }

 private:
  void answer_admin() {
    runtime::Response response;
    std::string path = target_.substr(0, target_.find('?'));
    if (path == "/metrics" && (method_ == "GET" || method_ == "HEAD")) {
      response.headers = {{"content-type", "text/plain; version=0.0.4; charset=utf-8"}};
      response.body = server_.metrics.render();
    } else if (path == "/healthz" && (method_ == "GET" || method_ == "HEAD")) {
      bool draining = server_.stopping.load();
      response.status = draining ? 503 : 200;
      response.headers = {{"content-type", "text/plain"}};
      response.body = draining ? "draining\n" : "ok\n";
    } else {
      response.status = 404;
      response.headers = {{"content-type", "application/json"}};
      response.body =
          error_body(404, "the admin listener serves /metrics and /healthz", request_id_);
    }
    write(std::move(response), false);
  }

  // An answer from the server itself. `close` when the rest of the request was not read.
  void reject(int status, std::string_view message, bool close) {
    if (request_id_.empty()) request_id_ = server_.new_request_id();
    if (parser_ && parser_->is_header_done()) {
      method_ = std::string(parser_->get().method_string());
      target_ = std::string(parser_->get().target());
      keep_alive_ = parser_->get().keep_alive();
    } else {
      keep_alive_ = false;
    }
    server_.metrics.record_rejected(admin_ ? -1 : worker_, status);
    runtime::Response response;
    response.status = status;
    response.headers = {{"content-type", "application/json"}};
    response.body = error_body(status, message, request_id_);
    write(std::move(response), close);
  }

  void write(runtime::Response response, bool force_close) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(response.status));
    res->set(http::field::server, "rewind");
    for (auto& [name, value] : response.headers) {
      if (safe_header(name, value)) res->insert(name, value);
    }
    res->set("X-Request-Id", request_id_);
    bool head = method_ == "HEAD";
    size_t body_size = response.body.size();
    res->body() = std::move(response.body);
    // 204 and 304 answers have no body; framing one would throw from prepare_payload on the IO
    // thread and end the process (found by fuzz/http_fuzz.cpp).
    if (response.status == 204 || response.status == 304) res->body().clear();
    res->keep_alive(keep_alive_ && !force_close && !server_.stopping.load());
    res->prepare_payload();
    if (head) res->body().clear();  // Content-Length stays that of the body a GET would get

    if (server_.access_log) {
      AccessEntry entry;
      entry.request_id = request_id_;
      entry.remote = remote_;
      entry.method = method_;
      entry.target = target_;
      entry.worker = admin_         ? "admin"
                     : worker_ >= 0 ? std::string_view(server_.names[static_cast<size_t>(worker_)])
                                    : "";
      entry.status = response.status;
      entry.response_bytes = body_size;
      entry.duration = std::chrono::steady_clock::now() - started_;
      server_.access_log->write(access_json(entry));
    }

    bool last = force_close || !res->keep_alive();
    set_deadline(kWriteTimeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, last](beast::error_code ec, size_t) {
                        if (ec) return self->close_now();
                        // A client may have pipelined more requests after the one that ends the
                        // connection: closing with them unread resets it, which can destroy answers
                        // not yet read.
                        if (last) return self->linger_close();
                        self->read_header();
                      });
  }

  // After answering a request whose body was not read, or the last one of a connection:
  // closing at once with unread bytes queued makes the kernel send a reset, which can destroy
  // the response before the client reads it. So half-close, then read and discard for a while.
  void linger_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    set_deadline(kLingerTimeout);
    discard_.resize(16 * 1024);
    stream_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->discarded_ += n;
                              if (ec || self->discarded_ > (64u << 20)) return self->close_now();
                              self->linger_more();
                            });
  }
  void linger_more() {
    stream_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->discarded_ += n;
                              if (ec || self->discarded_ > (64u << 20)) return self->close_now();
                              self->linger_more();
                            });
  }

  Server::Impl& server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  bool admin_;
  uint64_t id_ = 0;
  std::string remote_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool idle_ = false;
  bool keep_alive_ = false;
  int worker_ = -1;
  size_t strip_length_ = 0;
  std::string request_id_, method_, target_;
  runtime::Request request_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::vector<char> discard_;
  size_t discarded_ = 0;
  std::atomic<int64_t> deadline_{0};  // steady_ns(); 0: none (a guest call is running)
};

void Server::Impl::accept(tcp::acceptor& acc, bool admin) {
  acc.async_accept(net::make_strand(ioc), [this, &acc, admin](beast::error_code ec, Socket socket) {
    if (ec == net::error::operation_aborted || !acc.is_open()) return;
    if (!ec) {
      if (stopping.load()) {
        beast::error_code ignored;
        socket.close(ignored);
        return;
      }
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(*this, std::move(socket), admin)->start();
    }
    if (!ec) return accept(acc, admin);
    // Transient errors (EMFILE and friends) must not stop the listener, nor
    // make it spin: try again a little later.
    auto timer =
        std::make_shared<net::steady_timer>(acc.get_executor(), std::chrono::milliseconds(50));
    timer->async_wait([this, &acc, admin, timer](beast::error_code) {
      if (acc.is_open()) accept(acc, admin);
    });
  });
}

namespace {

Result<void> bind(tcp::acceptor& acc, const Endpoint& ep) {
  beast::error_code ec;
  auto address = net::ip::make_address(ep.host == "localhost" ? "127.0.0.1" : ep.host, ec);
  if (ec) {
    Error e;
    e.message = "invalid listen address '" + ep.host + "': " + ec.message();
    return e;
  }
  tcp::endpoint endpoint(address, ep.port);
  auto fail = [&](const char* what) -> Result<void> {
    Error e;
    e.message = std::string("cannot ") + what + " " + ep.to_string() + ": " + ec.message();
    return e;
  };
  acc.open(endpoint.protocol(), ec);
  if (ec) return fail("open a socket for");
  acc.set_option(net::socket_base::reuse_address(true), ec);
  acc.bind(endpoint, ec);
  if (ec) return fail("listen on");
  acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  return {};
}

}  // namespace

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::create(
    ServerConfig config, std::vector<std::shared_ptr<runtime::Worker>> workers) {
  if (auto ok = validate_config(config); !ok) return ok.error();
  if (workers.size() != config.workers.size() ||
      std::any_of(workers.begin(), workers.end(), [](const auto& w) { return !w; })) {
    Error e;
    e.message = "one worker is needed for each configured [[worker]]";
    return e;
  }
  std::vector<std::string> names;
  for (const auto& w : config.workers) names.push_back(w.name);
  auto impl = std::make_unique<Impl>(std::move(config), std::move(workers), std::move(names));

  auto failure_log = LineSink::open(impl->config.failure_log);
  if (!failure_log) return failure_log.error();
  impl->failure_log = std::move(failure_log.value());
  if (!impl->config.access_log.empty()) {
    auto access_log = LineSink::open(impl->config.access_log);
    if (!access_log) return access_log.error();
    impl->access_log = std::move(access_log.value());
  }

  if (auto ok = bind(impl->acceptor, impl->config.listen); !ok) return ok.error();
  if (impl->config.admin_enabled) {
    if (auto ok = bind(impl->admin_acceptor, impl->config.admin_listen); !ok) return ok.error();
  }

  std::random_device rd;
  impl->id_prefix = fmt::format("{:08x}", rd());

  unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  uint32_t all_slots = 0;
  for (const auto& worker : impl->workers) {
    auto lane = std::make_unique<Impl::GuestLane>();
    const auto& wc = worker->config();
    uint32_t instances = wc.instances ? wc.instances : hw;
    lane->slots = impl->config.guest_threads ? impl->config.guest_threads
                                             : std::min<uint32_t>(instances, 256);
    lane->capacity = instances + wc.limits.max_queued_requests;
    all_slots += lane->slots;
    impl->lanes.push_back(std::move(lane));
  }
  impl->io_thread_count = impl->config.threads ? impl->config.threads : hw;
  for (uint32_t i = 0; i < impl->io_thread_count + all_slots; ++i)
    impl->runners.push_back(std::make_unique<RunnerState>());
  impl->metrics.set_in_flight_source([lanes = &impl->lanes](size_t worker) -> uint64_t {
    return (*lanes)[worker]->pending.load(std::memory_order_relaxed);
  });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

uint16_t Server::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

uint16_t Server::admin_port() const {
  if (!impl_->config.admin_enabled) return 0;
  beast::error_code ec;
  auto ep = impl_->admin_acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

const Metrics& Server::metrics() const { return impl_->metrics; }

void Server::Impl::pump(GuestLane& lane) {
  while (lane.queued.load() > 0 && try_take_slot(lane)) {
    std::shared_ptr<Session> next;
    {
      std::lock_guard lock(lane.mu);
      if (!lane.waiting.empty()) {
        next = std::move(lane.waiting.front());
        lane.waiting.pop_front();
        lane.queued.fetch_sub(1);
      }
    }
    if (!next) {
      // Another pump took it first: give the slot back and look again.
      lane.active.fetch_sub(1);
      continue;
    }
    net::post(next->executor(), [next] { next->run_guest(); });
  }
}

void Server::Impl::run_standby(uint32_t rank) {
  this_runner = runners[io_thread_count + rank].get();
  std::unique_lock lock(standby_mu);
  while (true) {
    standby_cv.wait(lock, [&] { return standby_quit || rank < standby_wanted.load(); });
    if (standby_quit) return;
    lock.unlock();
    // One handler at a time, so that the thread notices soon when it is not wanted any more.
    while (rank < standby_wanted.load() && !ioc.stopped()) ioc.run_one_for(kMonitorTick);
    lock.lock();
  }
}

void Server::Impl::sweep_timeouts(int64_t now) {
  std::vector<std::shared_ptr<Session>> expired;
  {
    std::lock_guard lock(sessions_mu);
    for (auto& [id, ref] : sessions)
      if (ref.raw->expired(now))
        if (auto session = ref.weak.lock()) expired.push_back(std::move(session));
  }
  for (auto& session : expired) net::post(session->executor(), [session] { session->expire(); });
}

void Server::Impl::run_monitor() {
  std::unique_lock lock(monitor_mu);
  uint64_t last_calls = 0;
  int idle_ticks = 0;
  int64_t next_sweep = steady_ns() + std::chrono::nanoseconds(kSweepEvery).count();
  while (!monitor_quit) {
    if (idle_ticks >= kMonitorIdleTicks) {
      // Idle: only the timeout sweep, until a call starts (call_started() wakes this).
      monitor_asleep.store(true, std::memory_order_seq_cst);
      bool any = false;
      for (uint32_t i = 0; i < runners_started.load(); ++i)
        any |= runners[i]->call_started.load(std::memory_order_seq_cst) != 0;
      if (!any)
        monitor_cv.wait_until(
            lock, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(next_sweep)));
      monitor_asleep.store(false, std::memory_order_relaxed);
    } else {
      monitor_cv.wait_for(lock, kMonitorTick);
    }
    if (monitor_quit) break;
    int64_t now = steady_ns();
    if (now >= next_sweep) {
      sweep_timeouts(now);
      next_sweep = now + std::chrono::nanoseconds(kSweepEvery).count();
    }
    uint32_t stalled = 0;
    bool any = false;
    uint64_t calls = 0;
    for (uint32_t i = 0; i < runners_started.load(); ++i) {
      int64_t started = runners[i]->call_started.load(std::memory_order_relaxed);
      calls += runners[i]->calls.load(std::memory_order_relaxed);
      any |= started != 0;
      if (started != 0 && now - started > std::chrono::nanoseconds(kStallAfter).count()) ++stalled;
    }
    idle_ticks = any || calls != last_calls ? 0 : idle_ticks + 1;
    last_calls = calls;
    if (stalled == standby_wanted.load()) continue;
    std::lock_guard standby_lock(standby_mu);
    while (standby_threads.size() < stalled) {
      auto rank = static_cast<uint32_t>(standby_threads.size());
      runners_started.fetch_add(1);
      standby_threads.emplace_back([this, rank] { run_standby(rank); });
    }
    standby_wanted.store(stalled);
    standby_cv.notify_all();
  }
}

void Server::start() {
  Impl& s = *impl_;
  if (s.started.exchange(true)) return;
  s.work.emplace(s.ioc.get_executor());
  s.accept(s.acceptor, false);
  if (s.config.admin_enabled) s.accept(s.admin_acceptor, true);
  s.runners_started.store(s.io_thread_count);
  for (uint32_t i = 0; i < s.io_thread_count; ++i)
    s.io_threads.emplace_back([&s, i] { s.run_io(i); });
  s.monitor = std::thread([&s] { s.run_monitor(); });
}

void Server::stop() {
  Impl& s = *impl_;
  std::lock_guard stop_lock(s.stop_mu);
  if (s.stopped) return;
  s.stopped = true;
  s.stopping.store(true);
  if (!s.started.load()) return;

  // Closed on their own strands (acceptors are not thread-safe), and waited for, so that
  // nothing listens any more once the sessions are being drained.
  auto close_acceptor = [](tcp::acceptor& acc) {
    std::promise<void> closed;
    net::dispatch(acc.get_executor(), [&acc, &closed] {
      beast::error_code ec;
      acc.close(ec);
      closed.set_value();
    });
    closed.get_future().wait();
  };
  close_acceptor(s.acceptor);
  if (s.config.admin_enabled) close_acceptor(s.admin_acceptor);

  auto for_each_session = [&s](auto fn) {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(s.sessions_mu);
      for (auto& [id, ref] : s.sessions)
        if (auto session = ref.weak.lock()) live.push_back(std::move(session));
    }
    for (auto& session : live) net::post(session->executor(), [session, fn] { fn(*session); });
  };
  for_each_session([](Session& session) { session.close_if_idle(); });
  {
    std::unique_lock lock(s.sessions_mu);
    s.sessions_cv.wait_for(lock, s.config.shutdown_timeout, [&s] { return s.sessions.empty(); });
  }
  // Whatever is still open after the timeout is cut off.
  for_each_session([](Session& session) { session.close_now(); });
  for (const auto& worker : s.workers) worker->drain();
  s.work.reset();
  {
    std::unique_lock lock(s.sessions_mu);
    s.sessions_cv.wait_for(lock, std::chrono::seconds(5), [&s] { return s.sessions.empty(); });
  }
  {
    std::lock_guard lock(s.monitor_mu);
    s.monitor_quit = true;
    s.monitor_cv.notify_one();
  }
  s.monitor.join();
  {
    std::lock_guard lock(s.standby_mu);
    s.standby_quit = true;
    s.standby_cv.notify_all();
  }
  s.ioc.stop();
  for (auto& t : s.io_threads) t.join();
  s.io_threads.clear();
  for (auto& t : s.standby_threads) t.join();
  s.standby_threads.clear();
}

}  // namespace rw::server
