#pragma once
// Small owning wrappers over the SQLite C API. Every failure throws StorageError (Kind::Io) with
// SQLite's message.

#include <chrono>
#include <string>
#include <string_view>

#include "rewind/durable.h"

struct sqlite3;
struct sqlite3_stmt;

namespace rw::durable::detail {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  // Binds bytes as a BLOB (never NULL, also when empty).
  void bind_blob(int index, std::string_view bytes);
  // true: a row is available; false: done.
  bool step();
  // Steps a statement that returns no rows, then resets it.
  void step_done();
  void reset();
  // The column's bytes; valid until the next step or reset.
  std::string_view column_blob(int column) const;

 private:
  [[noreturn]] void fail(int rc) const;
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
};

// Resets a statement (and clears its bindings' effect on locks) when a scope ends, so that no
// read transaction stays open between calls.
class StatementReset {
 public:
  explicit StatementReset(Statement& s) : s_(s) {}
  ~StatementReset() { s_.reset(); }
  StatementReset(const StatementReset&) = delete;
  StatementReset& operator=(const StatementReset&) = delete;

 private:
  Statement& s_;
};

class Connection {
 public:
  Connection() = default;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  ~Connection();

  static Connection open(const std::string& path, bool read_only,
                         std::chrono::milliseconds busy_timeout);
  void exec(const std::string& sql);
  void exec_noexcept(const std::string& sql) noexcept;
  // The first column of the first row as text ("" when there is none).
  std::string query_text(const std::string& sql);
  Statement prepare(const std::string& sql);
  // Whether a transaction is open (SQLite may have rolled it back after an error).
  bool in_transaction() const;

 private:
  [[noreturn]] void fail(const std::string& what, int rc) const;
  sqlite3* db_ = nullptr;
};

}  // namespace rw::durable::detail
