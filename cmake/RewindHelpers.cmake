# One static library per engine part; sources are globbed so adding a file needs no CMake edit.
function(rewind_library name dir)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${dir}/*.cpp)
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# tests/<part>/*.cpp become one GoogleTest executable <part>_tests.
function(rewind_test_suite part)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${part}/*.cpp)
  if(NOT srcs)
    return()
  endif()
  add_executable(${part}_tests ${srcs})
  target_link_libraries(${part}_tests PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${part}_tests PRIVATE
    REWIND_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    REWIND_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${part}_tests DISCOVERY_TIMEOUT 60 NO_PRETTY_VALUES PROPERTIES LABELS unit)
endfunction()
