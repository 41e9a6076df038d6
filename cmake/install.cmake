# Install rules, included at the end of the top-level CMakeLists.txt. `cmake --install BUILD
# [--prefix DIR]` puts in place:
#   include/clgraph/*.h                          the public headers
#   lib/libclgraph_runtime.a, libclgraph_llm.a   the libraries (kernels embedded)
#   bin/clgraph                                  the CLI
#   lib/cmake/clgraph/                           find_package(clgraph): clgraph::runtime,
#                                                clgraph::llm (OpenCL, Threads, m; + CLBlast)
#   lib/pkgconfig/clgraph-runtime.pc, clgraph.pc pkg-config (clgraph = the LLM library)
# Both packages are relocatable: they find the prefix from their own location.
# test/install checks all of it from a scratch prefix.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CLGRAPH_INSTALL_TARGETS clgraph_runtime clgraph_llm)
set_target_properties(clgraph_runtime PROPERTIES EXPORT_NAME runtime)
set_target_properties(clgraph_llm PROPERTIES EXPORT_NAME llm)
# The same names for a project that adds this tree with add_subdirectory / FetchContent.
add_library(clgraph::runtime ALIAS clgraph_runtime)
add_library(clgraph::llm ALIAS clgraph_llm)

# Include folders given as source-tree paths hold in the build tree only; installed, the
# targets use <prefix>/include (INCLUDES DESTINATION below).
foreach(t ${CLGRAPH_INSTALL_TARGETS})
  get_target_property(dirs ${t} INTERFACE_INCLUDE_DIRECTORIES)
  if(dirs)
    set(build_dirs "")
    foreach(d ${dirs})
      if(IS_ABSOLUTE "${d}")
        list(APPEND build_dirs "$<BUILD_INTERFACE:${d}>")
      else()
        list(APPEND build_dirs "${d}")
      endif()
    endforeach()
    set_target_properties(${t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${build_dirs}")
  endif()
endforeach()

install(TARGETS ${CLGRAPH_INSTALL_TARGETS} EXPORT clgraphTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS clgraph RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/clgraph
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")

# ---- CMake package: find_package(clgraph) ----
set(CLGRAPH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/clgraph)
install(EXPORT clgraphTargets NAMESPACE clgraph:: DESTINATION ${CLGRAPH_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/clgraphConfig.cmake.in
    ${PROJECT_BINARY_DIR}/clgraphConfig.cmake INSTALL_DESTINATION ${CLGRAPH_CMAKE_DIR})
# 0.x: the interface may change with every minor version.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/clgraphConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/clgraphConfig.cmake
              ${PROJECT_BINARY_DIR}/clgraphConfigVersion.cmake
        DESTINATION ${CLGRAPH_CMAKE_DIR})

# ---- pkg-config: clgraph-runtime.pc, clgraph.pc ----
# prefix relative to the .pc file, so that `cmake --install --prefix` anywhere works.
set(CLGRAPH_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH CLGRAPH_PC_PREFIX_REL /prefix/${CLGRAPH_PC_DIR} /prefix)
string(REGEX REPLACE "/$" "" CLGRAPH_PC_PREFIX_REL "${CLGRAPH_PC_PREFIX_REL}")
foreach(pc clgraph-runtime clgraph)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${CLGRAPH_PC_DIR})
endforeach()
