# What `cmake --install` puts where (GNUInstallDirs; prefix /usr gives /usr/bin, /etc, ...):
#   bin/wal2edge
#   <unit dir>/wal2edge.service          systemd unit (ExecStart, config path filled in here)
#   share/doc/wal2edge/                  README, the user docs (not docs/internals), examples/:
#     wal2edge.jsonc, wal2edge.env, mappings/*.jsonc  - copy them to <sysconfdir>/wal2edge/
# Configs are never installed into <sysconfdir> itself: a reinstall must not overwrite them.
set(WAL2EDGE_CONF_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/wal2edge")
set(WAL2EDGE_BIN_PATH "${CMAKE_INSTALL_FULL_BINDIR}/wal2edge")
configure_file("${PROJECT_SOURCE_DIR}/packaging/systemd/wal2edge.service.in"
               "${PROJECT_BINARY_DIR}/packaging/wal2edge.service" @ONLY)

install(TARGETS wal2edge RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(FILES "${PROJECT_BINARY_DIR}/packaging/wal2edge.service"
        DESTINATION "${WAL2EDGE_SYSTEMD_UNIT_DIR}")
install(FILES README.md DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(DIRECTORY docs/ DESTINATION "${CMAKE_INSTALL_DOCDIR}"
        FILES_MATCHING PATTERN "*.md" PATTERN "internals" EXCLUDE)
install(FILES packaging/wal2edge.jsonc packaging/wal2edge.env
        DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")
install(DIRECTORY mappings/ DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples/mappings"
        FILES_MATCHING PATTERN "*.jsonc")
