#pragma once
// A small x86-64 instruction encoder: the instructions the loop compiler (loop_compiler.h) uses,
// in the forms it uses them, and rel32 labels. Memory operands always take a 32-bit
// displacement, so every instruction has one encoding and no length needs choosing.

#include <cstdint>
#include <cstring>
#include <vector>

namespace rw::internal::x64 {

enum Reg : uint8_t { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

// Condition codes (the low nibble of Jcc/SETcc/CMOVcc); cc ^ 1 is the negation.
enum Cond : uint8_t {
  kO = 0,
  kB = 2,
  kAE = 3,
  kE = 4,
  kNE = 5,
  kBE = 6,
  kA = 7,
  kS = 8,
  kL = 12,
  kGE = 13,
  kLE = 14,
  kG = 15
};
inline Cond negate(Cond c) { return static_cast<Cond>(c ^ 1); }

// [base + index + disp] (index optional, scale 1 or 4).
struct Mem {
  Reg base;
  int index = -1;
  int32_t disp = 0;
  uint8_t scale_log2 = 0;
};

// ALU operations with their /digit (immediate forms) and opcode (reg, r/m forms).
enum class Alu : uint8_t { Add = 0, Or = 1, And = 4, Sub = 5, Xor = 6, Cmp = 7 };
enum class Shift : uint8_t { Rol = 0, Ror = 1, Shl = 4, Shr = 5, Sar = 7 };

class Emitter {
 public:
  using Label = uint32_t;

  std::vector<uint8_t>& bytes() { return out_; }
  size_t size() const { return out_.size(); }

  Label new_label() {
    labels_.push_back(-1);
    return static_cast<Label>(labels_.size() - 1);
  }
  void bind(Label l) { labels_[l] = static_cast<int64_t>(out_.size()); }
  // Patches every rel32 reference; false when a label was used but never bound.
  bool resolve() {
    for (const auto& [at, label] : refs_) {
      if (labels_[label] < 0) return false;
      int32_t rel = static_cast<int32_t>(labels_[label] - static_cast<int64_t>(at + 4));
      std::memcpy(out_.data() + at, &rel, 4);
    }
    refs_.clear();
    return true;
  }

  void jmp(Label l) {
    byte(0xE9);
    ref(l);
  }
  void jcc(Cond c, Label l) {
    byte(0x0F);
    byte(0x80 | c);
    ref(l);
  }
  void call(Reg r) { op_rr(false, {0xFF}, 2, r); }
  void ret() { byte(0xC3); }
  void push(Reg r) {
    if (r >= R8) byte(0x41);
    byte(0x50 | (r & 7));
  }
  void pop(Reg r) {
    if (r >= R8) byte(0x41);
    byte(0x58 | (r & 7));
  }

  // mov r, r / r, [m] / [m], r / r, imm.
  void mov(bool w, Reg dst, Reg src) { op_rr(w, {0x8B}, dst, src); }
  void load(bool w, Reg dst, Mem m) { op_rm(w, {0x8B}, dst, m); }
  void store(bool w, Mem m, Reg src) { op_rm(w, {0x89}, src, m); }
  void store8(Mem m, Reg src) { op_rm(false, {0x88}, src, m, /*byte_reg=*/true); }
  void store16(Mem m, Reg src) {
    byte(0x66);
    op_rm(false, {0x89}, src, m);
  }
  // A 32-bit immediate zero-extends; a 64-bit one takes the 10-byte form.
  void mov_imm(Reg dst, uint64_t v) {
    if (v <= UINT32_MAX) {
      if (dst >= R8) byte(0x41);
      byte(0xB8 | (dst & 7));
      imm32(static_cast<uint32_t>(v));
    } else {
      byte(0x48 | (dst >= R8 ? 1 : 0));
      byte(0xB8 | (dst & 7));
      for (int i = 0; i < 8; ++i) byte(static_cast<uint8_t>(v >> (8 * i)));
    }
  }
  // mov dword/qword [m], imm32 (qword: sign-extended).
  void store_imm(bool w, Mem m, int32_t v) {
    op_rm(w, {0xC7}, 0, m);
    imm32(static_cast<uint32_t>(v));
  }
  void lea(Reg dst, Mem m) { op_rm(true, {0x8D}, dst, m); }

