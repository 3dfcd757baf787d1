# aegis_warnings: an interface target carrying the warning flags; linked
# privately so they apply to our code only. AEGIS_WERROR (CI) makes them errors.
add_library(aegis_warnings INTERFACE)
target_compile_options(aegis_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual
  $<$<BOOL:${AEGIS_WERROR}>:-Werror>)
