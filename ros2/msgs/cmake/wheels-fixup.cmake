# Injected by scripts/ros2-msgs.sh with -DCMAKE_PROJECT_INCLUDE=... (right after project()).
# The PyPI ROS 2 wheels' exported CMake targets (e.g. trajectory_msgs::trajectory_msgs__rosidl_generator_py) carry
# include directories of the machine that built the wheels (/opt/python/cp311-cp311/include/python3.11, manylinux),
# which CMake rejects at generate time ("includes non-existent path"). At the end of the directory, drop every
# absolute include directory of an imported target that does not exist here: Python's own headers come from
# Python3::Module anyway. Harmless with a regular ROS install (nothing to drop).
function(_openpi_drop_missing_imported_includes)
  get_directory_property(_targets IMPORTED_TARGETS)
  foreach(_t IN LISTS _targets)
    get_target_property(_inc ${_t} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _inc)
      continue()
    endif()
    set(_keep "")
    set(_dropped FALSE)
    foreach(_d IN LISTS _inc)
      if(IS_ABSOLUTE "${_d}" AND NOT _d MATCHES "\\$<" AND NOT EXISTS "${_d}")
        set(_dropped TRUE)
      else()
        list(APPEND _keep "${_d}")
      endif()
    endforeach()
    if(_dropped)
      set_target_properties(${_t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_keep}")
    endif()
  endforeach()
endfunction()
cmake_language(DEFER CALL _openpi_drop_missing_imported_includes)
