#pragma once
// The answers the runtime itself gives (rather than the guest): JSON bodies for failed calls and
// for requests refused before reaching a guest. Shared by the worker pool and the durable-object
// namespaces so every failure looks the same to clients.

#include <nlohmann/json.hpp>
#include <string_view>

#include "rewind/runtime.h"

namespace rw::runtime {

// `status` with a JSON body and content-type application/json. Guest text in the body may be any
// bytes: what is not UTF-8 is replaced rather than thrown on.
Response json_response(int status, const nlohmann::json& body);

// The answer for a failed call: 500 (503 for cpu_limit) with
// {"error", "request_id", "kind" (aborts), "message"}. `error` is "panic", "host_error" or "abort"
// from the outcome unless the caller names it (e.g. "storage").
Response failure_response(const FailureRecord& record, std::string_view error = {});

}  // namespace rw::runtime
