// Execution and rollback target. The fuzzer's bytes steer a generator that emits a *valid* module
// (a host import, a tag, a funcref table, a memory, globals, passive and active segments, and a
// few functions with random well-typed bodies: numeric operators of every type, locals, globals,
// blocks, loops, br/br_if/br_table, calls (direct, indirect, tail, recursive, into the host and
// back), memory and table instructions in and out of bounds, throw/try_table/legacy try,
// throw_ref, unreachable). Every back-edge and function entry spends one unit of a fuel global,
// so loops and recursion end; a CPU limit per call backs that up.
//
// The module is instantiated, snapshotted and attached to a Lifecycle, then every export is
// called with checkpoint/rollback around each call. Checked:
// - the module validates (otherwise the generator has a bug: trap so it shows);
// - every call ends in one outcome without the host crashing (ASan/UBSan);
// - an abort carries a known trap kind and a message, terminates the store, and a later call is
//   refused with Outcome::Terminated;
// - a panic or host error leaves the store live;
// - rollback makes memory (every byte and the size), globals and tables identical to the copy
//   taken at checkpoint time, and clears the terminated flag;
// - re-running the same call after rollback gives the same outcome and values (the rolled-back
//   instance is indistinguishable from the checkpointed one), unless the first run hit the CPU
//   limit, which depends on timing;
// - reset() returns to the state captured right after instantiation;
// - the same calls on a module compiled without fusing instructions (the plain form of every
//   operation) give the same outcomes, values and final state, bit for bit: a check of every
//   fused operation of the interpreter against the unfused code.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "rewind/engine.h"
#include "rewind/lifecycle.h"
#include "wasm/common/opcodes.h"
#include "wasm/interp/runtime.h"  // CompiledModule::fuse

