// The message the host gets for an exception that escaped an export (rewind_exception_message).
#include <cstring>
#include <exception>
#include <string>

#include "internal.h"

namespace rewind_cxxrt {

const char* describe(Header* primary) noexcept {
  void* adjusted;
  if (can_catch(&typeid(std::exception), primary->type, primary->thrown_object, &adjusted)) {
    return static_cast<const std::exception*>(adjusted)->what();
  }
  if (can_catch(&typeid(const char*), primary->type, primary->thrown_object, &adjusted)) {
    return static_cast<const char*>(adjusted);
  }
  if (can_catch(&typeid(std::string), primary->type, primary->thrown_object, &adjusted)) {
    return static_cast<const std::string*>(adjusted)->c_str();
  }
  static char text[160];
  const char* name = primary->type != nullptr ? primary->type->name() : "?";
  std::strcpy(text, "C++ exception of type ");
  std::strncat(text, name, sizeof(text) - std::strlen(text) - 1);
  return text;
}

}  // namespace rewind_cxxrt
