// A durable object: a small bank of accounts (docs/durable-objects.md, "Objects").
//
// Balances live in memory (a map) and are mirrored in the object's storage under "acct/<name>",
// one decimal string per account. Every call's storage writes form one transaction: they are
// stored durably together before the response leaves, or not at all.
//
//   POST /deposit?account=a&amount=n          credits a (creates it)
//   POST /transfer?from=a&to=b&amount=n       debits a, then credits b; 409 without the funds
//        &fail=panic                          ... throws between the debit and the credit
//        &fail=abort                          ... traps (unreachable) between them
//        &fail=exit                           ... rewind.abort (guest_abort) between them
//   GET  /balance?account=a                   from memory: {"account":"a","balance":n}
//   GET  /balance?account=a&source=storage    the same, read from storage in this call
//   GET  /accounts                            every account in memory, in name order
//   GET  /loads                               how many times this instance loaded from storage
//
// A half-way failure must leave both balances as they were, in memory and in storage: in
// rollback mode the host undoes the call's memory and storage writes; in reset mode the instance
// is rebuilt from its snapshot and rewind_reinit reloads the balances from storage, which never
// saw the debit.
#include <rewind/storage.h>

#include <cstdint>
#include <map>
#include <optional>
#include <rewind/worker.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

std::map<std::string, int64_t> balances;
int64_t loads = 0;

constexpr std::string_view kPrefix = "acct/";

std::optional<int64_t> parse_amount(const std::optional<std::string>& text) {
  if (!text || text->empty() || text->size() > 15) return std::nullopt;
  int64_t value = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::optional<int64_t> parse_signed(std::string_view text) {
  bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  auto value = parse_amount(std::string(text));
  if (!value) return std::nullopt;
  return negative ? -*value : *value;
}

void store_balance(const std::string& account, int64_t balance) {
  std::string key = std::string(kPrefix) + account;
  std::string value = std::to_string(balance);
  if (rewind_storage_put(key.data(), key.size(), value.data(), value.size()) != 0)
    throw std::runtime_error("storage_put failed for " + account);
}

std::optional<int64_t> stored_balance(const std::string& account) {
  std::string key = std::string(kPrefix) + account;
  char buf[32];
  int32_t n = rewind_storage_get(key.data(), key.size(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  if (static_cast<size_t>(n) > sizeof buf) throw std::runtime_error("corrupt balance");
  auto value = parse_signed(std::string_view(buf, static_cast<size_t>(n)));
  if (!value) throw std::runtime_error("corrupt balance for " + account);
  return value;
}

// Credits (or debits, with a negative amount) in memory and in this call's transaction.
void post_change(const std::string& account, int64_t delta) {
  int64_t& balance = balances[account];
  balance += delta;
  store_balance(account, balance);
}

void json_reply(rw::worker::Response& response, int status, const std::string& body) {
  response.status(status).header("content-type", "application/json").write(body + "\n");
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

bool valid_account(const std::optional<std::string>& name) {
  return name && !name->empty() && name->size() <= 64;
}

void handle(rw::worker::Request& request, rw::worker::Response& response) {
  std::string path = request.path();
  const std::string& method = request.method();
  if (path == "/deposit" && method == "POST") {
    auto account = request.query_param("account");
    auto amount = parse_amount(request.query_param("amount"));
    if (!valid_account(account) || !amount)
      return json_reply(response, 400, "{\"error\":\"bad_request\"}");
    post_change(*account, *amount);
    return json_reply(response, 200,
                      "{\"account\":" + quoted(*account) +
                          ",\"balance\":" + std::to_string(balances[*account]) + "}");
  }
  if (path == "/transfer" && method == "POST") {
    auto from = request.query_param("from");
    auto to = request.query_param("to");
    auto amount = parse_amount(request.query_param("amount"));
    if (!valid_account(from) || !valid_account(to) || !amount || *from == *to)
      return json_reply(response, 400, "{\"error\":\"bad_request\"}");
    auto found = balances.find(*from);
    if (found == balances.end() || found->second < *amount)
      return json_reply(response, 409, "{\"error\":\"insufficient_funds\"}");
    post_change(*from, -*amount);
    // Half-way: the debit is in memory and in the call's transaction, the credit is not.
    std::string fail = request.query_param("fail").value_or("");
    if (fail == "panic") throw std::runtime_error("transfer failed half-way");
    if (fail == "abort") __builtin_trap();
    if (fail == "exit") rw::worker::abort("transfer aborted half-way");
    post_change(*to, *amount);
    return json_reply(response, 200,
                      "{\"from\":" + std::to_string(balances[*from]) +
                          ",\"to\":" + std::to_string(balances[*to]) + "}");
  }
  if (path == "/balance" && method == "GET") {
    auto account = request.query_param("account");
    if (!valid_account(account)) return json_reply(response, 400, "{\"error\":\"bad_request\"}");
    std::optional<int64_t> balance;
    if (request.query_param("source").value_or("") == "storage") {
      balance = stored_balance(*account);
    } else if (auto it = balances.find(*account); it != balances.end()) {
      balance = it->second;
    }
    if (!balance) return json_reply(response, 404, "{\"error\":\"no_such_account\"}");
    return json_reply(
        response, 200,
        "{\"account\":" + quoted(*account) + ",\"balance\":" + std::to_string(*balance) + "}");
  }
  if (path == "/accounts" && method == "GET") {
    std::string body = "{";
    for (const auto& [name, balance] : balances) {
      if (body.size() > 1) body += ",";
      body += quoted(name) + ":" + std::to_string(balance);
    }
    return json_reply(response, 200, body + "}");
  }
  if (path == "/loads" && method == "GET")
    return json_reply(response, 200, "{\"loads\":" + std::to_string(loads) + "}");
  json_reply(response, 404, "{\"error\":\"not_found\"}");
}

}  // namespace

REWIND_HANDLER(handle)

// Runs in every new instance of the object (first call, after an eviction) and after every
// reset, in a storage transaction of its own: loads every balance, page by page.
REWIND_EXPORT("rewind_reinit") void reinit() {
  balances.clear();
  ++loads;
  static uint8_t buf[4096];
  std::string start;
  bool from_start = true;
  for (;;) {
    int32_t n = rewind_storage_list(kPrefix.data(), kPrefix.size(), start.data(),
                                    from_start ? REWIND_STORAGE_LIST_FROM_START : start.size(), 100,
                                    buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) rw::worker::abort("could not list balances");
    const uint8_t* cursor = buf;
    const uint8_t *key, *value;
    uint32_t key_len, value_len;
    while (rewind_storage_next_entry(&cursor, buf + n, &key, &key_len, &value, &value_len)) {
      std::string name(reinterpret_cast<const char*>(key) + kPrefix.size(),
                       key_len - kPrefix.size());
      auto balance =
          parse_signed(std::string_view(reinterpret_cast<const char*>(value), value_len));
      if (!balance) rw::worker::abort("corrupt balance in storage");
      balances[name] = *balance;
      start.assign(reinterpret_cast<const char*>(key), key_len);
      from_start = false;
    }
  }
}