namespace {

using rw::ValType;
using Bytes = std::vector<uint8_t>;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "exec_fuzz: %s\n", what);
  std::fflush(stderr);
  __builtin_trap();
}
#define CHECK(cond)                            \
  do {                                         \
    if (!(cond)) fail("check failed: " #cond); \
  } while (0)

// ------------------------------------------------------------------------------------------------
// A minimal binary encoder.

void put_u32(Bytes& out, uint64_t value) {
  do {
    uint8_t byte = value & 0x7F;
    value >>= 7;
    if (value != 0) byte |= 0x80;
    out.push_back(byte);
  } while (value != 0);
}

void put_s64(Bytes& out, int64_t value) {
  bool more = true;
  while (more) {
    uint8_t byte = value & 0x7F;
    value >>= 7;  // arithmetic shift
    if ((value == 0 && !(byte & 0x40)) || (value == -1 && (byte & 0x40))) {
      more = false;
    } else {
      byte |= 0x80;
    }
    out.push_back(byte);
  }
}

void put_name(Bytes& out, const std::string& name) {
  put_u32(out, name.size());
  out.insert(out.end(), name.begin(), name.end());
}

void put_section(Bytes& module, uint8_t id, const Bytes& content) {
  module.push_back(id);
  put_u32(module, content.size());
  module.insert(module.end(), content.begin(), content.end());
}

uint8_t vt(ValType t) { return static_cast<uint8_t>(t); }

constexpr std::array<ValType, 4> kNumeric = {ValType::I32, ValType::I64, ValType::F32,
                                             ValType::F64};

ValType numeric_from(char c) {
  switch (c) {
    case 'i': return ValType::I32;
    case 'I': return ValType::I64;
    case 'f': return ValType::F32;
    default: return ValType::F64;
  }
}

// Operators typed by a fixed signature in the opcode table, grouped by result type.
struct SimpleOp {
  uint8_t prefix;
  uint32_t code;
  std::vector<ValType> params;
  ValType result;
  bool is_load;
  uint32_t natural_align;  // log2 of the access size for loads and stores
};

struct OpTables {
  std::array<std::vector<SimpleOp>, 4> by_result;  // index: position in kNumeric
  std::vector<SimpleOp> stores;
  std::array<std::vector<SimpleOp>, 4> loads;
};

uint32_t access_log2(std::string_view name) {
  if (name.find("8") != std::string_view::npos) return 0;
  if (name.find("16") != std::string_view::npos) return 1;
  if (name.find("32_") != std::string_view::npos || name.find("store32") != std::string_view::npos)
    return 2;
  if (name.starts_with("i64") || name.starts_with("f64")) return 3;
  return 2;
}

size_t numeric_slot(ValType t) {
  for (size_t i = 0; i < kNumeric.size(); ++i)
    if (kNumeric[i] == t) return i;
  return 0;
}

const OpTables& op_tables() {
  static const OpTables tables = [] {
    OpTables t;
    for (uint16_t i = 0; i < static_cast<uint16_t>(rw::wasm::Opcode::Count_); ++i) {
      const auto& info = rw::wasm::opcode_info(static_cast<rw::wasm::Opcode>(i));
      std::string_view sig = info.signature;
      auto colon = sig.find(':');
      if (sig.empty() || colon == std::string_view::npos) continue;
      if (info.imm != rw::wasm::ImmKind::None && info.imm != rw::wasm::ImmKind::MemArg) continue;
      SimpleOp op{
          info.prefix, info.code, {}, ValType::I32, info.imm == rw::wasm::ImmKind::MemArg, 0};
      for (char c : sig.substr(0, colon)) op.params.push_back(numeric_from(c));
      auto results = sig.substr(colon + 1);
      if (op.is_load) op.natural_align = access_log2(info.text);
      if (results.size() == 1) {
        op.result = numeric_from(results[0]);
        (op.is_load ? t.loads : t.by_result)[numeric_slot(op.result)].push_back(op);
      } else if (results.empty() && op.is_load) {
        t.stores.push_back(op);
      }
    }
    return t;
  }();
  return tables;
}

// ------------------------------------------------------------------------------------------------
// Module shape. Function index 0 is the host import "env.host": (i32) -> i32. Type 0 is its
// type, type 1 the tag's (i32) -> (), type 2 the block type [] -> [i32 exnref], then one type per
// defined function.

constexpr uint32_t kHostFunc = 0;
constexpr uint32_t kTagType = 1;
constexpr uint32_t kCatchRefBlockType = 2;
constexpr uint32_t kFirstFuncType = 3;
constexpr uint32_t kFuelGlobal = 0;  // mutable i32, set by the host before each call
constexpr int32_t kFuelPerCall = 300;

struct Signature {
  std::vector<ValType> params, results;
};

struct GlobalDesc {
  ValType type;
  bool is_mutable;
};

struct Shape {
  std::vector<Signature> funcs;  // defined functions
  std::vector<GlobalDesc> globals;
  uint32_t table_min = 0;
  uint32_t passive_elems = 0;  // length of the passive element segment (index 1)
  uint32_t passive_data = 0;   // length of the passive data segment (index 1)
};

struct Label {
  std::vector<ValType> branch_types;
  bool is_catch = false;  // legacy catch body: rethrow may target it
};

class BodyGen {
 public:
  BodyGen(FuzzedDataProvider& in, const Shape& shape, uint32_t self)
      : in_(in), shape_(shape), self_(self) {}

  Bytes generate() {
    const Signature& sig = shape_.funcs[self_];
    locals_ = sig.params;
    // Two locals of every numeric type beyond the params.
    Bytes local_decls;
    put_u32(local_decls, kNumeric.size());
    for (ValType t : kNumeric) {
      put_u32(local_decls, 2);
      local_decls.push_back(vt(t));
      locals_.push_back(t);
      locals_.push_back(t);
    }
    labels_.push_back({sig.results, false});
    // Entry: spend fuel, or return zeros when there is none left (bounds recursion).
    emit_fuel_check([&] {
      for (ValType t : sig.results) emit_const(t, 0);
      code_.push_back(0x0F);  // return
    });
    emit_stmts(in_.ConsumeIntegralInRange<int>(0, 8), 0);
    for (ValType t : sig.results) emit_expr(t, 0);
    code_.push_back(0x0B);
    Bytes body = local_decls;
    body.insert(body.end(), code_.begin(), code_.end());
    return body;
  }

 private:
  static constexpr int kMaxDepth = 5;

  bool budget_left() { return ++emitted_ < 400; }

  void op(uint8_t byte) { code_.push_back(byte); }
  void op_fc(uint32_t code) {
    code_.push_back(0xFC);
    put_u32(code_, code);
  }
  void emit_const(ValType t, int64_t v) {
    switch (t) {
      case ValType::I32:
        op(0x41);
        put_s64(code_, static_cast<int32_t>(v));
        break;
      case ValType::I64:
        op(0x42);
        put_s64(code_, v);
        break;
      case ValType::F32: {
        op(0x43);
        float f = static_cast<float>(v);
        uint8_t b[4];
        std::memcpy(b, &f, 4);
        code_.insert(code_.end(), b, b + 4);
        break;
      }
      default: {
        op(0x44);
        double d = static_cast<double>(v);
        uint8_t b[8];
        std::memcpy(b, &d, 8);
        code_.insert(code_.end(), b, b + 8);
        break;
      }
    }
  }

  // Constants that make interesting cases likely: zero, -1, minimums, NaNs, page edges.
  void emit_random_const(ValType t) {
    switch (t) {
      case ValType::I32: {
        static constexpr int32_t kPicks[] = {0, 1, -1, INT32_MIN, INT32_MAX, 65536, 65535, 65533};
        op(0x41);
        uint8_t pick = in_.ConsumeIntegralInRange<uint8_t>(0, 9);
        put_s64(code_, pick < 8 ? kPicks[pick] : in_.ConsumeIntegral<int32_t>());
        break;
      }
      case ValType::I64: {
        static constexpr int64_t kPicks[] = {0, 1, -1, INT64_MIN, INT64_MAX};
        op(0x42);
        uint8_t pick = in_.ConsumeIntegralInRange<uint8_t>(0, 6);
        put_s64(code_, pick < 5 ? kPicks[pick] : in_.ConsumeIntegral<int64_t>());
        break;
      }
      case ValType::F32: {
        op(0x43);
        uint32_t bits = in_.ConsumeIntegral<uint32_t>();
        uint8_t b[4];
        std::memcpy(b, &bits, 4);
        code_.insert(code_.end(), b, b + 4);
        break;
      }
      default: {
        op(0x44);
        uint64_t bits = in_.ConsumeIntegral<uint64_t>();
        uint8_t b[8];
        std::memcpy(b, &bits, 8);
        code_.insert(code_.end(), b, b + 8);
        break;
      }
    }
  }

  template <typename OnEmpty>
  void emit_fuel_check(OnEmpty on_empty) {
    op(0x23);
    put_u32(code_, kFuelGlobal);  // global.get fuel
    op(0x45);                     // i32.eqz
    op(0x04);
    op(0x40);  // if
    labels_.push_back({{}, false});
    on_empty();
    labels_.pop_back();
    op(0x0B);
    op(0x23);
    put_u32(code_, kFuelGlobal);
    emit_const(ValType::I32, 1);
    op(0x6B);  // i32.sub
    op(0x24);
    put_u32(code_, kFuelGlobal);
  }

  int pick_local(ValType t) {
    std::vector<uint32_t> candidates;
    for (uint32_t i = 0; i < locals_.size(); ++i)
      if (locals_[i] == t) candidates.push_back(i);
    if (candidates.empty()) return -1;
    return candidates[in_.ConsumeIntegralInRange<size_t>(0, candidates.size() - 1)];
  }

  int pick_global(ValType t, bool want_mutable) {
    std::vector<uint32_t> candidates;
    for (uint32_t i = 1; i < shape_.globals.size(); ++i)
      if (shape_.globals[i].type == t && (!want_mutable || shape_.globals[i].is_mutable))
        candidates.push_back(i);
    if (candidates.empty()) return -1;
    return candidates[in_.ConsumeIntegralInRange<size_t>(0, candidates.size() - 1)];
  }

  // Function index (in the module's index space) of a defined function with these results.
  int pick_func(const std::vector<ValType>* results) {
    std::vector<uint32_t> candidates;
    for (uint32_t i = 0; i < shape_.funcs.size(); ++i)
      if (!results || shape_.funcs[i].results == *results) candidates.push_back(i + 1);
    if (candidates.empty()) return -1;
    return candidates[in_.ConsumeIntegralInRange<size_t>(0, candidates.size() - 1)];
  }

  void emit_address(int depth) {
    if (in_.ConsumeBool()) {
      // Mostly in bounds, sometimes just across the end of the first or second page.
      emit_const(ValType::I32, in_.ConsumeIntegralInRange<int32_t>(0, 65536 + 8));
    } else {
      emit_expr(ValType::I32, depth + 1);
    }
  }

  void emit_memarg(uint32_t natural_align) {
    put_u32(code_, in_.ConsumeIntegralInRange<uint32_t>(0, natural_align));
    uint32_t offset = in_.ConsumeIntegralInRange<int>(0, 3) != 0
                          ? in_.ConsumeIntegralInRange<uint32_t>(0, 64)
                          : in_.ConsumeIntegral<uint32_t>();
    put_u32(code_, offset);
  }

  void emit_args(const std::vector<ValType>& params, int depth) {
    for (ValType p : params) emit_expr(p, depth + 1);
  }

  void emit_funcref(int depth) {
    switch (in_.ConsumeIntegralInRange<int>(0, 2)) {
      case 0:
        op(0xD0);
        op(vt(ValType::FuncRef));
        break;
      case 1:
        op(0xD2);
        put_u32(code_, in_.ConsumeIntegralInRange<uint32_t>(0, shape_.funcs.size()));
        break;
      default:
        emit_expr(ValType::I32, depth + 1);
        op(0x25);
        put_u32(code_, 0);  // table.get
        break;
    }
  }

  // Leaves one value of type t on the stack.
  void emit_expr(ValType t, int depth) {
    if (t == ValType::ExnRef) {  // only branches to exception handlers carry one
      op(0xD0);
      op(vt(ValType::ExnRef));
      return;
    }
    if (depth >= kMaxDepth || !budget_left()) {
      int local = pick_local(t);
      if (local >= 0 && in_.ConsumeBool()) {
        op(0x20);
        put_u32(code_, local);
      } else {
        emit_random_const(t);
      }
      return;
    }
    const OpTables& tables = op_tables();
    switch (in_.ConsumeIntegralInRange<int>(0, 17)) {
      case 0: emit_random_const(t); return;
      case 1:
      case 2: {
        int local = pick_local(t);
        if (local < 0) break;
        op(0x20);
        put_u32(code_, local);
        return;
      }
      case 3:
      case 4:
      case 5: {
        const auto& ops = tables.by_result[numeric_slot(t)];
        const SimpleOp& o = ops[in_.ConsumeIntegralInRange<size_t>(0, ops.size() - 1)];
        emit_args(o.params, depth);
        if (o.prefix)
          op_fc(o.code);
        else
          op(static_cast<uint8_t>(o.code));
        return;
      }
      case 6: {
        const auto& ops = tables.loads[numeric_slot(t)];
        const SimpleOp& o = ops[in_.ConsumeIntegralInRange<size_t>(0, ops.size() - 1)];
        emit_address(depth);
        op(static_cast<uint8_t>(o.code));
        emit_memarg(o.natural_align);
        return;
      }
      case 7: {
        int global = pick_global(t, false);
        if (global < 0) break;
        op(0x23);
        put_u32(code_, global);
        return;
      }
      case 8: {
        std::vector<ValType> results{t};
        int func = pick_func(&results);
        if (func < 0) break;
        emit_args(shape_.funcs[func - 1].params, depth);
        op(0x10);
        put_u32(code_, func);
        return;
      }
      case 9: {
        // call_indirect through a type that has exactly this result; the index may be null, out
        // of bounds or of another type.
        std::vector<ValType> results{t};
        int func = pick_func(&results);
        if (func < 0) break;
        emit_args(shape_.funcs[func - 1].params, depth);
        emit_expr(ValType::I32, depth + 1);
        op(0x11);
        put_u32(code_, kFirstFuncType + func - 1);
        put_u32(code_, 0);
        return;
      }
      case 10: {
        op(0x02);
        op(vt(t));
        labels_.push_back({{t}, false});
        emit_stmts(in_.ConsumeIntegralInRange<int>(0, 3), depth + 1);
        emit_expr(t, depth + 1);
        labels_.pop_back();
        op(0x0B);
        return;
      }
      case 11: {
        emit_expr(ValType::I32, depth + 1);
        op(0x04);
        op(vt(t));
        labels_.push_back({{t}, false});
        emit_expr(t, depth + 1);
        op(0x05);
        emit_expr(t, depth + 1);
        labels_.pop_back();
        op(0x0B);
        return;
      }
      case 12: {
        emit_expr(t, depth + 1);
        emit_expr(t, depth + 1);
        emit_expr(ValType::I32, depth + 1);
        if (in_.ConsumeBool()) {
          op(0x1B);
        } else {
          op(0x1C);
          put_u32(code_, 1);
          op(vt(t));
        }
        return;
      }
      case 13: {
        int local = pick_local(t);
        if (local < 0) break;
        emit_expr(t, depth + 1);
        op(0x22);
        put_u32(code_, local);  // local.tee
        return;
      }
      case 14: {
        // A value block left early by br_if, carrying its value.
        op(0x02);
        op(vt(t));
        labels_.push_back({{t}, false});
        emit_expr(t, depth + 1);
        emit_expr(ValType::I32, depth + 1);
        op(0x0D);
        put_u32(code_, 0);
        labels_.pop_back();
        op(0x0B);
        return;
      }
      case 15:
        if (t != ValType::I32) break;
        switch (in_.ConsumeIntegralInRange<int>(0, 5)) {
          case 0:
            op(0x3F);
            op(0x00);
            return;  // memory.size
          case 1:
            emit_expr(ValType::I32, depth + 1);
            op(0x40);
            op(0x00);  // memory.grow
            return;
          case 2:
            op_fc(16);
            put_u32(code_, 0);
            return;  // table.size
          case 3:
            emit_funcref(depth);
            emit_expr(ValType::I32, depth + 1);
            op_fc(15);
            put_u32(code_, 0);  // table.grow
            return;
          case 4:
            emit_funcref(depth);
            op(0xD1);  // ref.is_null
            return;
          default:
            emit_expr(ValType::I32, depth + 1);
            op(0x10);
            put_u32(code_, kHostFunc);
            return;
        }
      case 16: {
        // A value computed inside try_table that catches the tag and yields its payload.
        if (t != ValType::I32) break;
        op(0x02);
        op(vt(ValType::I32));  // block (result i32): the handler target
        op(0x1F);
        op(vt(ValType::I32));  // try_table (result i32)
        put_u32(code_, 1);
        op(0x00);
        put_u32(code_, kTagType - 1);
        put_u32(code_, 0);  // catch tag 0 -> 0
        labels_.push_back({{ValType::I32}, false});
        labels_.push_back({{ValType::I32}, false});
        emit_stmts(in_.ConsumeIntegralInRange<int>(0, 3), depth + 1);
        emit_expr(ValType::I32, depth + 1);
        labels_.pop_back();
        op(0x0B);
        labels_.pop_back();
        op(0x0B);
        return;
      }
      default: break;
    }
    emit_random_const(t);
  }

  void emit_stmts(int count, int depth) {
    for (int i = 0; i < count && budget_left(); ++i) emit_stmt(depth);
  }

  // Branch-compatible labels: the relative depths of every label with these branch types.
  std::vector<uint32_t> labels_with(const std::vector<ValType>& types) {
    std::vector<uint32_t> depths;
    for (size_t i = 0; i < labels_.size(); ++i)
      if (labels_[i].branch_types == types) depths.push_back(labels_.size() - 1 - i);
    return depths;
  }

  void emit_stmt(int depth) {
    if (depth >= kMaxDepth) {
      ValType t = kNumeric[in_.ConsumeIntegralInRange<size_t>(0, 3)];
      int local = pick_local(t);
      emit_expr(t, depth);
      op(0x21);
      put_u32(code_, local);
      return;
    }
    switch (in_.ConsumeIntegralInRange<int>(0, 24)) {
      case 0:
      case 1: {
        ValType t = kNumeric[in_.ConsumeIntegralInRange<size_t>(0, 3)];
        int local = pick_local(t);
        emit_expr(t, depth + 1);
        op(0x21);
        put_u32(code_, local);
        return;
      }
      case 2: {
        ValType t = kNumeric[in_.ConsumeIntegralInRange<size_t>(0, 3)];
        int global = pick_global(t, true);
        if (global < 0) break;
        emit_expr(t, depth + 1);
        op(0x24);
        put_u32(code_, global);
        return;
      }
      case 3:
      case 4: {
        const auto& stores = op_tables().stores;
        const SimpleOp& o = stores[in_.ConsumeIntegralInRange<size_t>(0, stores.size() - 1)];
        emit_address(depth);
        emit_expr(o.params[1], depth + 1);
        op(static_cast<uint8_t>(o.code));
        emit_memarg(access_log2_store(o.code));
        return;
      }
      case 5: {
        ValType t = kNumeric[in_.ConsumeIntegralInRange<size_t>(0, 3)];
        emit_expr(t, depth + 1);
        op(0x1A);
        return;
      }
      case 6: {
        emit_expr(ValType::I32, depth + 1);
        op(0x04);
        op(0x40);
        labels_.push_back({{}, false});
        emit_stmts(in_.ConsumeIntegralInRange<int>(0, 3), depth + 1);
        if (in_.ConsumeBool()) {
          op(0x05);
          emit_stmts(in_.ConsumeIntegralInRange<int>(0, 3), depth + 1);
        }
        labels_.pop_back();
        op(0x0B);
        return;
      }
      case 7: {
        op(0x02);
        op(0x40);
        labels_.push_back({{}, false});
        emit_stmts(in_.ConsumeIntegralInRange<int>(0, 4), depth + 1);
        labels_.pop_back();
        op(0x0B);
        return;
      }
      case 8:
      case 9: {
        // block { loop { fuel check (exit); body; br_if continue } }
        op(0x02);
        op(0x40);
        labels_.push_back({{}, false});
        op(0x03);
        op(0x40);
        labels_.push_back({{}, false});
        emit_fuel_check([&] {
          op(0x0C);
          put_u32(code_, 2);
        });  // br to the block (if adds 1)
        emit_stmts(in_.ConsumeIntegralInRange<int>(0, 4), depth + 1);
        emit_expr(ValType::I32, depth + 1);
        op(0x0D);
        put_u32(code_, 0);
        labels_.pop_back();
        op(0x0B);
        labels_.pop_back();
        op(0x0B);
        return;
      }
      case 10: {
        // br or br_if to any enclosing label, carrying what it expects.
        size_t target = in_.ConsumeIntegralInRange<size_t>(0, labels_.size() - 1);
        for (ValType t : labels_[target].branch_types) emit_expr(t, depth + 1);
        uint32_t relative = labels_.size() - 1 - target;
        if (in_.ConsumeBool()) {
          emit_expr(ValType::I32, depth + 1);
          op(0x0D);
          put_u32(code_, relative);
          for (size_t k = 0; k < labels_[target].branch_types.size(); ++k) op(0x1A);
        } else {
          op(0x0C);
          put_u32(code_, relative);
        }
        return;
      }
      case 11: {
        size_t target = in_.ConsumeIntegralInRange<size_t>(0, labels_.size() - 1);
        const auto types = labels_[target].branch_types;
        auto depths = labels_with(types);
        for (ValType t : types) emit_expr(t, depth + 1);
        emit_expr(ValType::I32, depth + 1);
        op(0x0E);
        uint32_t n = in_.ConsumeIntegralInRange<uint32_t>(0, 4);
        put_u32(code_, n);
        for (uint32_t k = 0; k <= n; ++k)
          put_u32(code_, depths[in_.ConsumeIntegralInRange<size_t>(0, depths.size() - 1)]);
        return;
      }
      case 12: {
        int func = pick_func(nullptr);
        if (func < 0) break;
        const Signature& sig = shape_.funcs[func - 1];
        emit_args(sig.params, depth);
        bool indirect = in_.ConsumeBool();
        if (indirect) {
          emit_expr(ValType::I32, depth + 1);
          op(0x11);
          put_u32(code_, kFirstFuncType + func - 1);
          put_u32(code_, 0);
        } else {
          op(0x10);
          put_u32(code_, func);
        }
        for (size_t k = 0; k < sig.results.size(); ++k) op(0x1A);
        return;
      }
      case 13: {
        // Tail call to a function with our results.
        int func = pick_func(&shape_.funcs[self_].results);
        if (func < 0) break;
        emit_args(shape_.funcs[func - 1].params, depth);
        if (in_.ConsumeBool()) {
          emit_expr(ValType::I32, depth + 1);
          op(0x13);
          put_u32(code_, kFirstFuncType + func - 1);
          put_u32(code_, 0);
        } else {
          op(0x12);
          put_u32(code_, func);
        }
        return;
      }
      case 14: {
        // Conditional trap or throw.
        emit_expr(ValType::I32, depth + 1);
        op(0x04);
        op(0x40);
        labels_.push_back({{}, false});
        switch (in_.ConsumeIntegralInRange<int>(0, 2)) {
          case 0: op(0x00); break;  // unreachable
          case 1:
            emit_expr(ValType::I32, depth + 1);
            op(0x08);
            put_u32(code_, 0);  // throw tag 0
            break;
          default:
            emit_expr(ValType::I32, depth + 1);
            op(0x10);
            put_u32(code_, kHostFunc);
            op(0x1A);
            break;
        }
        labels_.pop_back();
        op(0x0B);
        return;
      }
      case 15: {
        // Bulk memory.
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
          case 0:
            emit_address(depth);
            emit_expr(ValType::I32, depth + 1);
            emit_small_len();
            op_fc(11);
            op(0x00);  // memory.fill
            return;
          case 1:
            emit_address(depth);
            emit_address(depth);
            emit_small_len();
            op_fc(10);
            op(0x00);
            op(0x00);  // memory.copy
            return;
          case 2:
            emit_address(depth);
            emit_small_len();
            emit_small_len();
            op_fc(8);
            put_u32(code_, 1);
            op(0x00);  // memory.init 1
            return;
          default:
            op_fc(9);
            put_u32(code_, 1);  // data.drop 1
            return;
        }
      }
      case 16: {
        // Tables.
        switch (in_.ConsumeIntegralInRange<int>(0, 4)) {
          case 0:
            emit_small_len();
            emit_funcref(depth);
            op(0x26);
            put_u32(code_, 0);  // table.set
            return;
          case 1:
            emit_small_len();
            emit_funcref(depth);
            emit_small_len();
            op_fc(17);
            put_u32(code_, 0);  // table.fill
            return;
          case 2:
            emit_small_len();
            emit_small_len();
            emit_small_len();
            op_fc(14);
            put_u32(code_, 0);
            put_u32(code_, 0);  // table.copy
            return;
          case 3:
            emit_small_len();
            emit_small_len();
            emit_small_len();
            op_fc(12);
            put_u32(code_, 1);
            put_u32(code_, 0);  // table.init 1
            return;
          default:
            op_fc(13);
            put_u32(code_, 1);  // elem.drop 1
            return;
        }
      }
      case 17: {
        // try_table with catch_all, or catch_all_ref followed by throw_ref of the exception or
        // of null.
        if (in_.ConsumeBool()) {
          op(0x02);
          op(0x40);
          op(0x1F);
          op(0x40);
          put_u32(code_, 1);
          op(0x02);
          put_u32(code_, 0);  // catch_all -> 0
          labels_.push_back({{}, false});
          labels_.push_back({{}, false});
          emit_stmts(in_.ConsumeIntegralInRange<int>(0, 3), depth + 1);
          labels_.pop_back();
          op(0x0B);
          labels_.pop_back();
          op(0x0B);
        } else {
          op(0x02);
          op(0x40);  // done
          op(0x02);
          op(vt(ValType::ExnRef));  // handler
          op(0x1F);
          op(0x40);
          put_u32(code_, 1);
          op(0x03);
          put_u32(code_, 0);  // catch_all_ref -> handler
          labels_.push_back({{}, false});
          labels_.push_back({{ValType::ExnRef}, false});
          labels_.push_back({{}, false});
          emit_stmts(in_.ConsumeIntegralInRange<int>(0, 3), depth + 1);
          labels_.pop_back();
          op(0x0B);
          op(0x0C);
          put_u32(code_, 1);  // br done
          labels_.pop_back();
          op(0x0B);
          rethrow_or_drop_exnref(depth);
          labels_.pop_back();
          op(0x0B);
        }
        return;
      }
      case 18: {
        // try_table catch_ref tag 0: the handler gets the payload and the exnref.
        op(0x02);
        put_s64(code_, kCatchRefBlockType);
        op(0x1F);
        op(0x40);
        put_u32(code_, 1);
        op(0x01);
        put_u32(code_, 0);
        put_u32(code_, 0);  // catch_ref 0 -> 0
        labels_.push_back({{ValType::I32, ValType::ExnRef}, false});
        labels_.push_back({{}, false});
        emit_stmts(in_.ConsumeIntegralInRange<int>(0, 3), depth + 1);
        labels_.pop_back();
        op(0x0B);
        // Falling through gives the handler's shape too: a payload and a null exnref.
        emit_random_const(ValType::I32);
        op(0xD0);
        op(vt(ValType::ExnRef));
        labels_.pop_back();
        op(0x0B);
        rethrow_or_drop_exnref(depth);
        op(0x1A);
        return;
      }
      case 19: {
        // Legacy try with catch tag 0 and/or catch_all, rethrow inside a catch, or delegate.
        op(0x06);
        op(0x40);
        labels_.push_back({{}, false});
        emit_stmts(in_.ConsumeIntegralInRange<int>(0, 3), depth + 1);
        labels_.pop_back();
        int form = in_.ConsumeIntegralInRange<int>(0, 2);
        if (form == 2) {
          op(0x18);
          put_u32(code_, in_.ConsumeIntegralInRange<uint32_t>(0, labels_.size() - 1));
          return;
        }
        if (form == 0 || in_.ConsumeBool()) {
          op(0x07);
          put_u32(code_, 0);
          labels_.push_back({{}, true});
          int local = pick_local(ValType::I32);
          op(0x21);
          put_u32(code_, local);  // the payload
          emit_stmts(in_.ConsumeIntegralInRange<int>(0, 2), depth + 1);
          maybe_rethrow(depth);
          labels_.pop_back();
        }
        if (form == 1) {
          op(0x19);
          labels_.push_back({{}, true});
          emit_stmts(in_.ConsumeIntegralInRange<int>(0, 2), depth + 1);
          maybe_rethrow(depth);
          labels_.pop_back();
        }
        op(0x0B);
        return;
      }
      case 20: {
        // return with values
        for (ValType t : shape_.funcs[self_].results) emit_expr(t, depth + 1);
        op(0x0F);
        return;
      }
      case 21:
        if (in_.ConsumeIntegralInRange<int>(0, 7) == 0) {
          op(0x00);
          return;
        }
        break;
      default: break;
    }
    // Fallback: a local.set, always valid.
    ValType t = kNumeric[in_.ConsumeIntegralInRange<size_t>(0, 3)];
    int local = pick_local(t);
    emit_expr(t, depth + 1);
    op(0x21);
    put_u32(code_, local);
  }

  void maybe_rethrow(int depth) {
    if (!in_.ConsumeBool()) return;
    std::vector<uint32_t> catches;
    for (size_t i = 0; i < labels_.size(); ++i)
      if (labels_[i].is_catch) catches.push_back(labels_.size() - 1 - i);
    emit_expr(ValType::I32, depth + 1);
    op(0x04);
    op(0x40);
    labels_.push_back({{}, false});
    op(0x09);
    put_u32(code_, 1 + catches[in_.ConsumeIntegralInRange<size_t>(0, catches.size() - 1)]);
    labels_.pop_back();
    op(0x0B);
  }

  // Stack: [exnref] -> []: throw_ref it (or a null one), or drop it.
  void rethrow_or_drop_exnref(int depth) {
    switch (in_.ConsumeIntegralInRange<int>(0, 2)) {
      case 0: op(0x1A); return;
      case 1: op(0x0A); return;
      default:
        op(0xD0);
        op(vt(ValType::ExnRef));
        emit_expr(ValType::I32, depth + 1);
        op(0x1C);
        put_u32(code_, 1);
        op(vt(ValType::ExnRef));
        op(0x0A);
        return;
    }
  }

  void emit_small_len() { emit_const(ValType::I32, in_.ConsumeIntegralInRange<int32_t>(-1, 20)); }

  static uint32_t access_log2_store(uint32_t code) {
    switch (code) {
      case 0x36:
      case 0x38:
      case 0x3E: return 2;
      case 0x37:
      case 0x39: return 3;
      case 0x3A:
      case 0x3C: return 0;
      default: return 1;  // store16
    }
  }

  FuzzedDataProvider& in_;
  const Shape& shape_;
  uint32_t self_;
  std::vector<ValType> locals_;
  std::vector<Label> labels_;
  Bytes code_;
  int emitted_ = 0;
};

