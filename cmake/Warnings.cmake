# SPDX-License-Identifier: MIT
# Picky warnings for our own targets (third-party headers come in as system includes).
set(INBOXQ_WARNINGS
    -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wundef -Wvla
    -Wnull-dereference -Wdouble-promotion -Wimplicit-fallthrough)
if(INBOXQ_WERROR)
  list(APPEND INBOXQ_WARNINGS -Werror)
endif()

function(inboxq_target_warnings target)
  target_compile_options(${target} PRIVATE ${INBOXQ_WARNINGS})
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
endfunction()
