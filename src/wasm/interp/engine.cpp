// The embedding API (include/rewind/engine.h): modules, stores, instantiation and linking, and the
// handles to runtime objects.

#include <sys/mman.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "wasm/decoder/decoder.h"
#include "wasm/interp/compiler.h"
#include "wasm/interp/runtime.h"
#include "wasm/text/wat.h"
#include "wasm/validator/validator.h"

namespace rw {
namespace internal {

uint64_t value_to_slot(const Value& v) {
  switch (v.type) {
    case ValType::I32: return v.i32;
    case ValType::F32: return v.f32_bits;
    case ValType::I64: return v.i64;
    case ValType::F64: return v.f64_bits;
    default: return reinterpret_cast<uint64_t>(v.ref);
  }
}

Value slot_to_value(ValType t, uint64_t slot) {
  switch (t) {
    case ValType::I32: return Value::make_i32(static_cast<int32_t>(static_cast<uint32_t>(slot)));
    case ValType::F32: return Value::make_f32_bits(static_cast<uint32_t>(slot));
    case ValType::I64: return Value::make_i64(static_cast<int64_t>(slot));
    case ValType::F64: return Value::make_f64_bits(slot);
    default: return Value::make_ref(t, reinterpret_cast<RefPtr>(slot));
  }
}

// ---------------------------------------------------------------------------------------------
// Linear memory

MemoryInst* empty_memory() {
  static MemoryInst m;
  return &m;
}

MemoryInst::~MemoryInst() {
  if (base) munmap(base, reserved);
}

bool MemoryInst::init(MemoryType t, uint32_t store_max_pages) {
  type = t;
  uint64_t max = std::min<uint64_t>(t.limits.max.value_or(kMaxPages), kMaxPages);
  max = std::min<uint64_t>(max, store_max_pages);
  if (t.limits.min > max) return false;
  max_pages = static_cast<uint32_t>(max);
  // Reserve the whole maximum so the base never moves; at least one page so base is non-null.
  reserved = std::max<uint64_t>(max, 1) * kPageSize;
  void* p = mmap(nullptr, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    reserved = 0;
    return false;
  }
  base = static_cast<uint8_t*>(p);
  size = 0;
  if (t.limits.min > 0) {
    if (mprotect(base, t.limits.min * kPageSize, PROT_READ | PROT_WRITE) != 0) return false;
    size = t.limits.min * kPageSize;
  }
  return true;
}

int64_t MemoryInst::grow(uint64_t delta_pages) {
  uint64_t old = pages();
  if (delta_pages == 0) return static_cast<int64_t>(old);
  if (!base || old + delta_pages > max_pages) return -1;
  if (mprotect(base + size, delta_pages * kPageSize, PROT_READ | PROT_WRITE) != 0) return -1;
  size += delta_pages * kPageSize;
  type.limits.min = old + delta_pages;
  return static_cast<int64_t>(old);
}

// ---------------------------------------------------------------------------------------------
// Compiled modules

CompiledModule::CompiledModule(wasm::Module m) : ir(std::move(m)) {
  code = std::make_unique<CompiledFunc[]>(ir.functions.size());
  for (const auto& [index, name] : ir.names.globals) {
    if (name == "__stack_pointer" && index < ir.total_globals()) {
      stack_pointer_global = index;
      break;
    }
  }
  if (!stack_pointer_global) {
    for (uint32_t i = 0; i < ir.globals.size(); ++i) {
      const wasm::Global& g = ir.globals[i];
      if (!g.type.is_mutable || g.type.type != ValType::I32) continue;
      uint32_t index = ir.num_imported_globals + i;
      bool exported = std::any_of(ir.exports.begin(), ir.exports.end(), [&](const wasm::Export& e) {
        return e.kind == ExternKind::Global && e.index == index;
      });
      if (!exported) {
        stack_pointer_global = index;
        break;
      }
    }
  }
}

CompiledModule::~CompiledModule() = default;

CompiledFunc* CompiledModule::get(uint32_t defined_index) {
  std::lock_guard<std::mutex> lock(compile_mutex);
  CompiledFunc& cf = code[defined_index];
  if (cf.ready.load(std::memory_order_acquire)) return &cf;
  std::string error;
  if (!compile_function(ir, defined_index, cf, error, code.get(), fuse, compile_loops)) {
    cf.code.clear();  // a later call tries again (and fails the same way)
    cf.handlers.clear();
    cf.offsets.clear();
    return nullptr;
  }
  cf.ready.store(true, std::memory_order_release);
  return &cf;
}

// ---------------------------------------------------------------------------------------------
// Stores

StoreImpl::StoreImpl(StoreOptions o) : options(std::move(o)) {
  host_error_tag.type_id = UINT32_MAX;
}

StoreImpl::~StoreImpl() {
  if (stack_base) munmap(stack_base, stack_reserved_bytes);
  if (frames.base) munmap(frames.base, frames.reserved_bytes);
}

TypeId StoreImpl::intern_type(const FuncType& t) {
  auto [it, inserted] = type_ids_by_type.emplace(t, static_cast<TypeId>(types_by_id.size()));
  if (inserted) types_by_id.push_back(&it->first);
  return it->second;
}

bool StoreImpl::ensure_stack() {
  if (stack_base) return true;
  size_t bytes = std::max<uint64_t>(options.limits.max_value_stack_bytes, 4096);
  bytes = (bytes + 4095) & ~size_t{4095};
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  // One frame more than the depth limit: the executor checks the depth before it pushes.
  size_t frame_count = size_t{options.limits.max_call_depth} + 1;
  size_t frame_bytes = (frame_count * sizeof(Frame) + 4095) & ~size_t{4095};
  void* f = mmap(nullptr, frame_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (f == MAP_FAILED) {
    munmap(p, bytes);
    return false;
  }
  stack_base = static_cast<uint64_t*>(p);
  stack_limit = stack_base + bytes / sizeof(uint64_t);
  stack_reserved_bytes = bytes;
  frames.base = frames.top = static_cast<Frame*>(f);
  frames.reserved_bytes = frame_bytes;
  return true;
}

ExnObject* StoreImpl::new_exception() {
  if (exceptions.size() >= exception_collection_at) collect_unreachable_exceptions();
  exceptions.push_back(std::make_unique<ExnObject>());
  return exceptions.back().get();
}

// A conservative mark and sweep. During a call an exnref can only be held by value stack slots
// (locals, operands, the hidden slot of a legacy catch), by other exceptions' payloads, or by
// globals and tables of type exnref. Stores with such globals or tables, or whose exnrefs have
// reached the host, are never collected early: the host may hold a reference we cannot see.
// Every 8-byte word on the stack that equals an object's address keeps it: a stale word may keep
// an object longer than needed, but a reference is never missed.
void StoreImpl::collect_unreachable_exceptions() {
  auto exnref_storage = [this] {
    for (const auto& g : globals)
      if (g->type.type == ValType::ExnRef) return true;
    for (const auto& t : tables)
      if (t->type.element == ValType::ExnRef) return true;
    return false;
  };
  if (exnref_escaped || exnref_storage()) {
    exception_collection_at = std::max(exception_collection_at, exceptions.size()) * 2;
    return;
  }
  std::vector<std::pair<uint64_t, size_t>> by_address;  // (address, index in `exceptions`)
  by_address.reserve(exceptions.size());
  for (size_t i = 0; i < exceptions.size(); ++i)
    by_address.emplace_back(reinterpret_cast<uint64_t>(exceptions[i].get()), i);
  std::sort(by_address.begin(), by_address.end());
  std::vector<uint8_t> live(exceptions.size(), 0);
  std::vector<size_t> pending;
  auto mark = [&](uint64_t word) {
    auto it =
        std::lower_bound(by_address.begin(), by_address.end(), std::make_pair(word, size_t{0}));
    if (it == by_address.end() || it->first != word || live[it->second]) return;
    live[it->second] = 1;
    pending.push_back(it->second);
  };
  if (!frames.empty()) {
    const Frame& innermost = frames.back();
    for (const uint64_t* slot = stack_base; slot < innermost.fp + innermost.code->frame_slots;
         ++slot)
      mark(*slot);
  }
  while (!pending.empty()) {
    size_t i = pending.back();
    pending.pop_back();
    for (uint64_t word : exceptions[i]->payload) mark(word);
  }
  size_t kept = 0;
  for (size_t i = 0; i < exceptions.size(); ++i)
    if (live[i]) exceptions[kept++] = std::move(exceptions[i]);
  exceptions.resize(kept);
  exception_collection_at = std::max(kMinExceptionCollection, kept * 2);
}

void StoreImpl::collect_exceptions() {
  if (exnref_escaped) return;
  for (const auto& g : globals)
    if (g->type.type == ValType::ExnRef && g->value != 0) return;
  for (const auto& t : tables) {
    if (t->type.element != ValType::ExnRef) continue;
    if (std::any_of(t->elems.begin(), t->elems.end(), [](void* p) { return p != nullptr; })) return;
  }
  exceptions.clear();
  exception_collection_at = kMinExceptionCollection;
}

FuncInst* StoreImpl::new_func() {
  funcs.push_back(std::make_unique<FuncInst>());
  FuncInst* f = funcs.back().get();
  f->store = this;
  return f;
}

namespace {

Error make_error(Error::Kind kind, std::string message, size_t offset = Error::kNoOffset) {
  Error e;
  e.kind = kind;
  e.message = std::move(message);
  e.offset = offset;
  return e;
}

bool limits_match(const Limits& actual, const Limits& required) {
  if (actual.min < required.min) return false;
  if (required.max) {
    if (!actual.max || *actual.max > *required.max) return false;
  }
  return true;
}

// Evaluates a constant expression. Returns false on an unsupported instruction.
bool eval_const(const wasm::ConstExpr& expr, const InstanceImpl& inst, uint64_t& out) {
  std::vector<uint64_t> stack;
  for (const wasm::ConstInstr& ci : expr.instrs) {
    switch (ci.op) {
      case wasm::Opcode::I32Const: stack.push_back(static_cast<uint32_t>(ci.imm)); break;
      case wasm::Opcode::F32Const: stack.push_back(static_cast<uint32_t>(ci.imm)); break;
      case wasm::Opcode::I64Const:
      case wasm::Opcode::F64Const: stack.push_back(ci.imm); break;
      case wasm::Opcode::RefNull: stack.push_back(0); break;
      case wasm::Opcode::RefFunc:
        if (ci.imm >= inst.funcs.size()) return false;
        stack.push_back(reinterpret_cast<uint64_t>(inst.funcs[ci.imm]));
        break;
      case wasm::Opcode::GlobalGet:
        if (ci.imm >= inst.globals.size() || !inst.globals[ci.imm]) return false;
        stack.push_back(inst.globals[ci.imm]->value);
        break;
      case wasm::Opcode::I32Add:
      case wasm::Opcode::I32Sub:
      case wasm::Opcode::I32Mul:
      case wasm::Opcode::I64Add:
      case wasm::Opcode::I64Sub:
      case wasm::Opcode::I64Mul: {
        if (stack.size() < 2) return false;
        uint64_t b = stack.back();
        stack.pop_back();
        uint64_t a = stack.back();
        uint64_t r = 0;
        switch (ci.op) {
          case wasm::Opcode::I32Add: r = static_cast<uint32_t>(a + b); break;
          case wasm::Opcode::I32Sub: r = static_cast<uint32_t>(a - b); break;
          case wasm::Opcode::I32Mul: r = static_cast<uint32_t>(a * b); break;
          case wasm::Opcode::I64Add: r = a + b; break;
          case wasm::Opcode::I64Sub: r = a - b; break;
          default: r = a * b; break;
        }
        stack.back() = r;
        break;
      }
      default: return false;
    }
  }
  if (stack.size() != 1) return false;
  out = stack.back();
  return true;
}

Extern extern_of(const InstanceImpl& inst, ExternKind kind, uint32_t index) {
  switch (kind) {
    case ExternKind::Func: return Extern::of(Function(inst.funcs[index]));
    case ExternKind::Table: return Extern::of(Table(inst.tables[index]));
    case ExternKind::Memory: return Extern::of(Memory(inst.memories[index]));
    case ExternKind::Global: return Extern::of(Global(inst.globals[index]));
    case ExternKind::Tag: return Extern::of(Tag(inst.tags[index]));
  }
  return {};
}

}  // namespace
}  // namespace internal

using internal::slot_to_value;
using internal::value_to_slot;

// ---------------------------------------------------------------------------------------------
// Handles

const FuncType& Function::type() const { return impl_->type; }

TableType Table::type() const {
  TableType t = impl_->type;
  t.limits.min = impl_->elems.size();
  return t;
}
uint32_t Table::size() const { return static_cast<uint32_t>(impl_->elems.size()); }
std::optional<Value> Table::get(uint32_t index) const {
  if (index >= impl_->elems.size()) return std::nullopt;
  return Value::make_ref(impl_->type.element, impl_->elems[index]);
}
bool Table::set(uint32_t index, const Value& value) {
  if (index >= impl_->elems.size() || value.type != impl_->type.element) return false;
  impl_->elems[index] = value.ref;
  ++impl_->writes;  // for the lifecycle layer's rollback
  return true;
}
int64_t Table::grow(uint32_t delta, const Value& init) {
  if (init.type != impl_->type.element) return -1;
  uint64_t old = impl_->elems.size();
  if (old + delta > impl_->max_elems) return -1;
  impl_->elems.resize(old + delta, init.ref);
  impl_->type.limits.min = old + delta;
  ++impl_->writes;  // for the lifecycle layer's rollback
  return static_cast<int64_t>(old);
}

MemoryType Memory::type() const { return impl_->type; }
uint32_t Memory::pages() const { return impl_->pages(); }
uint64_t Memory::size_bytes() const { return impl_->size; }
uint8_t* Memory::data() const { return impl_->base; }
bool Memory::read(uint64_t address, std::span<uint8_t> out) const {
  if (address > impl_->size || out.size() > impl_->size - address) return false;
  if (!out.empty()) std::memcpy(out.data(), impl_->base + address, out.size());
  return true;
}
bool Memory::write(uint64_t address, std::span<const uint8_t> in) {
  if (address > impl_->size || in.size() > impl_->size - address) return false;
  if (!in.empty()) internal::store_bytes(impl_, impl_->base, address, in.data(), in.size());
  return true;
}
int64_t Memory::grow(uint32_t delta_pages) { return impl_->grow(delta_pages); }

GlobalType Global::type() const { return impl_->type; }
Value Global::get() const { return slot_to_value(impl_->type.type, impl_->value); }
bool Global::set(const Value& value, bool force) {
  if (value.type != impl_->type.type) return false;
  if (!impl_->type.is_mutable && !force) return false;
  impl_->value = value_to_slot(value);
  return true;
}

const FuncType& Tag::type() const { return impl_->type; }

// ---------------------------------------------------------------------------------------------
// Host results and contexts

HostResult HostResult::fail(std::exception_ptr error, std::string message) {
  HostResult r;
  r.kind = Kind::Error;
  r.error = std::move(error);
  r.message = std::move(message);
  return r;
}
HostResult HostResult::abort(std::string message) {
  HostResult r;
  r.kind = Kind::Abort;
  r.message = std::move(message);
  return r;
}
HostResult HostResult::throw_exception(Tag tag, std::vector<Value> payload) {
  HostResult r;
  r.kind = Kind::Throw;
  r.tag = tag;
  r.payload = std::move(payload);
  return r;
}
HostResult HostResult::propagate(CallResult nested) {
  HostResult r;
  r.kind = Kind::Propagate;
  r.propagated = std::make_shared<const CallResult>(std::move(nested));
  return r;
}

std::optional<Memory> HostContext::memory() const {
  if (!caller_ || caller_->impl()->memories.empty()) return std::nullopt;
  return Memory(caller_->impl()->memories[0]);
}

CallResult HostContext::call(Function f, std::span<const Value> args) {
  if (!f.valid() || f.impl()->store != store_->impl()) {
    CallResult r;
    r.outcome = Outcome::Abort;
    r.trap = TrapKind::HostAbort;
    r.message = "function does not belong to this store";
    return r;
  }
  return internal::invoke(store_->impl(), f.impl(), args, caller_);
}

// ---------------------------------------------------------------------------------------------
// Modules

Module::Module(std::unique_ptr<internal::CompiledModule> compiled)
    : compiled_(std::move(compiled)) {}
Module::~Module() = default;

const wasm::Module& Module::ir() const { return compiled_->ir; }

Result<std::shared_ptr<const Module>> Module::from_binary(std::span<const uint8_t> bytes) {
  Result<wasm::Module> decoded = wasm::decode_module(bytes);
  if (!decoded.ok()) return decoded.error();
  Result<void> valid = wasm::validate_module(decoded.value());
  if (!valid.ok()) return valid.error();
  return std::shared_ptr<const Module>(std::make_shared<Module>(
      std::make_unique<internal::CompiledModule>(std::move(decoded).value())));
}

Result<std::shared_ptr<const Module>> Module::from_text(std::string_view text) {
  // With the identifiers as a name section: backtraces of a text module name its functions.
  Result<std::vector<uint8_t>> binary = wasm::wat_to_binary(text, {.name_section = true});
  if (!binary.ok()) return binary.error();
  return from_binary(binary.value());
}

Result<std::shared_ptr<const Module>> Module::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return internal::make_error(Error::Kind::Other, "cannot open " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  static const uint8_t kMagic[4] = {0x00, 0x61, 0x73, 0x6d};
  if (bytes.size() >= 4 && std::equal(kMagic, kMagic + 4, bytes.begin())) return from_binary(bytes);
  return from_text(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::vector<ImportDesc> Module::imports() const {
  const wasm::Module& m = ir();
  std::vector<ImportDesc> out;
  out.reserve(m.imports.size());
  for (const wasm::Import& imp : m.imports) {
    ImportDesc d;
    d.module = imp.module;
    d.name = imp.name;
    d.kind = imp.kind;
    if ((imp.kind == ExternKind::Func || imp.kind == ExternKind::Tag) &&
        imp.type_index < m.types.size())
      d.func_type = m.types[imp.type_index];
    d.table = imp.table;
    d.memory = imp.memory;
    d.global = imp.global;
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<ExportDesc> Module::exports() const {
  std::vector<ExportDesc> out;
  for (const wasm::Export& e : ir().exports) out.push_back({e.name, e.kind, e.index});
  return out;
}

void Imports::define(std::string module, std::string name, Extern value) {
  for (Entry& e : entries_) {
    if (e.module == module && e.name == name) {
      e.value = value;
      return;
    }
  }
  entries_.push_back({std::move(module), std::move(name), value});
}

const Extern* Imports::find(std::string_view module, std::string_view name) const {
  for (const Entry& e : entries_)
    if (e.module == module && e.name == name) return &e.value;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Instances

Instance::Instance(std::unique_ptr<internal::InstanceImpl> impl) : impl_(std::move(impl)) {
  impl_->self = this;
}
Instance::~Instance() = default;

std::optional<Extern> Instance::get_export(std::string_view name) const {
  for (const wasm::Export& e : impl_->ir->exports)
    if (e.name == name) return internal::extern_of(*impl_, e.kind, e.index);
  return std::nullopt;
}
std::optional<Function> Instance::get_function(std::string_view name) const {
  auto e = get_export(name);
  if (!e || e->kind != ExternKind::Func) return std::nullopt;
  return e->func;
}
std::optional<Memory> Instance::get_memory(std::string_view name) const {
  auto e = get_export(name);
  if (!e || e->kind != ExternKind::Memory) return std::nullopt;
  return e->memory;
}
std::optional<Global> Instance::get_global(std::string_view name) const {
  auto e = get_export(name);
  if (!e || e->kind != ExternKind::Global) return std::nullopt;
  return e->global;
}
std::optional<Table> Instance::get_table(std::string_view name) const {
  auto e = get_export(name);
  if (!e || e->kind != ExternKind::Table) return std::nullopt;
  return e->table;
}
std::optional<Tag> Instance::get_tag(std::string_view name) const {
  auto e = get_export(name);
  if (!e || e->kind != ExternKind::Tag) return std::nullopt;
  return e->tag;
}

const Module& Instance::module() const { return *impl_->module; }
Function Instance::function(uint32_t i) const {
  return i < impl_->funcs.size() ? Function(impl_->funcs[i]) : Function();
}
Table Instance::table(uint32_t i) const {
  return i < impl_->tables.size() ? Table(impl_->tables[i]) : Table();
}
Memory Instance::memory(uint32_t i) const {
  return i < impl_->memories.size() ? Memory(impl_->memories[i]) : Memory();
}
Global Instance::global(uint32_t i) const {
  return i < impl_->globals.size() ? Global(impl_->globals[i]) : Global();
}
Tag Instance::tag(uint32_t i) const { return i < impl_->tags.size() ? Tag(impl_->tags[i]) : Tag(); }
uint32_t Instance::function_count() const { return static_cast<uint32_t>(impl_->funcs.size()); }
uint32_t Instance::table_count() const { return static_cast<uint32_t>(impl_->tables.size()); }
uint32_t Instance::memory_count() const { return static_cast<uint32_t>(impl_->memories.size()); }
uint32_t Instance::global_count() const { return static_cast<uint32_t>(impl_->globals.size()); }
uint32_t Instance::tag_count() const { return static_cast<uint32_t>(impl_->tags.size()); }
Store& Instance::store() const { return *impl_->store->self; }

// ---------------------------------------------------------------------------------------------
// Stores

Store::Store(StoreOptions options)
    : impl_(std::make_unique<internal::StoreImpl>(std::move(options))) {
  impl_->self = this;
}
Store::~Store() = default;

const StoreOptions& Store::options() const { return impl_->options; }
bool Store::terminated() const { return impl_->terminated; }
void Store::clear_terminated() {
  impl_->terminated = false;
  impl_->nested_abort.reset();
}
void Store::interrupt(TrapKind kind) {
  impl_->interrupt_kind.store(static_cast<int>(kind));
  impl_->attention.store(1);
}

Function Store::create_host_function(FuncType type, HostCallback callback, std::string name) {
  internal::FuncInst* f = impl_->new_func();
  f->type_id = impl_->intern_type(type);
  f->type = std::move(type);
  f->host = std::move(callback);
  f->host_name = std::move(name);
  return Function(f);
}

Result<Memory> Store::create_memory(MemoryType type) {
  auto m = std::make_unique<internal::MemoryInst>();
  if (type.limits.max && *type.limits.max < type.limits.min)
    return internal::make_error(Error::Kind::Other,
                                "size minimum must not be greater than maximum");
  if (!m->init(type, impl_->options.limits.max_memory_pages))
    return internal::make_error(Error::Kind::Other, "memory size exceeds the store limit");
  impl_->memories.push_back(std::move(m));
  return Memory(impl_->memories.back().get());
}

Result<Table> Store::create_table(TableType type, Value init) {
  if (!is_reference(type.element) || init.type != type.element)
    return internal::make_error(Error::Kind::Other, "table initial value has the wrong type");
  uint64_t max = std::min<uint64_t>(type.limits.max.value_or(UINT32_MAX),
                                    impl_->options.limits.max_table_elements);
  if (type.limits.min > max)
    return internal::make_error(Error::Kind::Other, "table size exceeds the limit");
  auto t = std::make_unique<internal::TableInst>();
  t->type = type;
  t->max_elems = static_cast<uint32_t>(max);
  t->elems.assign(type.limits.min, init.ref);
  impl_->tables.push_back(std::move(t));
  return Table(impl_->tables.back().get());
}

Global Store::create_global(GlobalType type, Value value) {
  auto g = std::make_unique<internal::GlobalInst>();
  g->type = type;
  g->value = value_to_slot(value);
  impl_->globals.push_back(std::move(g));
  return Global(impl_->globals.back().get());
}

Tag Store::create_tag(FuncType type) {
  auto t = std::make_unique<internal::TagInst>();
  t->type_id = impl_->intern_type(type);
  t->type = std::move(type);
  impl_->tags.push_back(std::move(t));
  return Tag(impl_->tags.back().get());
}

CallResult Store::call(Function function, std::span<const Value> args) {
  if (!function.valid() || function.impl()->store != impl_.get()) {
    CallResult r;
    r.outcome = Outcome::Abort;
    r.trap = TrapKind::HostAbort;
    r.message = "function does not belong to this store";
    return r;
  }
  return internal::invoke(impl_.get(), function.impl(), args, nullptr);
}

std::optional<std::pair<Tag, std::vector<Value>>> Store::exception_contents(RefPtr exnref) const {
  if (!exnref) return std::nullopt;
  for (const auto& e : impl_->exceptions) {
    if (e.get() != exnref) continue;
    std::vector<Value> payload;
    if (e->tag != &impl_->host_error_tag) {
      for (size_t i = 0; i < e->payload.size(); ++i)
        payload.push_back(slot_to_value(e->tag->type.params[i], e->payload[i]));
    }
    return std::make_pair(Tag(e->tag), std::move(payload));
  }
  return std::nullopt;
}

namespace {

// Store::instantiate, and with `initialize` false internal::instantiate_uninitialized (no active
// segments, no start function: the lifecycle layer applies a snapshot's state instead).
Result<Instance*> instantiate_module(Store& store, std::shared_ptr<const Module> module,
                                     const Imports& imports, bool initialize) {
  using internal::make_error;
  internal::StoreImpl* s = store.impl();
  const wasm::Module& m = module->ir();
  auto impl = std::make_unique<internal::InstanceImpl>();
  internal::InstanceImpl& inst = *impl;
  inst.store = s;
  inst.module = module;
  inst.ir = &m;
  inst.type_ids.reserve(m.types.size());
  for (const FuncType& t : m.types) inst.type_ids.push_back(s->intern_type(t));

  // Imports
  for (const wasm::Import& imp : m.imports) {
    const Extern* ext = imports.find(imp.module, imp.name);
    if (!ext)
      return make_error(Error::Kind::Unlinkable,
                        "unknown import \"" + imp.module + "\" \"" + imp.name + "\"");
    auto incompatible = [&] {
      return make_error(Error::Kind::Unlinkable,
                        "incompatible import type for \"" + imp.module + "\" \"" + imp.name + "\"");
    };
    if (ext->kind != imp.kind) return incompatible();
    switch (imp.kind) {
      case ExternKind::Func: {
        if (!ext->func.valid() || imp.type_index >= m.types.size() ||
            ext->func.impl()->type_id != inst.type_ids[imp.type_index])
          return incompatible();
        inst.funcs.push_back(ext->func.impl());
        break;
      }
      case ExternKind::Table: {
        if (!ext->table.valid()) return incompatible();
        TableType actual = ext->table.type();
        if (actual.element != imp.table.element ||
            !internal::limits_match(actual.limits, imp.table.limits))
          return incompatible();
        inst.tables.push_back(ext->table.impl());
        break;
      }
      case ExternKind::Memory: {
        if (!ext->memory.valid()) return incompatible();
        MemoryType actual = ext->memory.type();
        actual.limits.min = ext->memory.pages();
        if (!internal::limits_match(actual.limits, imp.memory.limits)) return incompatible();
        inst.memories.push_back(ext->memory.impl());
        break;
      }
      case ExternKind::Global: {
        if (!ext->global.valid() || ext->global.type() != imp.global) return incompatible();
        inst.globals.push_back(ext->global.impl());
        break;
      }
      case ExternKind::Tag: {
        if (!ext->tag.valid() || imp.type_index >= m.types.size() ||
            ext->tag.impl()->type_id != inst.type_ids[imp.type_index])
          return incompatible();
        inst.tags.push_back(ext->tag.impl());
        break;
      }
    }
  }

  // Definitions
  for (uint32_t i = 0; i < m.functions.size(); ++i) {
    internal::FuncInst* f = s->new_func();
    f->type = m.types[m.functions[i]];
    f->type_id = inst.type_ids[m.functions[i]];
    f->instance = &inst;
    f->func_index = m.num_imported_funcs + i;
    f->code = &module->compiled().code[i];
    inst.funcs.push_back(f);
  }
  for (const TableType& tt : m.tables) {
    uint64_t max = std::min<uint64_t>(tt.limits.max.value_or(UINT32_MAX),
                                      s->options.limits.max_table_elements);
    if (tt.limits.min > max)
      return make_error(Error::Kind::Uninstantiable, "table size exceeds the limit");
    auto t = std::make_unique<internal::TableInst>();
    t->type = tt;
    t->max_elems = static_cast<uint32_t>(max);
    t->elems.assign(tt.limits.min, nullptr);
    s->tables.push_back(std::move(t));
    inst.tables.push_back(s->tables.back().get());
  }
  for (const MemoryType& mt : m.memories) {
    auto mem = std::make_unique<internal::MemoryInst>();
    if (!mem->init(mt, s->options.limits.max_memory_pages))
      return make_error(Error::Kind::Uninstantiable, "memory size exceeds the limit");
    s->memories.push_back(std::move(mem));
    inst.memories.push_back(s->memories.back().get());
  }
  for (const wasm::Global& g : m.globals) {
    auto gi = std::make_unique<internal::GlobalInst>();
    gi->type = g.type;
    if (!internal::eval_const(g.init, inst, gi->value))
      return make_error(Error::Kind::Uninstantiable, "unsupported constant expression",
                        g.init.offset);
    s->globals.push_back(std::move(gi));
    inst.globals.push_back(s->globals.back().get());
  }
  for (uint32_t type_index : m.tags) {
    auto t = std::make_unique<internal::TagInst>();
    t->type = m.types[type_index];
    t->type_id = inst.type_ids[type_index];
    s->tags.push_back(std::move(t));
    inst.tags.push_back(s->tags.back().get());
  }
  inst.memory0 = inst.memories.empty() ? internal::empty_memory() : inst.memories[0];
  inst.elem_segments.resize(m.elems.size());
  for (size_t i = 0; i < m.elems.size(); ++i) {
    auto& seg = inst.elem_segments[i];
    seg.reserve(m.elems[i].items.size());
    for (const wasm::ConstExpr& item : m.elems[i].items) {
      uint64_t v = 0;
      if (!internal::eval_const(item, inst, v))
        return make_error(Error::Kind::Uninstantiable, "unsupported constant expression",
                          item.offset);
      seg.push_back(reinterpret_cast<void*>(v));
    }
  }
  inst.data_dropped.assign(m.datas.size(), 0);

  // From here on the instance's objects may become reachable from imported tables and memories
  // even if instantiation fails, so the store keeps it.
  s->instances.push_back(std::make_unique<Instance>(std::move(impl)));
  Instance* instance = s->instances.back().get();
  if (!initialize) return instance;

  for (size_t i = 0; i < m.elems.size(); ++i) {
    const wasm::ElemSegment& seg = m.elems[i];
    if (seg.mode == wasm::SegmentMode::Active) {
      uint64_t offset = 0;
      if (!internal::eval_const(seg.offset, inst, offset))
        return make_error(Error::Kind::Uninstantiable, "unsupported constant expression",
                          seg.offset.offset);
      internal::TableInst* t = inst.tables[seg.table];
      auto& items = inst.elem_segments[i];
      uint64_t d = static_cast<uint32_t>(offset);
      if (d + items.size() > t->elems.size())
        return make_error(Error::Kind::Uninstantiable, "out of bounds table access");
      std::copy(items.begin(), items.end(), t->elems.begin() + static_cast<ptrdiff_t>(d));
    }
    if (seg.mode != wasm::SegmentMode::Passive) {
      inst.elem_segments[i].clear();
      inst.elem_segments[i].shrink_to_fit();
    }
  }
  for (size_t i = 0; i < m.datas.size(); ++i) {
    const wasm::DataSegment& seg = m.datas[i];
    if (seg.mode != wasm::SegmentMode::Active) continue;
    uint64_t offset = 0;
    if (!internal::eval_const(seg.offset, inst, offset))
      return make_error(Error::Kind::Uninstantiable, "unsupported constant expression",
                        seg.offset.offset);
    internal::MemoryInst* mem = inst.memories[seg.memory];
    uint64_t d = static_cast<uint32_t>(offset);
    if (d + seg.bytes.size() > mem->size)
      return make_error(Error::Kind::Uninstantiable, "out of bounds memory access");
    if (!seg.bytes.empty())
      internal::store_bytes(mem, mem->base, d, seg.bytes.data(), seg.bytes.size());
    inst.data_dropped[i] = 1;
  }
  if (m.start) {
    CallResult r = internal::invoke(s, inst.funcs[*m.start], {}, nullptr);
    if (!r.ok()) {
      Error e = make_error(Error::Kind::Uninstantiable, r.message);
      return e;
    }
  }
  return instance;
}

}  // namespace

Result<Instance*> Store::instantiate(std::shared_ptr<const Module> module, const Imports& imports) {
  return instantiate_module(*this, std::move(module), imports, /*initialize=*/true);
}

Result<Instance*> internal::instantiate_uninitialized(Store& store,
                                                      std::shared_ptr<const Module> module,
                                                      const Imports& imports) {
  return instantiate_module(store, std::move(module), imports, /*initialize=*/false);
}

}  // namespace rw