void put_functype(Bytes& out, const std::vector<ValType>& params,
                  const std::vector<ValType>& results) {
  out.push_back(0x60);
  put_u32(out, params.size());
  for (ValType t : params) out.push_back(vt(t));
  put_u32(out, results.size());
  for (ValType t : results) out.push_back(vt(t));
}

void put_const_expr(Bytes& out, ValType t, int64_t v) {
  switch (t) {
    case ValType::I32:
      out.push_back(0x41);
      put_s64(out, static_cast<int32_t>(v));
      break;
    case ValType::I64:
      out.push_back(0x42);
      put_s64(out, v);
      break;
    case ValType::F32: {
      out.push_back(0x43);
      float f = static_cast<float>(v);
      uint8_t b[4];
      std::memcpy(b, &f, 4);
      out.insert(out.end(), b, b + 4);
      break;
    }
    default: {
      out.push_back(0x44);
      double d = static_cast<double>(v);
      uint8_t b[8];
      std::memcpy(b, &d, 8);
      out.insert(out.end(), b, b + 8);
      break;
    }
  }
  out.push_back(0x0B);
}

struct Generated {
  Bytes binary;
  Shape shape;
  uint32_t memory_max;
};

Generated generate_module(FuzzedDataProvider& in) {
  Generated g;
  Shape& shape = g.shape;
  uint32_t func_count = in.ConsumeIntegralInRange<uint32_t>(1, 4);
  for (uint32_t i = 0; i < func_count; ++i) {
    Signature sig;
    uint32_t params = in.ConsumeIntegralInRange<uint32_t>(0, 3);
    uint32_t results = in.ConsumeIntegralInRange<uint32_t>(0, 2);
    for (uint32_t k = 0; k < params; ++k)
      sig.params.push_back(kNumeric[in.ConsumeIntegralInRange<size_t>(0, 3)]);
    for (uint32_t k = 0; k < results; ++k)
      sig.results.push_back(kNumeric[in.ConsumeIntegralInRange<size_t>(0, 3)]);
    shape.funcs.push_back(sig);
  }
  shape.globals.push_back({ValType::I32, true});  // fuel
  for (ValType t : kNumeric) {
    shape.globals.push_back({t, true});
    if (in.ConsumeBool()) shape.globals.push_back({t, false});
  }
  shape.table_min = in.ConsumeIntegralInRange<uint32_t>(0, 8);
  shape.passive_elems = in.ConsumeIntegralInRange<uint32_t>(0, 4);
  shape.passive_data = in.ConsumeIntegralInRange<uint32_t>(0, 16);
  uint32_t memory_min = in.ConsumeIntegralInRange<uint32_t>(0, 2);
  g.memory_max = memory_min + in.ConsumeIntegralInRange<uint32_t>(0, 3);

  Bytes& m = g.binary;
  const uint8_t header[] = {0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00};
  m.assign(header, header + sizeof(header));

  Bytes types;
  put_u32(types, kFirstFuncType + func_count);
  put_functype(types, {ValType::I32}, {ValType::I32});
  put_functype(types, {ValType::I32}, {});
  put_functype(types, {}, {ValType::I32, ValType::ExnRef});
  for (const auto& sig : shape.funcs) put_functype(types, sig.params, sig.results);
  put_section(m, 1, types);

  Bytes imports;
  put_u32(imports, 1);
  put_name(imports, "env");
  put_name(imports, "host");
  imports.push_back(0x00);
  put_u32(imports, 0);
  put_section(m, 2, imports);

  Bytes funcs;
  put_u32(funcs, func_count);
  for (uint32_t i = 0; i < func_count; ++i) put_u32(funcs, kFirstFuncType + i);
  put_section(m, 3, funcs);

  Bytes table;
  put_u32(table, 1);
  table.push_back(vt(ValType::FuncRef));
  bool table_max = in.ConsumeBool();
  table.push_back(table_max ? 0x01 : 0x00);
  put_u32(table, shape.table_min);
  if (table_max) put_u32(table, shape.table_min + 4);
  put_section(m, 4, table);

  Bytes memory;
  put_u32(memory, 1);
  memory.push_back(0x01);
  put_u32(memory, memory_min);
  put_u32(memory, g.memory_max);
  put_section(m, 5, memory);

  Bytes tags;
  put_u32(tags, 1);
  tags.push_back(0x00);
  put_u32(tags, kTagType);
  put_section(m, 13, tags);

  Bytes globals;
  put_u32(globals, shape.globals.size());
  for (const auto& gl : shape.globals) {
    globals.push_back(vt(gl.type));
    globals.push_back(gl.is_mutable ? 1 : 0);
    put_const_expr(globals, gl.type, in.ConsumeIntegralInRange<int32_t>(-3, 70000));
  }
  put_section(m, 6, globals);

  Bytes exports;
  put_u32(exports, func_count + 3);
  for (uint32_t i = 0; i < func_count; ++i) {
    put_name(exports, "f" + std::to_string(i));
    exports.push_back(0x00);
    put_u32(exports, i + 1);
  }
  put_name(exports, "mem");
  exports.push_back(0x02);
  put_u32(exports, 0);
  put_name(exports, "tab");
  exports.push_back(0x01);
  put_u32(exports, 0);
  put_name(exports, "tag");
  exports.push_back(0x04);
  put_u32(exports, 0);
  put_section(m, 7, exports);

  // Element segments: 0 active at 0 (as much of the function space as fits the table),
  // 1 passive. Both make every function referenceable by ref.func.
  Bytes elems;
  put_u32(elems, 2);
  uint32_t total_funcs = func_count + 1;
  uint32_t active = std::min(total_funcs, shape.table_min);
  elems.push_back(0x00);
  put_const_expr(elems, ValType::I32, 0);
  put_u32(elems, active);
  for (uint32_t i = 0; i < active; ++i) put_u32(elems, (i + 1) % total_funcs);
  elems.push_back(0x01);
  elems.push_back(0x00);  // elemkind funcref
  put_u32(elems, shape.passive_elems + total_funcs);
  for (uint32_t i = 0; i < shape.passive_elems + total_funcs; ++i) put_u32(elems, i % total_funcs);
  put_section(m, 9, elems);

  Bytes data_count;
  put_u32(data_count, 2);
  put_section(m, 12, data_count);

  Bytes code;
  put_u32(code, func_count);
  for (uint32_t i = 0; i < func_count; ++i) {
    BodyGen gen(in, shape, i);
    Bytes body = gen.generate();
    put_u32(code, body.size());
    code.insert(code.end(), body.begin(), body.end());
  }
  put_section(m, 10, code);

  Bytes data;
  put_u32(data, 2);
  data.push_back(0x00);
  // Active data must fit, or instantiation fails before anything runs.
  uint32_t data_len = memory_min ? in.ConsumeIntegralInRange<uint32_t>(0, 32) : 0;
  put_const_expr(data, ValType::I32,
                 memory_min ? in.ConsumeIntegralInRange<int32_t>(0, 65536 - 32) : 0);
  put_u32(data, data_len);
  for (uint32_t i = 0; i < data_len; ++i) data.push_back(static_cast<uint8_t>(i * 37 + 1));
  data.push_back(0x01);
  put_u32(data, shape.passive_data);
  for (uint32_t i = 0; i < shape.passive_data; ++i) data.push_back(static_cast<uint8_t>(0xA0 + i));
  put_section(m, 11, data);
  return g;
}

