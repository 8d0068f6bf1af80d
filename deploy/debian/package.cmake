# Installation layout and the Debian package (CPack DEB). Included once from the top-level
# CMakeLists.txt; `make package` (cd build && cpack -G DEB) writes journey_VERSION_amd64.deb.
#
#   /usr/bin/journey, /usr/bin/journey-backend, /usr/bin/journey-lb (man section 8: a daemon)
#   /etc/journey/lb.conf                     conffile: the LB's configuration (dpkg keeps your edits)
#   /usr/lib/systemd/system/journey-lb.service, journey-backend.service
#   /usr/share/man/man1/journey.1.gz, journey-backend.1.gz, /usr/share/man/man8/journey-lb.8.gz
#   /usr/share/journey/make-certs.sh         the development-certificate script (docker, first boot)
#   /usr/share/doc/journey/                  README, OPERATIONS, copyright, changelog.gz
# postinst creates the system user journey-lb and, when /etc/journey/tls has no certificate, a
# self-signed one so that the unit starts before the real one (Let's Encrypt) is in place.

set(JOURNEY_DEB_DIR ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(JOURNEY_DEPLOY_DIR ${JOURNEY_DEB_DIR} DIRECTORY)
get_filename_component(JOURNEY_TOP_DIR ${JOURNEY_DEPLOY_DIR} DIRECTORY)

# Programs: each part brings its target, and may bring its own install() rule (backend/ does);
# the ones without get theirs here. All three in /usr/bin (lb/ installs journey-lb there).
function(journey_install_program target dir destination)
  if(NOT TARGET ${target})
    return()
  endif()
  file(READ ${JOURNEY_TOP_DIR}/${dir}/CMakeLists.txt part_cmake)
  if(NOT part_cmake MATCHES "install\\(TARGETS[ \t\n]+${target}[ \t\n)]")
    install(TARGETS ${target} RUNTIME DESTINATION ${destination})
  endif()
endfunction()
journey_install_program(journey client ${CMAKE_INSTALL_BINDIR})
journey_install_program(journey-backend backend ${CMAKE_INSTALL_BINDIR})
journey_install_program(journey-lb lb ${CMAKE_INSTALL_BINDIR})

# Man pages, gzip -9n (no timestamp: reproducible, what lintian asks for).
find_program(JOURNEY_GZIP gzip REQUIRED)
set(journey_man_pages journey.1 journey-backend.1 journey-lb.8)
set(journey_man_outputs)
foreach(page ${journey_man_pages})
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  set(out ${CMAKE_BINARY_DIR}/man/${page}.gz)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND ${JOURNEY_GZIP} -9n -c ${JOURNEY_TOP_DIR}/man/${page} > ${out}
    DEPENDS ${JOURNEY_TOP_DIR}/man/${page}
    COMMENT "gzip man page ${page}" VERBATIM)
  list(APPEND journey_man_outputs ${out})
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(journey_man ALL DEPENDS ${journey_man_outputs})

# The Debian changelog (a native package: /usr/share/doc/journey/changelog.gz). Its newest entry
# must name this version, or `dpkg -l` and the changelog would disagree.
file(STRINGS ${JOURNEY_DEB_DIR}/changelog journey_changelog_head LIMIT_COUNT 1)
if(NOT journey_changelog_head MATCHES "^journey \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "deploy/debian/changelog: the newest entry is '${journey_changelog_head}', "
    "expected version ${PROJECT_VERSION} (project() in CMakeLists.txt): add an entry for it")
endif()
set(journey_changelog_gz ${CMAKE_BINARY_DIR}/changelog.gz)
add_custom_command(OUTPUT ${journey_changelog_gz}
  COMMAND ${JOURNEY_GZIP} -9n -c ${JOURNEY_DEB_DIR}/changelog > ${journey_changelog_gz}
  DEPENDS ${JOURNEY_DEB_DIR}/changelog COMMENT "gzip the Debian changelog" VERBATIM)
add_custom_target(journey_changelog ALL DEPENDS ${journey_changelog_gz})
install(FILES ${journey_changelog_gz} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Absolute: /etc whatever the prefix (GNUInstallDirs would give /usr/local/etc for /usr/local).
install(FILES ${JOURNEY_DEB_DIR}/lb.conf DESTINATION /etc/journey)
install(FILES ${JOURNEY_DEPLOY_DIR}/systemd/journey-lb.service ${JOURNEY_DEPLOY_DIR}/systemd/journey-backend.service
  DESTINATION lib/systemd/system)
install(PROGRAMS ${JOURNEY_TOP_DIR}/certs/make-certs.sh DESTINATION ${CMAKE_INSTALL_DATADIR}/journey)
install(FILES ${JOURNEY_TOP_DIR}/README.md ${JOURNEY_DEB_DIR}/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
if(EXISTS ${JOURNEY_TOP_DIR}/lb/journey-lb.conf) # every setting, commented: a reference next to lb.conf
  install(FILES ${JOURNEY_TOP_DIR}/lb/journey-lb.conf DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
endif()
if(EXISTS ${JOURNEY_TOP_DIR}/docs/OPERATIONS.md)
  install(FILES ${JOURNEY_TOP_DIR}/docs/OPERATIONS.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
endif()

# --- CPack DEB ------------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME journey)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "journey maintainers <journey@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "HTTPS request-journey client, TLS-terminating L7 load balancer and backend")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # journey_0.1.0_amd64.deb
set(CPACK_STRIP_FILES ON)           # RelWithDebInfo binaries, stripped in the package
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/journey/journey")
# Extended description only: CPack puts the summary above it and indents every line.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "journey follows one HTTPS request from the client to the backend and shows
every phase with real data: DNS, route and ARP, TCP, TLS, HTTP.

journey-lb is a TLS-terminating HTTP/1.1 load balancer (libuv, OpenSSL,
llhttp) with health checks, round-robin and least-connections, DNS discovery,
and every protocol phase timed in its logs and in Server-Timing.
journey-backend is the demo HTTP server it balances across.")
# Runtime Depends from the binaries' own NEEDED entries (dpkg-shlibdeps), plus what the
# maintainer scripts and the certificate script run.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, openssl")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "certbot")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${JOURNEY_DEB_DIR}/conffiles ${JOURNEY_DEB_DIR}/postinst ${JOURNEY_DEB_DIR}/prerm ${JOURNEY_DEB_DIR}/postrm)
include(CPack)
