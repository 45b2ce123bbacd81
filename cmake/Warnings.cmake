# One warning list for gcc and clang, filtered by what the compiler accepts. -Werror only
# with WAL2EDGE_WERROR (on in every preset and so in CI): a plain build with a newer or older
# compiler than CI's must not fail on a warning CI never saw.
include(CheckCCompilerFlag)

set(WAL2EDGE_WARNING_CANDIDATES
    -Wall -Wextra
    -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes -Wold-style-definition
    -Wvla -Wwrite-strings -Wshadow -Wimplicit-fallthrough -Wpointer-arith
    -Wundef -Wnull-dereference -Wdouble-promotion
    -Wduplicated-cond -Wduplicated-branches -Wlogical-op)

set(WAL2EDGE_WARNINGS "")
if(WAL2EDGE_WERROR)
  list(APPEND WAL2EDGE_WARNING_CANDIDATES -Werror)
endif()
foreach(flag IN LISTS WAL2EDGE_WARNING_CANDIDATES)
  string(MAKE_C_IDENTIFIER "HAVE_C${flag}" var)
  check_c_compiler_flag(${flag} ${var})
  if(${var})
    list(APPEND WAL2EDGE_WARNINGS ${flag})
  endif()
endforeach()

function(wal2edge_warnings target)
  target_compile_options(${target} PRIVATE ${WAL2EDGE_WARNINGS})
endfunction()