// ------------------------------------------------------------------------------------------------
// State copies and comparisons.

struct StateCopy {
  std::vector<uint8_t> memory;
  uint32_t pages = 0;
  std::vector<rw::Value> globals;
  std::vector<rw::Value> table;
};

StateCopy copy_state(const rw::Instance& instance) {
  StateCopy s;
  rw::Memory mem = instance.memory(0);
  s.pages = mem.pages();
  s.memory.assign(mem.data(), mem.data() + mem.size_bytes());
  for (uint32_t i = 0; i < instance.global_count(); ++i)
    s.globals.push_back(instance.global(i).get());
  rw::Table table = instance.table(0);
  for (uint32_t i = 0; i < table.size(); ++i) s.table.push_back(*table.get(i));
  return s;
}

bool same_value(const rw::Value& a, const rw::Value& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case ValType::I32:
    case ValType::F32: return a.i32 == b.i32;
    case ValType::I64:
    case ValType::F64: return a.i64 == b.i64;
    default: return a.ref == b.ref;
  }
}

bool same_values(const std::vector<rw::Value>& a, const std::vector<rw::Value>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same_value(a[i], b[i])) return false;
  return true;
}

void expect_same_state(const StateCopy& expected, const rw::Instance& instance) {
  StateCopy now = copy_state(instance);
  if (now.pages != expected.pages) fail("memory size differs from the checkpoint");
  if (now.memory != expected.memory) fail("memory contents differ from the checkpoint");
  if (!same_values(now.globals, expected.globals)) fail("globals differ from the checkpoint");
  if (!same_values(now.table, expected.table)) fail("table differs from the checkpoint");
}

