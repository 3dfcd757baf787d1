# aegis_warnings: an interface target carrying the warning flags; linked
# privately so they apply to our code only. AEGIS_WERROR (CI) makes them errors.
add_library(aegis_warnings INTERFACE)
target_compile_options(aegis_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual
  $<$<BOOL:${AEGIS_WERROR}>:-Werror>)
# GCC 12 at -O3 reports -Wrestrict inside libstdc++ for `"literal" + std::string`
# (GCC PR 105329, a false positive fixed in GCC 13); with -Werror it breaks
# Release builds of correct code, so it is off for GCC 12 only.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(aegis_warnings INTERFACE -Wno-restrict)
endif()
