# webhook/<module>/ folders as static libraries with the dependencies of cmake/layering.txt.
#
# Sources include headers as "webhook/<name>.hpp" whatever the module. Each module's headers are
# linked into ${CMAKE_BINARY_DIR}/include/<module>/webhook/, and that directory is the module's
# only public include directory: a module sees its own headers, those of the modules it links
# (and, through them, theirs), and nothing else.

include(${CMAKE_CURRENT_LIST_DIR}/layering.cmake)

# exportgate_module(<name> [EXTERNAL libs...]): the library exportgate_<name> from
# webhook/<name>/*.cpp (main.cpp excluded: it is the executable's).
function(exportgate_module name)
  cmake_parse_arguments(ARG "" "" "EXTERNAL" ${ARGN})
  set(dir ${CMAKE_SOURCE_DIR}/webhook/${name})
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.cpp)
  list(REMOVE_ITEM sources ${dir}/main.cpp)
  file(GLOB headers CONFIGURE_DEPENDS ${dir}/*.hpp)
  set(include_dir ${CMAKE_BINARY_DIR}/include/${name})
  file(REMOVE_RECURSE ${include_dir})
  file(MAKE_DIRECTORY ${include_dir}/webhook)
  foreach(header IN LISTS headers)
    get_filename_component(file ${header} NAME)
    file(CREATE_LINK ${header} ${include_dir}/webhook/${file} SYMBOLIC)
  endforeach()
  add_library(exportgate_${name} STATIC ${sources})
  set_target_properties(exportgate_${name} PROPERTIES UNITY_BUILD ${EXPORTGATE_UNITY_BUILD})
  target_include_directories(exportgate_${name} PUBLIC ${include_dir})
  set(deps "")
  foreach(dep IN LISTS EXPORTGATE_DEPS_${name})
    list(APPEND deps exportgate_${dep})
  endforeach()
  target_link_libraries(exportgate_${name} PUBLIC ${deps} ${ARG_EXTERNAL})
endfunction()