// Exception payloads and values of two runs of the same call; exnref and funcref values are
// store objects, so only their nullness is compared.
bool same_results(const rw::CallResult& a, const rw::CallResult& b) {
  if (a.outcome != b.outcome) return false;
  if (a.outcome == rw::Outcome::Abort && a.trap != b.trap) return false;
  if (a.outcome == rw::Outcome::Ok) return same_values(a.values, b.values);
  if (a.outcome == rw::Outcome::Panic)
    return a.exception_tag == b.exception_tag &&
           same_values(a.exception_payload, b.exception_payload);
  return true;
}

struct HostState {
  rw::Instance* instance = nullptr;
  uint32_t nested_calls = 0;
};

// The host import: its argument picks a behaviour, so generated code reaches every host outcome.
rw::HostResult host_function(HostState& state, rw::HostContext& ctx,
                             std::span<const rw::Value> args, std::span<rw::Value> results) {
  uint32_t arg = args[0].i32;
  switch (arg % 8) {
    case 1: return rw::HostResult::abort("host abort");
    case 2:
      return rw::HostResult::fail(std::make_exception_ptr(std::runtime_error("host error")),
                                  "host error");
    case 3:
      return rw::HostResult::throw_exception(*state.instance->get_tag("tag"),
                                             {rw::Value::make_i32(static_cast<int32_t>(arg))});
    case 4: {
      // Back into the guest: an export that takes no parameters, if there is one.
      if (state.nested_calls >= 4) break;
      for (const auto& e : state.instance->module().exports()) {
        if (e.kind != rw::ExternKind::Func) continue;
        rw::Function f = state.instance->function(e.index);
        if (!f.type().params.empty()) continue;
        ++state.nested_calls;
        rw::CallResult nested = ctx.call(f, {});
        if (!nested.ok()) return rw::HostResult::propagate(std::move(nested));
        break;
      }
      break;
    }
    default: break;
  }
  results[0] = rw::Value::make_i32(static_cast<int32_t>(arg + 1));
  return rw::HostResult::ok();
}