  // Loads that widen: movzx/movsx from 8 or 16 bits, movsxd from 32.
  void movzx8(Reg dst, Mem m) { op_rm(false, {0x0F, 0xB6}, dst, m); }
  void movzx16(Reg dst, Mem m) { op_rm(false, {0x0F, 0xB7}, dst, m); }
  void movsx8(bool w, Reg dst, Mem m) { op_rm(w, {0x0F, 0xBE}, dst, m); }
  void movsx16(bool w, Reg dst, Mem m) { op_rm(w, {0x0F, 0xBF}, dst, m); }
  void movsxd(Reg dst, Mem m) { op_rm(true, {0x63}, dst, m); }
  void movzx8(Reg dst, Reg src) { op_rr(false, {0x0F, 0xB6}, dst, src, true); }
  void movzx16(Reg dst, Reg src) { op_rr(false, {0x0F, 0xB7}, dst, src); }
  void movsx8(bool w, Reg dst, Reg src) { op_rr(w, {0x0F, 0xBE}, dst, src, true); }
  void movsx16(bool w, Reg dst, Reg src) { op_rr(w, {0x0F, 0xBF}, dst, src); }
  void movsxd(Reg dst, Reg src) { op_rr(true, {0x63}, dst, src); }

  void alu(bool w, Alu op, Reg dst, Reg src) {
    op_rr(w, {static_cast<uint8_t>(static_cast<uint8_t>(op) * 8 + 3)}, dst, src);
  }
  void alu(bool w, Alu op, Reg dst, Mem src) {
    op_rm(w, {static_cast<uint8_t>(static_cast<uint8_t>(op) * 8 + 3)}, dst, src);
  }
  void alu_imm(bool w, Alu op, Reg dst, int32_t v) {
    op_rr(w, {0x81}, static_cast<uint8_t>(op), dst);
    imm32(static_cast<uint32_t>(v));
  }
  void alu_imm(bool w, Alu op, Mem dst, int32_t v) {
    op_rm(w, {0x81}, static_cast<uint8_t>(op), dst);
    imm32(static_cast<uint32_t>(v));
  }
  // cmp [m], r (computes [m] - r).
  void cmp(bool w, Mem a, Reg b) { op_rm(w, {0x39}, b, a); }
  void cmp8_imm(Mem m, uint8_t v) {
    op_rm(false, {0x80}, 7, m);
    byte(v);
  }
  void test(bool w, Reg a, Reg b) { op_rr(w, {0x85}, b, a); }
  void imul(bool w, Reg dst, Reg src) { op_rr(w, {0x0F, 0xAF}, dst, src); }
  void imul(bool w, Reg dst, Mem src) { op_rm(w, {0x0F, 0xAF}, dst, src); }
  void imul_imm(bool w, Reg dst, Reg src, int32_t v) {
    op_rr(w, {0x69}, dst, src);
    imm32(static_cast<uint32_t>(v));
  }
  void shift_imm(bool w, Shift s, Reg r, uint8_t count) {
    op_rr(w, {0xC1}, static_cast<uint8_t>(s), r);
    byte(count);
  }
  // BMI2 shifts by a register: dst = src <shift> count (count taken modulo the width).
  void shlx(bool w, Reg dst, Reg src, Reg count) { vex_shift(w, 1, dst, src, count); }
  void sarx(bool w, Reg dst, Reg src, Reg count) { vex_shift(w, 2, dst, src, count); }
  void shrx(bool w, Reg dst, Reg src, Reg count) { vex_shift(w, 3, dst, src, count); }
  void neg(bool w, Reg r) { op_rr(w, {0xF7}, 3, r); }
  void div(bool w, Reg r) { op_rr(w, {0xF7}, 6, r); }
  void idiv(bool w, Reg r) { op_rr(w, {0xF7}, 7, r); }
  void cdq_or_cqo(bool w) {
    if (w) byte(0x48);
    byte(0x99);
  }
  // lzcnt / tzcnt / popcnt (F3-prefixed).
  void bitcount(bool w, uint8_t opcode, Reg dst, Reg src) {
    byte(0xF3);
    op_rr(w, {0x0F, opcode}, dst, src);
  }
  void setcc(Cond c, Reg r) { op_rr(false, {0x0F, static_cast<uint8_t>(0x90 | c)}, 0, r, true); }
  void cmov(bool w, Cond c, Reg dst, Reg src) {
    op_rr(w, {0x0F, static_cast<uint8_t>(0x40 | c)}, dst, src);
  }
  void cmov(bool w, Cond c, Reg dst, Mem src) {
    op_rm(w, {0x0F, static_cast<uint8_t>(0x40 | c)}, dst, src);
  }

