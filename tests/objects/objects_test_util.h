#pragma once
// Helpers for the durable-object tests: scratch directories, requests, and WAT guests.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../common/scratch_dir.h"
#include "rewind/objects.h"

namespace rw::objects::testing {

using rw::testing::ScratchDir;

inline runtime::Request request(std::string method, std::string target, std::string body = {},
                                std::string id = {}) {
  runtime::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  r.request_id = std::move(id);
  return r;
}

// A guest that appends its request body to the storage value "log" and answers with the whole
// log. It logs "call" first, so a test can hold a call there through on_log.
inline const char* kLogGuest = R"((module
  (import "rewind" "log" (func $log (param i32 i32 i32)))
  (import "rewind" "request_body_read" (func $body_read (param i32 i32) (result i32)))
  (import "rewind" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "rewind" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "rewind" "response_body_write" (func $write (param i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "log")
  (data (i32.const 16) "call")
  (func (export "rewind_abi_version") (result i32) (i32.const 1))
  (func (export "rewind_handle")
    (local $len i32) (local $n i32)
    (call $log (i32.const 1) (i32.const 16) (i32.const 4))
    (local.set $len (call $get (i32.const 0) (i32.const 3) (i32.const 1024) (i32.const 60000)))
    (if (i32.lt_s (local.get $len) (i32.const 0)) (then (local.set $len (i32.const 0))))
    (local.set $n (call $body_read (i32.add (i32.const 1024) (local.get $len)) (i32.const 64)))
    (drop (call $put (i32.const 0) (i32.const 3) (i32.const 1024)
                     (i32.add (local.get $len) (local.get $n))))
    (call $write (i32.const 1024) (i32.add (local.get $len) (local.get $n)))))
)";

}  // namespace rw::objects::testing
