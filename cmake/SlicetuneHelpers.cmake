# One helper per target kind (after abseil's absl_cc_library / absl_cc_test).
#   st_library(NAME name SRCS ... DEPS ... [PUBLIC_DEPS ...])
#   st_executable(NAME name SRCS ... DEPS ...)
#   st_test(NAME name SRCS ... DEPS ...)           GoogleTest binary registered with ctest
#   st_pytest(NAME name FILE tests/python/x.py)    a pytest file run by the build's venv
set(ST_WARNINGS -Wall -Wextra -Wpedantic -Werror -Wno-error=deprecated-declarations)
# GCC 12 at -O3 reports std::string concatenation as -Wrestrict / -Wstringop-overflow
# (GCC bug 105329): still shown, not fatal.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND ST_WARNINGS -Wno-error=restrict -Wno-error=stringop-overflow)
endif()

function(_st_common target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${ST_WARNINGS}>)
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

function(st_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SRCS})
  _st_common(${A_NAME})
  target_link_libraries(${A_NAME} PUBLIC ${A_DEPS} PRIVATE ${A_PRIVATE_DEPS})
endfunction()

function(st_executable)
  cmake_parse_arguments(A "" "NAME;OUTPUT_NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  _st_common(${A_NAME})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  if(A_OUTPUT_NAME)
    set_target_properties(${A_NAME} PROPERTIES OUTPUT_NAME ${A_OUTPUT_NAME})
  endif()
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endfunction()

function(st_test)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  _st_common(${A_NAME})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main)
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${A_NAME} COMMAND ${A_NAME})
  set_tests_properties(${A_NAME} PROPERTIES
    ENVIRONMENT "ST_SOURCE_DIR=${PROJECT_SOURCE_DIR};ST_BINARY_DIR=${CMAKE_BINARY_DIR}"
    LABELS "unit;${A_LABELS}")
endfunction()

function(st_pytest)
  cmake_parse_arguments(A "" "NAME;FILE;TIMEOUT" "DEPENDS_ON" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 900)
  endif()
  add_test(NAME ${A_NAME}
           COMMAND ${SLICETUNE_PYTHON} -m pytest -q -rs -p no:cacheprovider
                   ${PROJECT_SOURCE_DIR}/${A_FILE})
  set_tests_properties(${A_NAME} PROPERTIES
    ENVIRONMENT "ST_SOURCE_DIR=${PROJECT_SOURCE_DIR};ST_BINARY_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1"
    LABELS "reference" TIMEOUT ${A_TIMEOUT})
  if(A_DEPENDS_ON)
    set_tests_properties(${A_NAME} PROPERTIES FIXTURES_REQUIRED "${A_DEPENDS_ON}")
  endif()
endfunction()
