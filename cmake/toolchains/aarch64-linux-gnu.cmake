# Cross-compiling for ARM64 Linux with Debian's g++-aarch64-linux-gnu; binaries run under qemu-user, which
# CMake and ctest use as the emulator (test discovery included). `-cpu max` gives the emulated CPU every
# feature qemu knows (NEON, dotprod, i8mm), so all NEON kernel levels are exercised.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu;-cpu;max)
