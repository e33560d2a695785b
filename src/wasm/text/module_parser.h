#pragma once
// The module part of the text format, over a token range, for wat_to_binary and the .wast
// script parser (which finds modules inside a script's token stream).

#include <cstdint>
#include <string_view>
#include <vector>

#include "wasm/text/lexer.h"

namespace rw::wasm::text {

// Encodes the module fields in tokens[begin, end) as a binary module. tokens[end] is the token
// that ends the fields (the module's closing parenthesis or Eof). Throws TextError.
std::vector<uint8_t> encode_module_fields(std::string_view source, const std::vector<Token>& tokens,
                                          size_t begin, size_t end, bool name_section = false);

// Index of the token just after the parenthesised group opening at tokens[open] (an LParen).
// Throws TextError when the group is not closed before Eof.
size_t skip_group(const std::vector<Token>& tokens, size_t open);

}  // namespace rw::wasm::text