rw::Value random_arg(FuzzedDataProvider& in, ValType t) {
  switch (t) {
    case ValType::I32: return rw::Value::make_i32(in.ConsumeIntegral<int32_t>());
    case ValType::I64: return rw::Value::make_i64(in.ConsumeIntegral<int64_t>());
    case ValType::F32: return rw::Value::make_f32_bits(in.ConsumeIntegral<uint32_t>());
    default: return rw::Value::make_f64_bits(in.ConsumeIntegral<uint64_t>());
  }
}

// With EXEC_FUZZ_STATS set, how often each outcome and trap kind occurred is printed at exit, to
// see what the generator reaches (e.g. over a corpus: exec_fuzz -runs=0 corpus/).
struct OutcomeCounts {
  std::array<uint64_t, 5> outcomes{};
  std::array<uint64_t, 16> traps{};
  ~OutcomeCounts() {
    if (!std::getenv("EXEC_FUZZ_STATS")) return;
    for (size_t i = 0; i < outcomes.size(); ++i)
      std::fprintf(stderr, "outcome %s: %llu\n", rw::to_string(static_cast<rw::Outcome>(i)),
                   static_cast<unsigned long long>(outcomes[i]));
    for (size_t i = 0; i <= static_cast<size_t>(rw::TrapKind::NullReference); ++i)
      std::fprintf(stderr, "trap %s: %llu\n", rw::to_string(static_cast<rw::TrapKind>(i)),
                   static_cast<unsigned long long>(traps[i]));
  }
};
OutcomeCounts counts;

