#include "runtime/durable/sqlite_util.h"

#include <sqlite3.h>

#include <utility>

namespace rw::durable::detail {

namespace {

[[noreturn]] void io_error(std::string message) {
  throw StorageError(StorageError::Kind::Io, std::move(message));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Statement

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), db_(std::exchange(other.db_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::fail(int rc) const {
  io_error(std::string("sqlite: ") + sqlite3_errstr(rc) + ": " + sqlite3_errmsg(db_));
}

void Statement::bind_blob(int index, std::string_view bytes) {
  // A null data pointer would bind SQL NULL, so empty keys and values point at a static byte.
  static const char kEmpty = 0;
  const char* data = bytes.empty() ? &kEmpty : bytes.data();
  int rc = sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) fail(rc);
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  fail(rc);
}

void Statement::step_done() {
  int rc = sqlite3_step(stmt_);
  sqlite3_reset(stmt_);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail(rc);
}

void Statement::reset() {
  if (stmt_) sqlite3_reset(stmt_);
}

std::string_view Statement::column_blob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (!data || size <= 0) return {};
  return {static_cast<const char*>(data), static_cast<size_t>(size)};
}

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(Connection&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Connection::~Connection() { sqlite3_close_v2(db_); }

void Connection::fail(const std::string& what, int rc) const {
  io_error("sqlite: " + what + ": " + sqlite3_errstr(rc) +
           (db_ ? std::string(": ") + sqlite3_errmsg(db_) : std::string()));
}

Connection Connection::open(const std::string& path, bool read_only,
                            std::chrono::milliseconds busy_timeout) {
  Connection c;
  // Each connection is used by one thread at a time, so SQLite's own mutexes are not needed.
  // Readers open read-write (WAL readers may need to write the shared-memory index) and are
  // made read-only with query_only.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (!read_only) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &c.db_, flags, nullptr);
  if (rc != SQLITE_OK) c.fail("cannot open " + path, rc);
  sqlite3_extended_result_codes(c.db_, 1);
  sqlite3_busy_timeout(c.db_, static_cast<int>(busy_timeout.count()));
  if (read_only) c.exec("PRAGMA query_only=1");
  return c;
}

void Connection::exec(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    io_error("sqlite: " + sql + ": " + text);
  }
}

void Connection::exec_noexcept(const std::string& sql) noexcept {
  sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
}

std::string Connection::query_text(const std::string& sql) {
  Statement s = prepare(sql);
  if (!s.step()) return {};
  return std::string(s.column_blob(0));
}

bool Connection::in_transaction() const { return db_ && sqlite3_get_autocommit(db_) == 0; }

Statement Connection::prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) fail("cannot prepare " + sql, rc);
  return Statement(stmt, db_);
}

}  // namespace rw::durable::detail
