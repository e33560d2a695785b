// Deciding whether a catch clause matches a thrown type ([except.handle]/3): same type,
// unambiguous public base class, pointer conversions, qualification conversions, nullptr.
//
// The type_info objects the compiler emits use libc++abi's vtables (__class_type_info,
// __si_class_type_info, __pointer_type_info, ...), and libc++abi implements exactly this check
// as the virtual member `can_catch`. Debian's wasm32 libc++abi is built without exceptions but
// still ships those classes, so we call into them rather than reimplement the class hierarchy
// walk. The vtable order below (after std::type_info's destructor pair: noop1, noop2,
// can_catch) is libc++abi's ABI; we checked it in libc++abi 22 for wasm32 by reading the
// relocations of _ZTVN10__cxxabiv117__class_type_infoE.
#include "internal.h"

namespace rewind_cxxrt {

// Never defined or instantiated: only a view of libc++abi's type_info subclasses.
class ShimTypeInfo : public std::type_info {
 public:
  ~ShimTypeInfo() override;
  virtual void noop1() const;
  virtual void noop2() const;
  virtual bool can_catch(const ShimTypeInfo* thrown_type, void*& adjusted) const;
};

bool can_catch(const std::type_info* catch_type, const std::type_info* thrown_type, void* object,
               void** adjusted) noexcept {
  if (catch_type == nullptr || thrown_type == nullptr) return false;
  void* result = object;
  bool matches = static_cast<const ShimTypeInfo*>(catch_type)
                     ->can_catch(static_cast<const ShimTypeInfo*>(thrown_type), result);
  if (matches) *adjusted = result;
  return matches;
}

}  // namespace rewind_cxxrt
