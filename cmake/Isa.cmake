# Instruction-set flags. The baseline is what every supported CPU has (x86-64 with AVX2/FMA/F16C);
# faster variants live in their own source files, compiled with their own flags and picked at run time
# from CPU feature detection, so the binary never executes an instruction the CPU lacks.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(TERNION_X86 ON)
  set(TERNION_BASE_ISA_FLAGS -mavx2 -mfma -mf16c -mbmi2)
  set(TERNION_AVX512_FLAGS -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16)
  # The Avx512 level (Skylake-X: F/BW/VL/DQ, no VNNI) has files of its own: nothing there may use VNNI.
  set(TERNION_AVX512BW_FLAGS -mavx512f -mavx512bw -mavx512vl -mavx512dq)
  set(TERNION_AVXVNNI_FLAGS -mavxvnni)  # VEX VPDPBUSD on 256-bit registers (Intel Alder Lake and later)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  # Advanced SIMD (NEON) is part of the ARMv8-A baseline; the dot product instructions (SDOT, ARMv8.2) are not
  # (a Raspberry Pi 4's Cortex-A72 lacks them), so the kernels using them live in *_neon_dot.cpp files.
  set(TERNION_ARM64 ON)
  set(TERNION_BASE_ISA_FLAGS "")
  set(TERNION_NEON_DOT_FLAGS -march=armv8.2-a+dotprod)
  set(TERNION_NEON_I8MM_FLAGS -march=armv8.2-a+dotprod+i8mm)
endif()
# C++ only: nvcc takes no -m flags (host code it compiles is the CUDA backend's glue, no SIMD).
add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${TERNION_BASE_ISA_FLAGS}>")

# ternion_isa_source(<file> AVX512|AVX512BW|AVXVNNI|NEON_DOT|NEON_I8MM): compile one source file with the flags
# of a wider ISA.
function(ternion_isa_source file isa)
  if(isa STREQUAL "AVX512" AND TERNION_X86)
    set_source_files_properties(${file} PROPERTIES COMPILE_OPTIONS "${TERNION_AVX512_FLAGS}")
  elseif(isa STREQUAL "AVX512BW" AND TERNION_X86)
    set_source_files_properties(${file} PROPERTIES COMPILE_OPTIONS "${TERNION_AVX512BW_FLAGS}")
  elseif(isa STREQUAL "AVXVNNI" AND TERNION_X86)
    set_source_files_properties(${file} PROPERTIES COMPILE_OPTIONS "${TERNION_AVXVNNI_FLAGS}")
  elseif(isa STREQUAL "NEON_DOT" AND TERNION_ARM64)
    set_source_files_properties(${file} PROPERTIES COMPILE_OPTIONS "${TERNION_NEON_DOT_FLAGS}")
  elseif(isa STREQUAL "NEON_I8MM" AND TERNION_ARM64)
    set_source_files_properties(${file} PROPERTIES COMPILE_OPTIONS "${TERNION_NEON_I8MM_FLAGS}")
  endif()
endfunction()
