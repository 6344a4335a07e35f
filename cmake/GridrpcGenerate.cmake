# gridrpc_generate(<target> PROTOS <files...> [IMPORT_DIRS <dirs...>] [PROTO_ROOT <dir>])
#
# Creates a static library <target> from annotated .proto files: protobuf's C++ messages plus
# gridrpc's proxies, server bases and method tables (<name>.gridrpc.h). PROTOS are relative to
# PROTO_ROOT (default: the current source dir); generated files land under the current binary dir
# with the same relative paths. Include "<path>/<name>.gridrpc.h".
#
# Link <target> and the runtime the program uses, as gRPC programs link grpc++: gridrpc::client
# for a program that calls services, gridrpc::member_main (or gridrpc::server) for a member. A
# client program then links no member, etcd or migration code.
#
# Example:
#   gridrpc_generate(counter_contract PROTOS counter.proto)
#   add_executable(my_member member.cc)
#   target_link_libraries(my_member PRIVATE counter_contract gridrpc::member_main)
#   add_executable(my_client client.cc)
#   target_link_libraries(my_client PRIVATE counter_contract gridrpc::client)
function(gridrpc_generate target)
  cmake_parse_arguments(ARG "" "PROTO_ROOT" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT ARG_PROTOS)
    message(FATAL_ERROR "gridrpc_generate(${target}): PROTOS is empty")
  endif()
  if(NOT ARG_PROTO_ROOT)
    set(ARG_PROTO_ROOT ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${target}_gen)
  set(include_args -I${ARG_PROTO_ROOT} -I${GRIDRPC_PROTO_DIR})
  foreach(dir IN LISTS ARG_IMPORT_DIRS)
    list(APPEND include_args -I${dir})
  endforeach()
  # protobuf's own imports (google/protobuf/empty.proto, ...), wherever find_package found it.
  list(APPEND include_args
       "-I$<JOIN:$<TARGET_PROPERTY:protobuf::libprotobuf,INTERFACE_INCLUDE_DIRECTORIES>,$<SEMICOLON>-I>")

  set(sources)
  foreach(proto IN LISTS ARG_PROTOS)
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(generated_sources ${out_dir}/${stem}.pb.cc ${out_dir}/${stem}.gridrpc.cc
                          ${out_dir}/${stem}.gridrpc_proxy.cc ${out_dir}/${stem}.gridrpc_service.cc)
    add_custom_command(
      OUTPUT ${out_dir}/${stem}.pb.h ${out_dir}/${stem}.gridrpc.h ${generated_sources}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND protobuf::protoc ${include_args}
              --cpp_out=${out_dir}
              --plugin=protoc-gen-gridrpc=$<TARGET_FILE:gridrpc::protoc-gen-gridrpc>
              --gridrpc_out=${out_dir}
              ${proto}
      WORKING_DIRECTORY ${ARG_PROTO_ROOT}
      DEPENDS ${ARG_PROTO_ROOT}/${proto} gridrpc::protoc-gen-gridrpc protobuf::protoc
      COMMENT "gridrpc: generating ${proto}"
      COMMAND_EXPAND_LISTS
      VERBATIM)
    list(APPEND sources ${generated_sources})
  endforeach()

  add_library(${target} STATIC ${sources})
  target_include_directories(${target} PUBLIC ${out_dir})
  target_link_libraries(${target} PUBLIC gridrpc::contract_support)
endfunction()
