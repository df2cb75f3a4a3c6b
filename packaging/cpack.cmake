# The .deb: `cpack --config build/release/CPackConfig.cmake` (or `cmake --build build/release
# --target package`) after a Release build; tests/scripts/deb_package.sh installs and removes it.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tcpnetlock)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "tcpnetlock authors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "lock server where a lock lives as long as its TCP connection")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)

set(TNL_DEB_MAINTAINER "tcpnetlock authors <tcpnetlock@localhost>" CACHE STRING
    "The .deb's Maintainer field")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TNL_DEB_MAINTAINER}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the libraries the programs link (dpkg-shlibdeps): libfmt9, libspdlog1.10,
# libsqlite3-0, libcurl4, libsystemd0, ... (spdlog's package is libspdlog1.10-fmt9)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The body under the summary line; CPack indents it and turns the empty line into " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"tcpnetlock_server grants named locks over TCP: a client holds its lock for exactly
as long as its connection stays open, so a holder that exits, crashes or is killed
frees it at once. Detached locks with a TTL, fencing tokens, semaphores, server-side
waiting, an HTTP admin API, Prometheus metrics and a status page.

tcpnetlock_do runs a command while holding a lock; tcpnetlock_client takes, holds
or releases one; tcpnetlock_admin manages them over HTTP. The systemd unit
tcpnetlock-server.service is installed but neither enabled nor started.")
# No conffiles. The maintainer scripts start and restart nothing (a restart would drop
# every connection's lock): postinst and postrm reload systemd's unit files, prerm stops
# the service when the package is removed, postrm purge deletes the state directory.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/prerm
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
