# Embeds every cl/*.cl into the binary (C has no raw strings: byte arrays), and,
# where clang and llvm-spirv are found, its SPIR-V 1.0 module too.
file(GLOB CLGRAPH_CL_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/cl/*.cl)
list(SORT CLGRAPH_CL_FILES)

set(CLGRAPH_HAVE_SPIRV OFF)
if(CLGRAPH_SPIRV)
  find_program(CLGRAPH_CLANG NAMES clang-14 clang)
  find_program(CLGRAPH_LLVM_SPIRV NAMES llvm-spirv-14 llvm-spirv)
  if(CLGRAPH_CLANG AND CLGRAPH_LLVM_SPIRV)
    set(CLGRAPH_HAVE_SPIRV ON)
  endif()
endif()
message(STATUS "clgraph: SPIR-V kernels ${CLGRAPH_HAVE_SPIRV}")

set(CLGRAPH_SPV_FILES "")
set(gen ${PROJECT_BINARY_DIR}/kernels)
file(MAKE_DIRECTORY ${gen})
foreach(cl ${CLGRAPH_CL_FILES})
  get_filename_component(name ${cl} NAME_WE)
  if(CLGRAPH_HAVE_SPIRV)
    add_custom_command(
      OUTPUT ${gen}/${name}.spv
      COMMAND ${CLGRAPH_CLANG} -cl-std=CL1.2 -target spir64 -O2 -emit-llvm -c
              -Xclang -finclude-default-header -Werror ${cl} -o ${gen}/${name}.bc
      COMMAND ${CLGRAPH_LLVM_SPIRV} --spirv-max-version=1.0 ${gen}/${name}.bc -o ${gen}/${name}.spv
      DEPENDS ${cl}
      COMMENT "SPIR-V ${name}.cl"
      VERBATIM)
    list(APPEND CLGRAPH_SPV_FILES ${gen}/${name}.spv)
  endif()
endforeach()

set(CLGRAPH_KERNELS_C ${gen}/embedded_kernels.c)
add_custom_command(
  OUTPUT ${CLGRAPH_KERNELS_C}
  COMMAND ${CMAKE_COMMAND} -DOUT=${CLGRAPH_KERNELS_C} -DSPV_DIR=${gen}
          -DHAVE_SPIRV=${CLGRAPH_HAVE_SPIRV} "-DFILES=${CLGRAPH_CL_FILES}"
          -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
  DEPENDS ${CLGRAPH_CL_FILES} ${CLGRAPH_SPV_FILES} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
  COMMENT "Embedding OpenCL kernels"
  VERBATIM)