void check_outcome(const rw::CallResult& r, rw::Store& store) {
  ++counts.outcomes[static_cast<size_t>(r.outcome)];
  if (r.outcome == rw::Outcome::Abort) ++counts.traps[static_cast<size_t>(r.trap) & 15];
  switch (r.outcome) {
    case rw::Outcome::Ok: CHECK(!store.terminated()); break;
    case rw::Outcome::Panic:
    case rw::Outcome::HostError: CHECK(!store.terminated()); break;
    case rw::Outcome::Abort:
      CHECK(static_cast<uint8_t>(r.trap) <= static_cast<uint8_t>(rw::TrapKind::NullReference));
      CHECK(!r.message.empty());
      CHECK(store.terminated());
      break;
    case rw::Outcome::Terminated: fail("a call on a live store was refused");
  }
}

}  // namespace

// Values of two stores: references by nullness only (they are each store's own objects), and
// any NaN equals any NaN (which operand's NaN an operation passes on is not specified, and a
// fused operation's machine code may order its operands differently).
bool same_across_stores(const std::vector<rw::Value>& a, const std::vector<rw::Value>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].type != b[i].type) return false;
    switch (a[i].type) {
      case ValType::F32:
        if (std::isnan(a[i].as_f32()) && std::isnan(b[i].as_f32())) continue;
        break;
      case ValType::F64:
        if (std::isnan(a[i].as_f64()) && std::isnan(b[i].as_f64())) continue;
        break;
      case ValType::I32:
      case ValType::I64: break;
      default:
        if ((a[i].ref == nullptr) != (b[i].ref == nullptr)) return false;
        continue;
    }
    if (!same_value(a[i], b[i])) return false;
  }
  return true;
}

