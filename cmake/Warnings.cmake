# Compiler flags shared by every target of the project: warnings, sanitizers, coverage. The compile flags are for
# C++ only: nvcc takes its own (the CUDA backend's target in src/CMakeLists.txt).
add_library(ternion_flags INTERFACE)
set(ternion_cxx_flags -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Wnon-virtual-dtor
  -Wcast-align)
# GCC 12 reports false -Wrestrict errors inside libstdc++'s std::string (GCC bug 105329).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND ternion_cxx_flags -Wno-restrict)
endif()
if(TERNION_WERROR)
  list(APPEND ternion_cxx_flags -Werror)
endif()
if(TERNION_SANITIZE)
  list(APPEND ternion_cxx_flags -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(ternion_flags INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all)
endif()
if(TERNION_COVERAGE)
  # Atomic counter updates: worker threads run the same code, and racy counters go negative.
  list(APPEND ternion_cxx_flags --coverage -fprofile-update=atomic -O0 -g)
  target_link_options(ternion_flags INTERFACE --coverage)
endif()
target_compile_options(ternion_flags INTERFACE "$<$<COMPILE_LANGUAGE:CXX>:${ternion_cxx_flags}>")
