# exportgate_layering_table(<table_file> <out_modules>): reads the dependency table
# (cmake/layering.txt); sets <out_modules> to the module names in order and
# EXPORTGATE_DEPS_<module> to each one's direct dependencies. Used by the build
# (cmake/modules.cmake) and by the layering test (cmake/check_layering.cmake).
function(exportgate_layering_table table_file out_modules)
  file(STRINGS ${table_file} lines REGEX "^[a-z]+:")
  set(modules "")
  foreach(line IN LISTS lines)
    string(REGEX MATCH "^([a-z]+):(.*)$" _ "${line}")
    set(name ${CMAKE_MATCH_1})
    string(STRIP "${CMAKE_MATCH_2}" deps)
    separate_arguments(deps UNIX_COMMAND "${deps}")
    list(APPEND modules ${name})
    set(EXPORTGATE_DEPS_${name} "${deps}" PARENT_SCOPE)
  endforeach()
  set(${out_modules} "${modules}" PARENT_SCOPE)
endfunction()
