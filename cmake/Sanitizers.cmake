# ASan + UBSan for the whole build (library, binary and tests), no recovery:
# the first finding fails the run.
if(WAL2EDGE_SANITIZE)
  set(WAL2EDGE_SAN_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
  add_compile_options(${WAL2EDGE_SAN_FLAGS})
  add_link_options(${WAL2EDGE_SAN_FLAGS})
endif()
