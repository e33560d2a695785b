# Building WebAssembly guests (workers) with sdk/rewind-cc from a CMake project.
#
#   include(sdk/cmake/RewindGuest.cmake)
#   if(REWIND_GUEST_TOOLCHAIN_FOUND)
#     rewind_add_guest(my_worker SOURCES worker.cpp EH exnref
#                      [OUTPUT_DIR dir] [OUTPUT_NAME my_worker.exnref] [FLAGS -O3 ...])
#   endif()
#
# produces <OUTPUT_DIR>/<OUTPUT_NAME>.wasm (default: ${PROJECT_BINARY_DIR}/guests/<name>.wasm)
# and a target <name> that is part of ALL. EH is legacy, exnref or none (default legacy). The
# exception runtime is built once per encoding into ${PROJECT_BINARY_DIR}/sdk/cxxrt.
#
# rewind_add_rust_guest(name SOURCE lib.rs [OUTPUT_DIR dir]) builds a wasm32-unknown-unknown
# cdylib with Debian's /usr/bin/rustc and panic=abort, when REWIND_RUST_GUEST_TOOLCHAIN_FOUND.
include_guard(GLOBAL)

set(REWIND_SDK_DIR "${CMAKE_CURRENT_LIST_DIR}/.." CACHE INTERNAL "")
get_filename_component(REWIND_SDK_DIR "${REWIND_SDK_DIR}" ABSOLUTE)
set(REWIND_CC "${REWIND_SDK_DIR}/rewind-cc" CACHE INTERNAL "")

if(NOT DEFINED REWIND_GUEST_TOOLCHAIN_FOUND)
  execute_process(COMMAND bash "${REWIND_CC}" --check
    RESULT_VARIABLE _rewind_check_result ERROR_VARIABLE _rewind_check_error)
  if(_rewind_check_result EQUAL 0)
    set(REWIND_GUEST_TOOLCHAIN_FOUND TRUE CACHE INTERNAL "")
  else()
    string(STRIP "${_rewind_check_error}" _rewind_check_error)
    message(STATUS "rewind guests: skipped, wasm32 toolchain incomplete (${_rewind_check_error})")
    set(REWIND_GUEST_TOOLCHAIN_FOUND FALSE CACHE INTERNAL "")
  endif()
endif()

set(REWIND_RUSTC "/usr/bin/rustc" CACHE FILEPATH "Debian's rustc, which has the wasm32 std")
if(NOT DEFINED REWIND_RUST_GUEST_TOOLCHAIN_FOUND)
  set(REWIND_RUST_GUEST_TOOLCHAIN_FOUND FALSE CACHE INTERNAL "")
  if(EXISTS "${REWIND_RUSTC}")
    execute_process(COMMAND "${REWIND_RUSTC}" --print sysroot
      OUTPUT_VARIABLE _rewind_rust_sysroot OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE _rewind_rust_result)
    if(_rewind_rust_result EQUAL 0 AND
       EXISTS "${_rewind_rust_sysroot}/lib/rustlib/wasm32-unknown-unknown")
      set(REWIND_RUST_GUEST_TOOLCHAIN_FOUND TRUE CACHE INTERNAL "")
    endif()
  endif()
  if(NOT REWIND_RUST_GUEST_TOOLCHAIN_FOUND)
    message(STATUS "rewind guests: Rust guests skipped "
                   "(need ${REWIND_RUSTC} and package libstd-rust-dev-wasm32)")
  endif()
endif()

# The runtime's sources, so that guests rebuild when it changes.
file(GLOB _rewind_cxxrt_sources CONFIGURE_DEPENDS
  "${REWIND_SDK_DIR}/cxxrt/*.cpp" "${REWIND_SDK_DIR}/cxxrt/*.h" "${REWIND_SDK_DIR}/cxxrt/*.S")
set(REWIND_CXXRT_SOURCES ${_rewind_cxxrt_sources} CACHE INTERNAL "")

function(_rewind_guest_runtime eh out_var)
  set(dir "${PROJECT_BINARY_DIR}/sdk/cxxrt")
  set(lib "${dir}/librewind-cxxrt-${eh}.a")
  set(target rewind_guest_runtime_${eh})
  if(NOT TARGET ${target})
    add_custom_command(OUTPUT "${lib}"
      COMMAND bash "${REWIND_CC}" --build-runtime --eh=${eh} --runtime-dir "${dir}" > /dev/null
      COMMAND ${CMAKE_COMMAND} -E touch "${lib}"
      DEPENDS ${REWIND_CXXRT_SOURCES} "${REWIND_CC}"
      COMMENT "Building rewind guest runtime (${eh})"
      VERBATIM)
    add_custom_target(${target} DEPENDS "${lib}")
  endif()
  set(${out_var} "${lib}" PARENT_SCOPE)
endfunction()

function(rewind_add_guest name)
  cmake_parse_arguments(ARG "" "EH;OUTPUT_DIR;OUTPUT_NAME" "SOURCES;FLAGS" ${ARGN})
  if(NOT REWIND_GUEST_TOOLCHAIN_FOUND)
    return()
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "rewind_add_guest(${name}): SOURCES is required")
  endif()
  if(NOT ARG_EH)
    set(ARG_EH legacy)
  endif()
  if(NOT ARG_EH MATCHES "^(legacy|exnref|none)$")
    message(FATAL_ERROR "rewind_add_guest(${name}): EH must be legacy, exnref or none")
  endif()
  if(NOT ARG_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR "${PROJECT_BINARY_DIR}/guests")
  endif()
  if(NOT ARG_OUTPUT_NAME)
    set(ARG_OUTPUT_NAME "${name}")
  endif()
  set(sources "")
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(src "${src}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND sources "${src}")
  endforeach()
  _rewind_guest_runtime(${ARG_EH} runtime_lib)
  set(output "${ARG_OUTPUT_DIR}/${ARG_OUTPUT_NAME}.wasm")
  file(GLOB sdk_headers "${REWIND_SDK_DIR}/include/rewind/*")
  add_custom_command(OUTPUT "${output}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${ARG_OUTPUT_DIR}"
    COMMAND bash "${REWIND_CC}" --eh=${ARG_EH} --runtime-dir "${PROJECT_BINARY_DIR}/sdk/cxxrt"
            ${ARG_FLAGS} ${sources} -o "${output}"
    DEPENDS ${sources} ${sdk_headers} "${runtime_lib}" rewind_guest_runtime_${ARG_EH} "${REWIND_CC}"
    COMMENT "Building guest ${ARG_OUTPUT_NAME}.wasm"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS "${output}")
endfunction()

function(rewind_add_rust_guest name)
  cmake_parse_arguments(ARG "" "SOURCE;OUTPUT_DIR" "" ${ARGN})
  if(NOT REWIND_RUST_GUEST_TOOLCHAIN_FOUND)
    return()
  endif()
  if(NOT ARG_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR "${PROJECT_BINARY_DIR}/guests")
  endif()
  get_filename_component(source "${ARG_SOURCE}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  set(output "${ARG_OUTPUT_DIR}/${name}.wasm")
  add_custom_command(OUTPUT "${output}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${ARG_OUTPUT_DIR}"
    COMMAND "${REWIND_RUSTC}" --target wasm32-unknown-unknown --crate-type cdylib
            -C panic=abort -O -C strip=debuginfo --crate-name ${name} "${source}" -o "${output}"
    DEPENDS "${source}"
    COMMENT "Building Rust guest ${name}.wasm"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS "${output}")
endfunction()
