# FindLLHTTP: provides the imported target llhttp::llhttp.
#
# 1. A system libllhttp (pkg-config llhttp, or libllhttp + llhttp.h on the default paths).
# 2. Otherwise Debian's node-llhttp package, which ships llhttp as C sources
#    (/usr/share/llhttp/{llhttp,api,http}.c and /usr/share/include/llhttp/llhttp.h):
#    those are compiled here into a static library.
# Neither: a FATAL_ERROR that names the package to install.

set(LLHTTP_SOURCE_DIR "/usr/share/llhttp" CACHE PATH "Directory with llhttp's C sources (node-llhttp)")
set(LLHTTP_SOURCE_INCLUDE_DIR "/usr/share/include/llhttp" CACHE PATH "Directory with llhttp.h for the C sources")

if(TARGET llhttp::llhttp)
  set(LLHTTP_FOUND TRUE)
  return()
endif()

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_LLHTTP QUIET IMPORTED_TARGET llhttp)
endif()

if(PC_LLHTTP_FOUND)
  add_library(llhttp::llhttp ALIAS PkgConfig::PC_LLHTTP)
  set(LLHTTP_VERSION ${PC_LLHTTP_VERSION})
  set(LLHTTP_KIND "system library (pkg-config)")
else()
  find_library(LLHTTP_LIBRARY NAMES llhttp)
  find_path(LLHTTP_INCLUDE_DIR NAMES llhttp.h)
  if(LLHTTP_LIBRARY AND LLHTTP_INCLUDE_DIR)
    add_library(llhttp::llhttp UNKNOWN IMPORTED)
    set_target_properties(llhttp::llhttp PROPERTIES
      IMPORTED_LOCATION "${LLHTTP_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${LLHTTP_INCLUDE_DIR}")
    set(LLHTTP_KIND "system library ${LLHTTP_LIBRARY}")
  elseif(EXISTS "${LLHTTP_SOURCE_DIR}/llhttp.c" AND EXISTS "${LLHTTP_SOURCE_DIR}/api.c"
         AND EXISTS "${LLHTTP_SOURCE_DIR}/http.c" AND EXISTS "${LLHTTP_SOURCE_INCLUDE_DIR}/llhttp.h")
    add_library(journey_llhttp STATIC
      "${LLHTTP_SOURCE_DIR}/llhttp.c" "${LLHTTP_SOURCE_DIR}/api.c" "${LLHTTP_SOURCE_DIR}/http.c")
    target_include_directories(journey_llhttp SYSTEM PUBLIC "${LLHTTP_SOURCE_INCLUDE_DIR}")
    # Generated code: not ours to warn about (and -Werror must not trip on it).
    target_compile_options(journey_llhttp PRIVATE -w)
    set_target_properties(journey_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)
    add_library(llhttp::llhttp ALIAS journey_llhttp)
    set(LLHTTP_KIND "compiled from node-llhttp sources in ${LLHTTP_SOURCE_DIR}")
  endif()
endif()

if(TARGET llhttp::llhttp)
  set(LLHTTP_FOUND TRUE)
  message(STATUS "llhttp: ${LLHTTP_KIND}")
else()
  set(LLHTTP_FOUND FALSE)
  if(LLHTTP_FIND_REQUIRED)
    message(FATAL_ERROR
      "llhttp not found: neither a system libllhttp (pkg-config llhttp) nor the C sources in "
      "${LLHTTP_SOURCE_DIR}. On Debian/Ubuntu install the package 'node-llhttp' "
      "(sudo apt-get install node-llhttp), or run 'make deps' (scripts/install-deps.sh).")
  endif()
endif()
