# `cmake --install` of gridrpc: libraries, headers, the protoc plugin, the contract options and a
# CMake package, so that a project uses an installed gridrpc with
#   find_package(gridrpc CONFIG REQUIRED)
#   gridrpc_generate(...)   # as with add_subdirectory()
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(GRIDRPC_INSTALL_TARGETS
  gridrpc_protos gridrpc_peer_protos gridrpc_etcd_protos gridrpc_core gridrpc_client
  gridrpc_server gridrpc_member_main gridrpc_client_aspects gridrpc_server_aspects
  gridrpc_interceptors gridrpc_contract_support protoc-gen-gridrpc)
foreach(target IN LISTS GRIDRPC_INSTALL_TARGETS)
  string(REGEX REPLACE "^gridrpc_" "" export_name ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
endforeach()

install(TARGETS ${GRIDRPC_INSTALL_TARGETS} EXPORT gridrpcTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY core/include/ client/include/ server/include/ server/main/include/
                  interceptors/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# What public headers include of the generated protos, and the contract options users import.
install(FILES ${PROJECT_BINARY_DIR}/proto/gridrpc/options.pb.h
              ${PROJECT_BINARY_DIR}/proto/gridrpc/cluster.pb.h
              ${PROJECT_BINARY_DIR}/proto/gridrpc/cluster.grpc.pb.h
              proto/gridrpc/options.proto proto/gridrpc/cluster.proto
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/gridrpc)

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/gridrpc)
install(EXPORT gridrpcTargets NAMESPACE gridrpc:: DESTINATION ${config_dir})
configure_package_config_file(cmake/gridrpcConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/gridrpcConfig.cmake
                              INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/gridrpcConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/gridrpcConfig.cmake
              ${PROJECT_BINARY_DIR}/gridrpcConfigVersion.cmake cmake/GridrpcGenerate.cmake
        DESTINATION ${config_dir})