 private:
  struct Opc {
    uint8_t b0, b1 = 0;
    Opc(uint8_t a) : b0(a) {}
    Opc(uint8_t a, uint8_t b) : b0(a), b1(b) {}
  };
  void byte(uint8_t b) { out_.push_back(b); }
  void imm32(uint32_t v) {
    for (int i = 0; i < 4; ++i) byte(static_cast<uint8_t>(v >> (8 * i)));
  }
  void ref(Label l) {
    refs_.emplace_back(out_.size(), l);
    imm32(0);
  }
  void opcode(Opc o) {
    byte(o.b0);
    if (o.b0 == 0x0F) byte(o.b1);
  }
  // `byte_reg`: the reg operand (or rm for register forms) is an 8-bit register, which for
  // numbers 4-7 needs a REX prefix to mean spl/bpl/sil/dil rather than ah/ch/dh/bh.
  void op_rr(bool w, Opc o, uint8_t reg, uint8_t rm, bool byte_reg = false) {
    uint8_t rex = 0x40 | (w ? 8 : 0) | (reg >= 8 ? 4 : 0) | (rm >= 8 ? 1 : 0);
    if (rex != 0x40 || (byte_reg && ((rm >= 4 && rm < 8) || (reg >= 4 && reg < 8)))) byte(rex);
    opcode(o);
    byte(static_cast<uint8_t>(0xC0 | ((reg & 7) << 3) | (rm & 7)));
  }
  void op_rm(bool w, Opc o, uint8_t reg, Mem m, bool byte_reg = false) {
    bool has_index = m.index >= 0;
    uint8_t index = has_index ? static_cast<uint8_t>(m.index) : 0;
    uint8_t rex =
        0x40 | (w ? 8 : 0) | (reg >= 8 ? 4 : 0) | (index >= 8 ? 2 : 0) | (m.base >= 8 ? 1 : 0);
    if (rex != 0x40 || (byte_reg && reg >= 4 && reg < 8)) byte(rex);
    opcode(o);
    // mod 10 (disp32); rm 100 selects a SIB byte, needed for an index and for rsp/r12 bases.
    if (has_index || (m.base & 7) == 4) {
      byte(static_cast<uint8_t>(0x80 | ((reg & 7) << 3) | 4));
      uint8_t idx = has_index ? (index & 7) : 4;  // 100 without REX.X: no index
      byte(static_cast<uint8_t>((m.scale_log2 << 6) | (idx << 3) | (m.base & 7)));
    } else {
      byte(static_cast<uint8_t>(0x80 | ((reg & 7) << 3) | (m.base & 7)));
    }
    imm32(static_cast<uint32_t>(m.disp));
  }
  // VEX.LZ.0F38 F7 /r with pp selecting shlx (66), sarx (F3), shrx (F2).
  void vex_shift(bool w, uint8_t pp, Reg dst, Reg src, Reg count) {
    byte(0xC4);
    byte(static_cast<uint8_t>((dst >= 8 ? 0 : 0x80) | 0x40 | (src >= 8 ? 0 : 0x20) | 0x02));
    byte(static_cast<uint8_t>((w ? 0x80 : 0) | ((~count & 15) << 3) | pp));
    byte(0xF7);
    byte(static_cast<uint8_t>(0xC0 | ((dst & 7) << 3) | (src & 7)));
  }

  std::vector<uint8_t> out_;
  std::vector<int64_t> labels_;
  std::vector<std::pair<size_t, Label>> refs_;
};

}  // namespace rw::internal::x64
