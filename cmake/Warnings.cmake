# Compiler flags shared by every target of the project: warnings, sanitizers, coverage.
add_library(ternion_flags INTERFACE)
target_compile_options(ternion_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
  -Wno-sign-conversion -Wnon-virtual-dtor -Wcast-align)
# GCC 12 reports false -Wrestrict errors inside libstdc++'s std::string (GCC bug 105329).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(ternion_flags INTERFACE -Wno-restrict)
endif()
if(TERNION_WERROR)
  target_compile_options(ternion_flags INTERFACE -Werror)
endif()
if(TERNION_SANITIZE)
  target_compile_options(ternion_flags INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
  target_link_options(ternion_flags INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all)
endif()
if(TERNION_COVERAGE)
  # Atomic counter updates: worker threads run the same code, and racy counters go negative.
  target_compile_options(ternion_flags INTERFACE --coverage -fprofile-update=atomic -O0 -g)
  target_link_options(ternion_flags INTERFACE --coverage)
endif()
