# Third-party dependencies: Debian packages (scripts/setup.sh installs them) and the
# LibTorch inside the pinned `torch` wheel of the build's Python virtual environment.
find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
find_library(SENTENCEPIECE_TRAIN_LIB sentencepiece_train REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)      # Unicode-aware pre-tokenizer regexes
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)  # NFC normalization
pkg_check_modules(OPENCC REQUIRED IMPORTED_TARGET opencc)         # traditional -> simplified Chinese
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)      # dedup hashes
find_library(CSV_LIB csv REQUIRED)                                # libcsv: .csv / .tsv sources (no .pc file)
find_path(CSV_INCLUDE csv.h REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 CONFIG QUIET)
if(NOT CLI11_FOUND)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 SYSTEM INTERFACE ${CLI11_INCLUDE_DIR})
endif()
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(Threads REQUIRED)
if(SLICETUNE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

add_library(st_hdf5 INTERFACE)
target_include_directories(st_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(st_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(st_hdf5 INTERFACE ${HDF5_DEFINITIONS})

# CUDA: compile kernels/*.cu wherever nvcc exists, GPU or not.
include(CheckLanguage)
set(SLICETUNE_HAVE_CUDA OFF)
if(SLICETUNE_WITH_CUDA)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES "80;90a")  # sm_70 is gone in CUDA 13; `native` fails without a GPU
    endif()
    set(CMAKE_CUDA_STANDARD 17)               # CMake 3.25 has no nvcc flag for CUDA 20
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(CMAKE_CUDA_EXTENSIONS OFF)
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)    # otherwise cudart is linked twice next to LibTorch
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(SLICETUNE_HAVE_CUDA ON)
  else()
    message(STATUS "slicetune: nvcc not found, kernels build CPU references only")
  endif()
endif()

# The Python virtual environment (scripts/setup.sh makes it): the pinned torch
# wheel whose LibTorch we build against, and the reference packages for tests.
set(SLICETUNE_VENV "${PROJECT_SOURCE_DIR}/build/venv" CACHE PATH "Python venv with torch and the reference packages")
set(SLICETUNE_PYTHON "${SLICETUNE_VENV}/bin/python")

# LibTorch from the torch wheel: torch.utils.cmake_prefix_path of the build's Python.
if(SLICETUNE_WITH_TORCH)
  if(EXISTS "${SLICETUNE_PYTHON}")
    execute_process(COMMAND "${SLICETUNE_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
    if(_rc EQUAL 0)
      list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
    endif()
  endif()
  # The wheel is a CUDA build; its config looks for the toolkit. Naming the
  # architectures stops it from probing for a GPU (none on CI). Without nvcc it
  # still links and runs on the CPU.
  if(NOT TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
  endif()
  # Torch's config also rewrites CMAKE_CUDA_FLAGS / CMAKE_CUDA_ARCHITECTURES for the
  # whole project; kernels/ holds no LibTorch, so keep our own settings.
  set(_st_cuda_flags "${CMAKE_CUDA_FLAGS}")
  set(_st_cuda_archs "${CMAKE_CUDA_ARCHITECTURES}")
  find_package(Torch REQUIRED)
  set(CMAKE_CUDA_FLAGS "${_st_cuda_flags}")
  set(CMAKE_CUDA_ARCHITECTURES "${_st_cuda_archs}")
  message(STATUS "slicetune: LibTorch ${Torch_VERSION} from ${Torch_DIR}")
endif()
