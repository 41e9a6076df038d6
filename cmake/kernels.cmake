# Kernel files are embedded into the library that uses them (C has no raw strings: byte
# arrays), and, where clang and llvm-spirv are found, their SPIR-V 1.0 modules too:
#   clgraph_runtime: cl/probe.cl (the bandwidth and launch probe)
#   clgraph_llm:     every other cl/*.cl (the model's op families)
file(GLOB CLGRAPH_CL_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/cl/*.cl)
list(SORT CLGRAPH_CL_FILES)
set(CLGRAPH_RUNTIME_CL_FILES ${PROJECT_SOURCE_DIR}/cl/probe.cl)
set(CLGRAPH_LLM_CL_FILES ${CLGRAPH_CL_FILES})
list(REMOVE_ITEM CLGRAPH_LLM_CL_FILES ${CLGRAPH_RUNTIME_CL_FILES})

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

# clgraph_embed_kernels(OUT_VAR SYMBOL files...): a generated C file defining
# `const clg_kernel_file SYMBOL[]` (clgraph/runtime.h) for the files; its path in OUT_VAR.
function(clgraph_embed_kernels out_var symbol)
  set(files ${ARGN})
  set(out ${gen}/${symbol}.c)
  set(spv "")
  foreach(cl ${files})
    get_filename_component(name ${cl} NAME_WE)
    if(CLGRAPH_HAVE_SPIRV)
      list(APPEND spv ${gen}/${name}.spv)
    endif()
  endforeach()
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DSYMBOL=${symbol} -DSPV_DIR=${gen}
            -DHAVE_SPIRV=${CLGRAPH_HAVE_SPIRV} "-DFILES=${files}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${files} ${spv} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "Embedding OpenCL kernels (${symbol})"
    VERBATIM)
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()

clgraph_embed_kernels(CLGRAPH_RUNTIME_KERNELS_C clg_runtime_kernels ${CLGRAPH_RUNTIME_CL_FILES})
clgraph_embed_kernels(CLGRAPH_LLM_KERNELS_C llm_embedded_kernels ${CLGRAPH_LLM_CL_FILES})