// Runs the same calls on an instance of the module as compiled normally and on one compiled
// without fusion, and requires the same results and state after every call.
void check_fused_against_plain(const Generated& g, const std::shared_ptr<const rw::Module>& fused,
                               FuzzedDataProvider& in) {
  auto plain = rw::Module::from_binary(g.binary);
  CHECK(plain.ok());
  plain.value()->compiled().fuse = false;
  struct Side {
    std::unique_ptr<rw::Store> store;
    HostState host;
    rw::Instance* instance = nullptr;
  };
  Side sides[2];
  const std::shared_ptr<const rw::Module>* modules[2] = {&fused, &plain.value()};
  for (int i = 0; i < 2; ++i) {
    rw::StoreOptions options;
    options.limits.max_call_depth = 64;
    options.limits.max_memory_pages = 8;
    options.limits.max_table_elements = 64;
    options.limits.cpu_time_per_call = std::chrono::milliseconds(100);
    sides[i].store = std::make_unique<rw::Store>(options);
    Side& side = sides[i];
    rw::Imports imports;
    imports.define("env", "host",
                   rw::Extern::of(side.store->create_host_function(
                       rw::FuncType{{ValType::I32}, {ValType::I32}},
                       [&side](rw::HostContext& ctx, std::span<const rw::Value> args,
                               std::span<rw::Value> results) {
                         return host_function(side.host, ctx, args, results);
                       },
                       "host")));
    auto instance = side.store->instantiate(*modules[i], imports);
    if (!instance.ok()) return;  // as in the main pass
    side.instance = instance.value();
    side.host.instance = side.instance;
  }
  uint32_t calls = in.ConsumeIntegralInRange<uint32_t>(1, 4);
  for (uint32_t c = 0; c < calls; ++c) {
    uint32_t index = in.ConsumeIntegralInRange<uint32_t>(0, g.shape.funcs.size() - 1);
    std::vector<rw::Value> args;
    for (ValType t : g.shape.funcs[index].params) args.push_back(random_arg(in, t));
    rw::CallResult results[2];
    for (int i = 0; i < 2; ++i) {
      rw::Instance& inst = *sides[i].instance;
      CHECK(inst.global(kFuelGlobal).set(rw::Value::make_i32(kFuelPerCall)));
      sides[i].host.nested_calls = 0;
      results[i] = sides[i].store->call(*inst.get_function("f" + std::to_string(index)), args);
    }
    const rw::CallResult& a = results[0];
    const rw::CallResult& b = results[1];
    // A CPU limit depends on timing, not on the code: nothing to compare from there on.
    if ((a.outcome == rw::Outcome::Abort && a.trap == rw::TrapKind::CpuLimit) ||
        (b.outcome == rw::Outcome::Abort && b.trap == rw::TrapKind::CpuLimit))
      return;
    if (a.outcome != b.outcome) fail("fused and plain code ended a call differently");
    if (a.outcome == rw::Outcome::Abort && a.trap != b.trap)
      fail("fused and plain code trapped differently");
    if (!same_across_stores(a.values, b.values))
      fail("fused and plain code returned different values");
    if (!same_across_stores(a.exception_payload, b.exception_payload))
      fail("fused and plain code threw different payloads");
    StateCopy sa = copy_state(*sides[0].instance), sb = copy_state(*sides[1].instance);
    if (sa.pages != sb.pages || sa.memory != sb.memory)
      fail("fused and plain code left different memory");
    if (!same_across_stores(sa.globals, sb.globals))
      fail("fused and plain code left different globals");
    if (a.outcome == rw::Outcome::Abort) return;  // both stores are terminated now
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  Generated g = generate_module(in);

  auto module = rw::Module::from_binary(g.binary);
  if (!module.ok()) {
    std::fprintf(stderr, "generated module rejected: %s\n", module.error().message.c_str());
    if (FILE* f = std::fopen("exec_fuzz-rejected.wasm", "wb")) {
      std::fwrite(g.binary.data(), 1, g.binary.size(), f);
      std::fclose(f);
    }
    fail("the generator produced an invalid module");
  }
  // Loops the loop compiler takes run as machine code on this side, or through the interpreter's
  // fused translation: the plain side checks either.
  module.value()->compiled().compile_loops = in.ConsumeBool();

  rw::StoreOptions options;
  options.limits.max_call_depth = in.ConsumeIntegralInRange<uint32_t>(8, 400);
  options.limits.max_memory_pages = 8;
  options.limits.max_table_elements = 64;
  options.limits.cpu_time_per_call = std::chrono::milliseconds(100);
  options.terminate_on_abort = true;
  rw::Store store(options);
  HostState host;
  rw::Imports imports;
  imports.define(
      "env", "host",
      rw::Extern::of(store.create_host_function(
          rw::FuncType{{ValType::I32}, {ValType::I32}},
          [&host](rw::HostContext& ctx, std::span<const rw::Value> args,
                  std::span<rw::Value> results) { return host_function(host, ctx, args, results); },
          "host")));
  auto instantiated = store.instantiate(module.value(), imports);
  if (!instantiated.ok()) return 0;  // e.g. an element segment beyond a small table
  rw::Instance& instance = *instantiated.value();
  host.instance = &instance;
  rw::Global fuel = instance.global(kFuelGlobal);

  auto snapshot = rw::Snapshot::capture(instance);
  CHECK(snapshot.ok());
  auto lifecycle = rw::Lifecycle::attach(instance, snapshot.value());
  CHECK(lifecycle.ok());
  rw::Lifecycle& life = *lifecycle.value();
  const StateCopy initial = copy_state(instance);

  uint32_t calls = in.ConsumeIntegralInRange<uint32_t>(1, 8);
  for (uint32_t c = 0; c < calls; ++c) {
    uint32_t index = in.ConsumeIntegralInRange<uint32_t>(0, g.shape.funcs.size() - 1);
    rw::Function f = *instance.get_function("f" + std::to_string(index));
    std::vector<rw::Value> args;
    for (ValType t : g.shape.funcs[index].params) args.push_back(random_arg(in, t));

    CHECK(fuel.set(rw::Value::make_i32(kFuelPerCall)));
    life.checkpoint();
    const StateCopy before = copy_state(instance);
    host.nested_calls = 0;
    rw::CallResult first = store.call(f, args);
    check_outcome(first, store);
    if (first.outcome == rw::Outcome::Abort) {
      rw::CallResult refused = store.call(f, args);
      CHECK(refused.outcome == rw::Outcome::Terminated);
    }

    const StateCopy after_first = copy_state(instance);
    bool roll_back = !first.ok() || in.ConsumeBool();
    if (!roll_back) {
      life.commit();
      continue;
    }
    CHECK(life.rollback());
    CHECK(!store.terminated());
    expect_same_state(before, instance);

    // The rolled-back instance must behave exactly as the checkpointed one did.
    if (first.outcome == rw::Outcome::Abort && first.trap == rw::TrapKind::CpuLimit) continue;
    life.checkpoint();
    host.nested_calls = 0;
    rw::CallResult second = store.call(f, args);
    if (second.outcome == rw::Outcome::Abort && second.trap == rw::TrapKind::CpuLimit) {
      CHECK(life.rollback());
      continue;
    }
    if (!same_results(first, second)) fail("re-running a call after rollback gave another result");
    if (second.ok()) {
      expect_same_state(after_first, instance);
      life.commit();
    } else {
      CHECK(life.rollback());
      expect_same_state(before, instance);
    }
  }

  if (in.ConsumeBool()) {
    life.reset();
    CHECK(!store.terminated());
    expect_same_state(initial, instance);
  }
  check_fused_against_plain(g, module.value(), in);
  return 0;
}
